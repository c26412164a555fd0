//! The journal lock: `journal.lock` in the journal directory, held with `flock` by the
//! one process that writes the journal (capture, import, repair).
//!
//! The lock file is opened without following symlinks and without blocking, and anything
//! but a regular file is refused: a symlink planted as `journal.lock` must not make
//! nightcap truncate the file it points at, and a FIFO must not hang every command.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::JournalError;
use super::format::LOCK_FILE;

/// Opens `dir/journal.lock` (creating it when `create`): no symlink followed, never
/// blocking, regular files only. `Ok(None)` when it does not exist and `create` is false.
fn open(dir: &Path, create: bool) -> Result<Option<File>, JournalError> {
    let path = dir.join(LOCK_FILE);
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let opened = OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .truncate(false)
        .custom_flags(flags.bits() as i32)
        .open(&path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // ELOOP: the lock file is a symlink.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(not_regular(&path, "a symbolic link"))
        }
        Err(e) => return Err(JournalError::io("opening lock", &path)(e)),
    };
    let meta = file
        .metadata()
        .map_err(JournalError::io("opening lock", &path))?;
    if !meta.is_file() {
        return Err(not_regular(&path, "not a regular file"));
    }
    Ok(Some(file))
}

fn not_regular(path: &Path, what: &str) -> JournalError {
    JournalError::io("opening lock", path)(std::io::Error::other(format!(
        "{what}; nightcap only uses a regular file there (remove it and try again)"
    )))
}

/// The journal lock, held until dropped: the one way capture, import and repair keep
/// other writers out of a journal (see the module docs).
#[derive(Debug)]
pub struct JournalLock {
    _file: File,
}

impl JournalLock {
    /// Takes the lock of the journal in `dir` (exclusive, not waiting) and writes our pid
    /// into it; [`JournalError::Locked`] naming the holder if another process has it.
    pub fn take(dir: &Path) -> Result<JournalLock, JournalError> {
        take(dir).map(|file| JournalLock { _file: file })
    }
}

/// Takes the lock for writing (exclusive, not waiting) and writes our pid into it.
fn take(dir: &Path) -> Result<File, JournalError> {
    let mut file = open(dir, true)?.expect("created");
    if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(held(dir, &mut file));
    }
    // The pid is informative (it names the holder in the "in use" message): on a full
    // disk it cannot be written, and that must not stop the writer, which then reports
    // the full disk itself when it needs a segment (or frees space by retention).
    if file.set_len(0).is_ok() {
        let _ = write!(file, "{}", std::process::id());
    }
    Ok(file)
}

/// Checks, without creating or changing anything, that no other process holds the lock.
pub fn check_free(dir: &Path) -> Result<(), JournalError> {
    let Some(mut file) = open(dir, false)? else {
        return Ok(());
    };
    if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared).is_err() {
        return Err(held(dir, &mut file));
    }
    Ok(())
}

fn held(dir: &Path, file: &mut File) -> JournalError {
    let mut text = String::new();
    let _ = file.take(64).read_to_string(&mut text);
    JournalError::Locked {
        dir: dir.to_path_buf(),
        pid: text.trim().parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_lock_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious.txt");
        std::fs::write(&target, b"keep me").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).unwrap();
        let e = take(dir.path()).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(check_free(dir.path()).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    }

    #[test]
    fn a_fifo_lock_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(LOCK_FILE);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = take(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(check_free(dir.path()).is_err());
    }

    #[test]
    fn a_held_lock_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _held = take(dir.path()).unwrap();
        let e = take(dir.path()).unwrap_err();
        assert!(
            matches!(e, JournalError::Locked { pid: Some(p), .. } if p == std::process::id()),
            "{e}"
        );
        assert!(check_free(dir.path()).is_err());
    }
}
