//! Memory mapping of sealed segment files for reading: the only `unsafe` code of the
//! journal.
//!
//! Contract, which the rest of the journal keeps and this module relies on: sealed
//! segments are immutable (never written or truncated by nightcap after the rename to
//! `.seg`); active segments are never mapped (they are read with `pread`, see
//! `reader.rs`). The writer writes with `pwrite` (see `storage.rs` for why).

use std::fs::File;
use std::io;

use memmap2::Mmap;

/// A read-only mapping of a whole sealed segment.
pub fn map_sealed(file: &File) -> io::Result<Mmap> {
    // SAFETY: sealed segments are immutable by contract (never written or truncated by
    // nightcap after the rename to `.seg`). A user truncating one behind our back could
    // raise SIGBUS; that is outside what any mmap reader can prevent, and the reader only
    // maps files it has just checked to be sealed.
    unsafe { Mmap::map(file) }
}
