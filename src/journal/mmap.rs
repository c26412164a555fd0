//! Memory mapping of segment files: the only `unsafe` code of the journal.
//!
//! Contract, which the rest of the journal keeps and this module relies on:
//! - A writable mapping ([`WriteMap`]) covers a file that was **preallocated** (`fallocate`)
//!   to at least the mapped length before mapping, so storing into the mapping never needs
//!   a new disk block: a full disk cannot become SIGBUS.
//! - Nobody truncates a file while it is mapped: the writer unmaps before it truncates at
//!   seal, sealed segments are never written again, and readers map only sealed segments
//!   (active ones are read with `pread`, see `reader.rs`).
//! - One writer per journal (an exclusive lock), so a writable mapping has one owner.

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapMut, MmapOptions};

/// A writable shared mapping of the first `len` bytes of a preallocated segment file.
pub struct WriteMap {
    map: MmapMut,
}

impl WriteMap {
    /// Maps `len` bytes of `file`, which must already be allocated on disk to at least
    /// `len` bytes (see the module contract).
    pub fn new(file: &File, len: u64) -> io::Result<WriteMap> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("segment too large to map"))?;
        // SAFETY: the file is preallocated to `len` bytes and is only truncated after this
        // mapping is dropped (module contract); the journal lock makes us its only writer,
        // so no other process changes the bytes behind this mapping.
        let map = unsafe { MmapOptions::new().len(len).map_mut(file)? };
        Ok(WriteMap { map })
    }

    /// Copies `bytes` into the mapping at `offset`. Panics if out of range (callers check
    /// capacity first: an out-of-range write is a bug, not bad input).
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) {
        let start = offset as usize;
        self.map[start..start + bytes.len()].copy_from_slice(bytes);
    }

    /// Drops `offset..offset+len` (page-aligned inward) from this process's page tables,
    /// so written pages stop counting against our memory. The bytes are not lost: the
    /// mapping is a shared file mapping, so they live on in the page cache (dirty pages
    /// included) and on disk, and touching the range again would read them back.
    pub fn release(&self, offset: u64, len: u64) {
        const PAGE: u64 = 4096;
        let start = offset.div_ceil(PAGE) * PAGE;
        let end = ((offset + len).min(self.len()) / PAGE) * PAGE;
        if end > start {
            // SAFETY: MADV_DONTNEED on a MAP_SHARED file mapping only zaps page-table
            // entries; the contents stay in the page cache and file. No reference into
            // the mapping is held across this call (`write_at` copies in and returns), and
            // the range lies inside the mapping.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start as usize,
                    (end - start) as usize,
                )
            };
        }
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Writes the dirty pages of `offset..offset+len` to disk and waits (msync MS_SYNC).
    pub fn flush_range(&self, offset: u64, len: u64) -> io::Result<()> {
        self.map.flush_range(offset as usize, len as usize)
    }

    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A read-only mapping of a whole sealed segment.
pub fn map_sealed(file: &File) -> io::Result<Mmap> {
    // SAFETY: sealed segments are immutable by contract (never written or truncated by
    // nightcap after the rename to `.seg`). A user truncating one behind our back could
    // raise SIGBUS; that is outside what any mmap reader can prevent, and the reader only
    // maps files it has just checked to be sealed.
    unsafe { Mmap::map(file) }
}
