//! The storage seam: everything the journal writer does to segment files and to the
//! journal directory, as three small traits, so that a test can record those operations
//! and replay them as a power cut would leave them (`storage::recording`, test support).
//!
//! Owns: the list of operations capture relies on, and [`Fs`], the real implementation
//! (positional writes into preallocated files, `std::fs` and `rustix`), which is the
//! writer's default. The seam is static (generic parameters, no trait objects), so the
//! per-record path is the same machine code as a direct `pwrite`.
//!
//! Why `pwrite` and not a shared writable mapping (the first design): storing through a
//! mapping of preallocated (unwritten) extents makes the kernel fault in and zero-fill
//! every page before the copy overwrites it, and the mapped pages count against the
//! process's memory until released. Measured on the 2-core build machine, writing 10 MB
//! cost 12.1 ms of CPU through a mapping and 3.7 ms with `pwrite` (3.3x), about a fifth of
//! the capture pipeline's CPU per 12 MP frame, and the mapping was ~43 MiB of its peak RSS.
//! Nothing else changes: the space is still preallocated (a full disk is an error at
//! segment creation, never SIGBUS or a failed write mid-segment), records are still written
//! payload first, header last, and sealed segments are still mapped for reading.
//!
//! Promises of every implementation (what the writer's durability reasoning uses):
//! - [`StorageFile::sync_data`] and [`StorageFile::sync_all`] are barriers: when they
//!   return, every byte written to the file before the call, and its length, survives a
//!   power cut. [`StorageMap::flush_range`] is a barrier for the bytes of its range only.
//! - Bytes written and not yet behind a barrier may survive, be lost, or survive in part
//!   (whole 512-byte sectors of a 4 KiB page), each page independently.
//! - A rename is atomic. A creation, rename or removal in the directory survives a power
//!   cut only once [`Storage::sync_dir`] has returned after it.
//!
//! Reading is not part of the seam: readers and crash recovery read the real files.

/// Test support (power-cut simulation): not part of the stable API.
#[doc(hidden)]
pub mod recording;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::segment::preallocate;

/// Directory operations and the way to open segment files.
pub trait Storage: Clone + Send + Sync + 'static {
    type File: StorageFile;

    /// Creates `path`, which must not exist, for reading and writing.
    fn create_new(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens the existing `path` for reading and writing.
    fn open_rw(&self, path: &Path) -> io::Result<Self::File>;
    /// Renames atomically (replacing `to` if it exists).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals in `dir` so far durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open segment file.
pub trait StorageFile: Send + Sized + 'static {
    type Map: StorageMap;

    /// The file's current length.
    fn size(&self) -> io::Result<u64>;
    /// Allocates disk for the first `len` bytes (extending the file with zeros), so that
    /// writes through a mapping of them never need new blocks.
    fn preallocate(&self, len: u64) -> io::Result<()>;
    fn write_bytes(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// The area of the first `len` bytes, which [`preallocate`](Self::preallocate) has
    /// allocated, for writing records. The file is not truncated while the area lives.
    fn map(&self, len: u64) -> io::Result<Self::Map>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Barrier for data and metadata (fsync).
    fn sync_all(&self) -> io::Result<()>;
    /// Barrier for data and length (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// A second handle to the same file (for the background syncer).
    fn try_clone(&self) -> io::Result<Self>;
}

/// The writable, preallocated area of a segment: the per-record path.
pub trait StorageMap: Send {
    /// Writes `bytes` at `offset`. Writing past the area is an error (callers check
    /// capacity first, so it means a bug), as is any I/O error of the device.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Barrier for the bytes of `offset..offset+len`.
    fn flush_range(&self, offset: u64, len: u64) -> io::Result<()>;
    /// Length of the area.
    fn mapped_len(&self) -> u64;
}

/// The preallocated area of a real segment file, written with `pwrite`.
#[derive(Debug)]
pub struct FileArea {
    file: File,
    len: u64,
}

/// The error for a write outside the area: a capacity check was skipped.
pub(crate) fn past_the_area(offset: u64, len: usize, area: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("write of {len} bytes at {offset} past the segment's {area} preallocated bytes"),
    )
}

impl StorageMap for FileArea {
    #[inline]
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        if offset.saturating_add(bytes.len() as u64) > self.len {
            return Err(past_the_area(offset, bytes.len(), self.len));
        }
        FileExt::write_all_at(&self.file, bytes, offset)
    }

    fn flush_range(&self, _offset: u64, _len: u64) -> io::Result<()> {
        self.file.sync_data()
    }

    fn mapped_len(&self) -> u64 {
        self.len
    }
}

/// The real file system: what capture uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fs;

impl Storage for Fs {
    type File = File;

    fn create_new(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
    }

    fn open_rw(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl StorageFile for File {
    type Map = FileArea;

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn preallocate(&self, len: u64) -> io::Result<()> {
        preallocate(self, len)
    }

    fn write_bytes(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, bytes, offset)
    }

    fn map(&self, len: u64) -> io::Result<FileArea> {
        Ok(FileArea {
            file: File::try_clone(self)?,
            len,
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn try_clone(&self) -> io::Result<File> {
        File::try_clone(self)
    }
}
