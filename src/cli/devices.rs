//! `nightcap devices`: list the V4L2 cameras, their formats and exposure controls.

use std::path::Path;
use std::process::ExitCode;

use nightcap_source::v4l2::devices::{discover, render};

/// List cameras (V4L2 capture nodes and sensor sub-devices) with their formats, sizes and
/// exposure/gain controls.
#[derive(Debug, clap::Args)]
pub struct DevicesArgs {}

/// Prints the listing. Finding no camera is not an error (exit 0): the message says so.
pub fn run(_args: DevicesArgs) -> anyhow::Result<ExitCode> {
    let (found, failed) = discover(Path::new("/dev"));
    super::ui::out(render(&found, &failed))?;
    Ok(ExitCode::SUCCESS)
}
