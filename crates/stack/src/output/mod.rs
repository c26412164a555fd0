//! Outputs: writing finished images, FITS files, ffmpeg concat lists and videos.
//!
//! Owns every file nightcap writes outside its journal. Promises:
//! - an output appears under its final name only when complete: each file is written to a
//!   hidden temporary name in the same directory, flushed to disk, then renamed
//!   ([`write_atomic`]), so a crash or power cut never leaves half an image;
//! - errors say which file and what failed ([`OutputError`]).
//!
//! [`image`] writes display-rendered JPEG/PNG/TIFF, [`fits`] writes and reads raw 16-bit
//! FITS, [`concat`](mod@concat) writes ffmpeg concat lists and runs ffmpeg, [`time`](nightcap_frame::time) spells UTC
//! timestamps for headers and file names.

pub mod budget;
pub mod concat;
mod exif;
pub mod fits;
pub mod image;
mod jpeg;
pub mod meta;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use self::image::{write_image, write_sidecar, OutputFormat, OutputMeta};
pub use nightcap_frame::time::{utc_dash_stamp, utc_iso};

/// Why an output could not be written (or a FITS file read).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write or read {path}: {source}; check the directory exists, is writable and the disk has room")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot encode {path}: {source}")]
    Encode {
        path: PathBuf,
        source: ::image::ImageError,
    },
    #[error("cannot write {path} as {format}: {reason}")]
    Unsupported {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error(
        "image is not consistent: {width}x{height}x{channels} needs {need} samples, has {got}"
    )]
    Shape {
        width: u32,
        height: u32,
        channels: u8,
        need: u64,
        got: usize,
    },
    #[error("{path} is not a FITS file nightcap can read: {problem}")]
    Fits {
        path: PathBuf,
        problem: fits::FitsProblem,
    },
    #[error("concat list {path}: {problem}")]
    Concat {
        path: PathBuf,
        problem: concat::ConcatProblem,
    },
    #[error("ffmpeg failed ({status}) running `{command}`: {stderr_tail}")]
    Ffmpeg {
        command: String,
        status: String,
        stderr_tail: String,
    },
}

impl From<nightcap_frame::fits::FitsError> for OutputError {
    fn from(e: nightcap_frame::fits::FitsError) -> OutputError {
        use nightcap_frame::fits::FitsError;
        match e {
            FitsError::Io { path, source } => OutputError::Io { path, source },
            FitsError::Fits { path, problem } => OutputError::Fits { path, problem },
        }
    }
}

impl OutputError {
    pub(crate) fn io(path: &Path, source: io::Error) -> OutputError {
        OutputError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Checks that `img` is a usable image: 1 or 3 channels, non-empty, data of the right size.
pub(crate) fn check_shape(img: &nightcap_frame::pixels::Image16) -> Result<(), OutputError> {
    let need = u64::from(img.width) * u64::from(img.height) * u64::from(img.channels);
    let ok = matches!(img.channels, 1 | 3) && need > 0 && need == img.data.len() as u64;
    if ok {
        Ok(())
    } else {
        Err(OutputError::Shape {
            width: img.width,
            height: img.height,
            channels: img.channels,
            need,
            got: img.data.len(),
        })
    }
}

/// The hidden temporary name `path` is written under before the rename.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    // Process id and a counter: concurrent writers (threads or processes) never share one.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

/// Removes, once per directory and process, the temporary files (`.NAME.PID-N.tmp`) that
/// a writer killed mid-write left behind: those whose process no longer runs.
fn clean_stale_temps(dir: &Path) {
    static CLEANED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    {
        let mut done = CLEANED.lock().unwrap_or_else(|e| e.into_inner());
        if done.iter().any(|d| d == dir) {
            return;
        }
        done.push(dir.to_path_buf());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(pid) = stale_temp_pid(name) {
            let alive = Path::new("/proc").join(pid.to_string()).exists();
            if !alive && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The writer's pid in a temporary name `.NAME.PID-N.tmp`, if `name` is one.
fn stale_temp_pid(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tail) = inner.rsplit_once('.')?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Writes a file atomically: `write` fills a buffered temporary file in the same directory,
/// which is flushed, synced and renamed to `path`. On any error the temporary file is
/// removed and `path` is left as it was.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<(), OutputError>,
{
    let tmp = temp_path(path);
    clean_stale_temps(path.parent().unwrap_or(Path::new(".")));
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| OutputError::io(path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| OutputError::io(path, e.into_error()))?;
        // Sync before the rename: otherwise a power cut can leave the final name pointing
        // at an empty file on some file systems.
        file.sync_all().map_err(|e| OutputError::io(path, e))?;
        std::fs::rename(&tmp, path).map_err(|e| OutputError::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically (see [`write_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic(path, |w| {
        w.write_all(bytes).map_err(|e| OutputError::io(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_of_dead_writers_are_cleaned() {
        assert_eq!(stale_temp_pid(".trails.jpg.4242-7.tmp"), Some(4242));
        assert_eq!(stale_temp_pid("trails.jpg"), None);
        assert_eq!(stale_temp_pid(".x.tmp"), None);
        let dir = tempfile::tempdir().unwrap();
        // A pid above the kernel's maximum (4194304) never runs.
        let dead = dir.path().join(".a.jpg.999999999-0.tmp");
        let ours = dir
            .path()
            .join(format!(".b.jpg.{}-0.tmp", std::process::id()));
        std::fs::write(&dead, b"half").unwrap();
        std::fs::write(&ours, b"being written").unwrap();
        write_bytes_atomic(&dir.path().join("c.txt"), b"done").unwrap();
        assert!(!dead.exists(), "a dead writer's temporary file stayed");
        assert!(ours.exists(), "a live writer's temporary file was removed");
    }

    #[test]
    fn failed_write_leaves_no_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err(OutputError::io(&path, io::Error::other("disk full")))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn successful_write_replaces_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"old").unwrap();
        write_bytes_atomic(&path, b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_file() {
        let path = Path::new("/nonexistent-nightcap-dir/x.png");
        match write_bytes_atomic(path, b"x") {
            Err(OutputError::Io { path: p, .. }) => assert_eq!(p, path),
            other => panic!("unexpected {other:?}"),
        }
    }
}
