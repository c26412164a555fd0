//! Keeping a folder of live stacks within a byte budget, so weeks of unattended nights
//! cannot fill the card: the oldest stacks are deleted first.
//!
//! Owns which files count and which go. A file counts only when its name is one the live
//! stacker writes: the prefix, a 14-digit stamp (`%Y%m%d%H%M%S`), an optional `-N` (a
//! name taken twice), and an image extension: `img20260812213000.jpg`,
//! `img20260812213000-2.jpg`. Nothing else in the folder is ever touched, whatever its
//! size.
//!
//! Promises:
//! - after [`prune`], the counted files fit the budget, or only the newest one is left
//!   (the newest is never deleted, even when it alone is larger);
//! - files go oldest first by stamp, then by `-N`;
//! - symlinks and anything that is not a regular file are neither counted nor deleted.

use std::path::{Path, PathBuf};

/// Image extensions a live stack can have.
const EXTENSIONS: [&str; 5] = ["jpg", "png", "tif", "tiff", "fits"];

/// What [`prune`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Files deleted, oldest first.
    pub deleted: Vec<PathBuf>,
    /// Their bytes.
    pub freed: u64,
    /// Bytes of the counted files left.
    pub kept: u64,
}

/// The sort key of a live stack's file name (stamp, repeat), if `name` is one with
/// `prefix`.
pub fn live_key(name: &str, prefix: &str) -> Option<(u64, u32)> {
    let rest = name.strip_prefix(prefix)?;
    let (stem, ext) = rest.rsplit_once('.')?;
    if !EXTENSIONS.contains(&ext) {
        return None;
    }
    let (stamp, repeat) = match stem.split_once('-') {
        Some((s, r)) => (s, r.parse::<u32>().ok().filter(|n| *n >= 2)?),
        None => (stem, 1),
    };
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stamp.parse().ok()?, repeat))
}

/// Deletes the oldest live stacks (`prefix` + stamp, see the module docs) in `dir` until
/// those left take at most `budget` bytes.
pub fn prune(dir: &Path, prefix: &str, budget: u64) -> std::io::Result<Pruned> {
    let mut files: Vec<((u64, u32), PathBuf, u64)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(key) = live_key(&name, prefix) else {
            continue;
        };
        let meta = entry.path().symlink_metadata()?;
        if meta.is_file() {
            files.push((key, entry.path(), meta.len()));
        }
    }
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.2).sum();
    let mut out = Pruned::default();
    let newest = files.len().saturating_sub(1);
    for (_, path, len) in files.into_iter().take(newest) {
        if total <= budget {
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                total -= len;
                out.freed += len;
                out.deleted.push(path);
            }
            // Gone already (a user tidying up): nothing to free.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
            Err(e) => return Err(e),
        }
    }
    out.kept = total;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_live_stackers_names_count() {
        assert_eq!(
            live_key("img20260812213000.jpg", "img"),
            Some((20260812213000, 1))
        );
        assert_eq!(
            live_key("img20260812213000-2.jpg", "img"),
            Some((20260812213000, 2))
        );
        for other in [
            "img20260812213000.jpg.json",
            "img2026081221300.jpg",
            "img20260812213000-1.jpg",
            "img20260812213000-x.jpg",
            "imgstacks.ffconcat",
            "trails.jpg",
            "other20260812213000.jpg",
            "img20260812213000.txt",
        ] {
            assert_eq!(live_key(other, "img"), None, "{other}");
        }
    }

    #[test]
    fn the_oldest_go_first_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, len) in [
            ("img20260812213000.jpg", 100),
            ("img20260812213100.jpg", 100),
            ("img20260812213100-2.jpg", 100),
            ("img20260812213200.jpg", 100),
            ("keep.jpg", 10_000),
            ("img20260812213000.jpg.json", 10_000),
        ] {
            std::fs::write(d.join(name), vec![0u8; len]).unwrap();
        }
        std::os::unix::fs::symlink(d.join("keep.jpg"), d.join("img20260812212900.jpg")).unwrap();
        let p = prune(d, "img", 250).unwrap();
        let gone: Vec<String> = p
            .deleted
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(gone, ["img20260812213000.jpg", "img20260812213100.jpg"]);
        assert_eq!((p.freed, p.kept), (200, 200));
        for left in [
            "img20260812213100-2.jpg",
            "img20260812213200.jpg",
            "keep.jpg",
            "img20260812213000.jpg.json",
            "img20260812212900.jpg",
        ] {
            assert!(d.join(left).symlink_metadata().is_ok(), "{left}");
        }
        // The newest stays even when it alone is over the budget.
        let p = prune(d, "img", 0).unwrap();
        assert_eq!(p.kept, 100);
        assert!(d.join("img20260812213200.jpg").exists());
    }
}
