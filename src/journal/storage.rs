//! The storage seam: everything the journal writer does to segment files and to the
//! journal directory, as three small traits, so that a test can record those operations
//! and replay them as a power cut would leave them (`storage::recording`, test support).
//!
//! Owns: the list of operations capture relies on, and [`Fs`], the real implementation
//! (a preallocated shared mapping from [`super::mmap`], `std::fs` and `rustix`), which is
//! the writer's default. The seam is static (generic parameters, no trait objects), so the
//! per-record path is the same machine code as a direct call into the mapping.
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

use super::mmap::WriteMap;
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
    /// Maps the first `len` bytes, which [`preallocate`](Self::preallocate) has allocated,
    /// for writing. The file is not truncated while the map lives.
    fn map(&self, len: u64) -> io::Result<Self::Map>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Barrier for data and metadata (fsync).
    fn sync_all(&self) -> io::Result<()>;
    /// Barrier for data and length (fdatasync; on Linux it also writes back pages
    /// dirtied through a shared mapping).
    fn sync_data(&self) -> io::Result<()>;
    /// A second handle to the same file (for the background syncer).
    fn try_clone(&self) -> io::Result<Self>;
}

/// A writable mapping of a segment's preallocated bytes: the per-record path.
pub trait StorageMap: Send {
    /// Copies `bytes` in at `offset`. Panics if out of range (callers check capacity).
    fn write_at(&mut self, offset: u64, bytes: &[u8]);
    /// A hint that `offset..offset+len` will not be written again (memory, not data).
    fn release(&self, offset: u64, len: u64);
    /// Barrier for the bytes of `offset..offset+len` (msync).
    fn flush_range(&self, offset: u64, len: u64) -> io::Result<()>;
    /// Mapped length.
    fn mapped_len(&self) -> u64;
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
    type Map = WriteMap;

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn preallocate(&self, len: u64) -> io::Result<()> {
        preallocate(self, len)
    }

    fn write_bytes(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, bytes, offset)
    }

    fn map(&self, len: u64) -> io::Result<WriteMap> {
        WriteMap::new(self, len)
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

impl StorageMap for WriteMap {
    #[inline]
    fn write_at(&mut self, offset: u64, bytes: &[u8]) {
        WriteMap::write_at(self, offset, bytes)
    }

    fn release(&self, offset: u64, len: u64) {
        WriteMap::release(self, offset, len)
    }

    fn flush_range(&self, offset: u64, len: u64) -> io::Result<()> {
        WriteMap::flush_range(self, offset, len)
    }

    fn mapped_len(&self) -> u64 {
        WriteMap::len(self)
    }
}
