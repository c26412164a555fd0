//! The V4L2 device nodes under a directory (`/dev`): capture nodes and sub-devices,
//! by name alone (nothing is opened).

use std::path::{Path, PathBuf};

/// `/dev/videoN` and `/dev/v4l-subdevN` nodes under `dev_dir`, each list in numeric order.
pub fn list_nodes(dev_dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut video = Vec::new();
    let mut subdev = Vec::new();
    for entry in std::fs::read_dir(dev_dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let number = |prefix: &str| {
            name.strip_prefix(prefix)
                .and_then(|n| n.parse::<u32>().ok())
        };
        if let Some(n) = number("video") {
            video.push((n, entry.path()));
        } else if let Some(n) = number("v4l-subdev") {
            subdev.push((n, entry.path()));
        }
    }
    video.sort();
    subdev.sort();
    (
        video.into_iter().map(|(_, p)| p).collect(),
        subdev.into_iter().map(|(_, p)| p).collect(),
    )
}
