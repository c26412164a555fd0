//! The storage seam: everything the journal writer does to segment files and to the
//! journal directory, as three small traits, so that a test can record those operations
//! and replay them as a power cut would leave them (`storage::recording`, test support).
//!
//! Owns: the list of operations capture relies on, and [`Fs`], the real implementation
//! (positional writes into preallocated files, direct where the file system allows it,
//! `std::fs` and `rustix`), which is the writer's default. The seam is static (generic parameters, no trait objects), so the
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
//! payload first, header last.
//!
//! Why records are written with `O_DIRECT`: a buffered `pwrite` still goes through the
//! page cache, which allocates and fills ~10 MB of pages per 12 MP record in the writer
//! thread and writes them back from kernel threads outside the process: ~10 ms of machine
//! CPU per record on the build VM, against ~1.6 ms written directly at the same ~500 MB/s
//! (`dd` of 2 GB: 2.1 CPU-s buffered and fdatasynced, 0.33 CPU-s direct). In the capture
//! bench the process's CPU per frame fell from ~44 to ~36 ms. So [`FileArea`], the
//! per-record path, writes through its own open file description of the segment opened
//! with `O_DIRECT` (reopened through `/proc/self/fd`: a duplicated descriptor would share
//! the description and its flags with the handle). Direct I/O needs page-aligned memory,
//! offsets and lengths, so a write of `bytes` at `offset` writes the whole pages it falls
//! in, from an aligned 1 MiB staging buffer, a chunk at a time. The bytes of its first and
//! last page that it was not asked to write keep their contents: from copies of the last
//! few pages at the edges of the area's writes (a record's header page is written again
//! after its payload; the next record starts in the previous one's last page), else zeros
//! where nothing was written since the file was created, else read back (a resumed
//! segment, a page the handle changed). The rest is as before:
//! - A reader sees a record as soon as `write_at` returns: a direct write drops the
//!   page-cache copies of the pages it covers, so buffered reads (and the handle's
//!   buffered writes) get the new bytes.
//! - Barriers are still `fdatasync`: a direct write reaches the device, not its medium
//!   (a volatile write cache), and writing into preallocated (unwritten) extents changes
//!   their metadata.
//! - The crash model holds as it did: a buffered write dirties exactly the pages it
//!   touches and writeback writes those pages whole; a direct write writes the same whole
//!   pages, with the bytes it was not asked to write unchanged. Between two barriers the
//!   same pages are written with the same contents, only sooner and some more than once.
//!   So the writer's page padding still protects synced bytes: after a barrier the
//!   records end on a page boundary, and every later write (records, GAPs, NOTEs, the next
//!   padding, footer and trailer: all appended after the records) starts on a fresh page.
//!   The exceptions are those of buffered writes: the first write after resuming a
//!   segment whose records end inside a page, and a barrier with no room left for the
//!   padding, rewrite a page holding synced bytes, as its writeback did.
//! - Where the file system refuses `O_DIRECT` (at open, or EINVAL at the first write) the
//!   area writes with a buffered `pwrite` ([`FileArea::is_direct`] tells); so it does
//!   the part of a write in a last page that the area only partly covers (a direct write
//!   of that page would lengthen the file).
//! - The segment header, the padding the syncer places (`write_bytes`), truncation and
//!   barriers stay on the buffered handle; a change made through it drops the area's page
//!   copies (a counter they share), so a copy never brings back old bytes.
//!
//! Promises of every implementation (what the writer's durability reasoning uses):
//! - [`StorageFile::sync_data`] and [`StorageFile::sync_all`] are barriers: when they
//!   return, every byte written to the file before the call, and its length, survives a
//!   power cut. [`WriteArea::flush_range`] is a barrier for the bytes of its range only.
//! - Bytes written and not yet behind a barrier may survive, be lost, or survive in part
//!   (whole 512-byte sectors of a 4 KiB page), each page independently.
//! - A rename is atomic. A creation, rename or removal in the directory survives a power
//!   cut only once [`Storage::sync_dir`] has returned after it.
//!
//! Reading is not part of the seam: readers and crash recovery read the real files.

/// Test support (power-cut simulation): not part of the stable API.
#[cfg(any(test, feature = "internals"))]
#[doc(hidden)]
pub mod recording;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustix::fs::OFlags;
use rustix::io::Errno;

/// Directory operations and the way to open segment files.
pub trait Storage: Clone + Send + Sync + 'static {
    /// An open file of this storage.
    type File: StorageFile;

    /// Creates `path`, which must not exist, for reading and writing.
    fn create_new(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens the existing `path` for reading and writing.
    fn open_rw(&self, path: &Path) -> io::Result<Self::File>;
    /// Renames atomically (replacing `to` if it exists).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals in `dir` so far durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open segment file.
pub trait StorageFile: Send + Sized + 'static {
    /// The write area of such a file.
    type Area: WriteArea;

    /// The file's current length.
    fn size(&self) -> io::Result<u64>;
    /// Allocates disk for the first `len` bytes (extending the file with zeros), so that
    /// writes to the write area over them never need new blocks.
    fn preallocate(&self, len: u64) -> io::Result<()>;
    /// Writes `bytes` at `offset` (the header and footer paths).
    fn write_bytes(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// The area of the first `len` bytes, which [`preallocate`](Self::preallocate) has
    /// allocated, for writing records. The file is not truncated while the area lives.
    fn write_area(&self, len: u64) -> io::Result<Self::Area>;
    /// Sets the file's length.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Barrier for data and metadata (fsync).
    fn sync_all(&self) -> io::Result<()>;
    /// Barrier for data and length (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// A second handle to the same file (for the background syncer).
    fn try_clone(&self) -> io::Result<Self>;
}

/// The writable, preallocated area of a segment: the per-record path.
pub trait WriteArea: Send {
    /// Writes `bytes` at `offset`. Writing past the area is an error (callers check
    /// capacity first, so it means a bug), as is any I/O error of the device.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Barrier for the bytes of `offset..offset+len`.
    fn flush_range(&self, offset: u64, len: u64) -> io::Result<()>;
    /// Length of the area.
    fn area_len(&self) -> u64;
}

/// The unit of direct I/O: file offsets, lengths and buffer addresses of direct reads and
/// writes are multiples of it (no Linux block device asks for more; `segment::PAGE` too).
const PAGE: u64 = 4096;
const PAGE_BYTES: usize = PAGE as usize;
/// Bytes staged per direct write: big enough for the device to see large requests (on
/// the build VM, 1 GB/s with 1 MiB writes, 0.7 GB/s with 256 KiB), small for peak RSS.
const CHUNK: usize = 1 << 20;
/// Pages an area keeps copies of (see [`PageCopies`]).
const KEPT_PAGES: usize = 4;

/// What the handles of one segment file know about its bytes, shared by the handle, its
/// clones and its area, so the area's direct writes never need to read a page back that
/// it can know.
#[derive(Debug)]
struct Known {
    /// Every byte at or after this offset is zero (`u64::MAX`: nothing known, a file
    /// opened rather than created).
    zero_from: AtomicU64,
    /// Changes made to the file other than by direct writes of the area (`write_bytes`,
    /// `set_len`): the area drops its page copies when this moves.
    outside: AtomicU64,
}

impl Known {
    fn new(zero_from: u64) -> Arc<Known> {
        Arc::new(Known {
            zero_from: AtomicU64::new(zero_from),
            outside: AtomicU64::new(0),
        })
    }

    /// Before writing bytes that end at `end`: the zeros now start at the latest there.
    /// Returns what was known before.
    fn will_write_to(&self, end: u64) -> u64 {
        self.zero_from.fetch_max(end, Ordering::AcqRel)
    }

    /// After a change the area's page copies may not hold.
    fn changed_outside(&self) {
        self.outside.fetch_add(1, Ordering::AcqRel);
    }
}

/// A segment file of the real file system.
#[derive(Debug)]
pub struct FsFile {
    file: File,
    known: Arc<Known>,
}

/// The error for a write outside the area: a capacity check was skipped.
pub(crate) fn past_the_area(offset: u64, len: usize, area: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("write of {len} bytes at {offset} past the segment's {area} preallocated bytes"),
    )
}

/// The preallocated area of a real segment file: records are written with `O_DIRECT`
/// where the file system allows it, else with a buffered `pwrite` (see the module docs).
#[derive(Debug)]
pub struct FileArea {
    /// Shares the segment handle's open file description: buffered writes and barriers.
    file: File,
    known: Arc<Known>,
    len: u64,
    direct: Option<Direct>,
}

impl FileArea {
    fn open(seg: &FsFile, len: u64, try_direct: bool) -> io::Result<FileArea> {
        let file = seg.file.try_clone()?;
        let direct = try_direct.then(|| Direct::open(&file)).flatten();
        Ok(FileArea {
            file,
            known: Arc::clone(&seg.known),
            len,
            direct,
        })
    }

    /// Whether records go to the device directly (`O_DIRECT`) rather than through the
    /// page cache: false when the file system refused direct I/O.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }
}

impl WriteArea for FileArea {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let end = offset.saturating_add(bytes.len() as u64);
        if end > self.len {
            return Err(past_the_area(offset, bytes.len(), self.len));
        }
        let zero_from = self.known.will_write_to(end);
        // Direct writes are of whole pages: one into a last page that the area only
        // partly covers would lengthen the file, so that part is written buffered.
        let whole_pages = self.len - self.len % PAGE;
        let (head, rest) = bytes.split_at((whole_pages.clamp(offset, end) - offset) as usize);
        let mut buffered = rest;
        if let Some(direct) = &mut self.direct {
            match direct.write(offset, head, zero_from, &self.known) {
                Ok(()) => {}
                // Before any direct write succeeded, EINVAL is the file system refusing
                // direct I/O (some only tell at the first write): buffered from now on.
                Err(e) if !direct.proven && Errno::from_io_error(&e) == Some(Errno::INVAL) => {
                    self.direct = None;
                    buffered = bytes;
                }
                Err(e) => return Err(e),
            }
        } else {
            buffered = bytes;
        }
        if buffered.is_empty() {
            return Ok(());
        }
        let done = FileExt::write_all_at(&self.file, buffered, end - buffered.len() as u64);
        self.known.changed_outside();
        done
    }

    fn flush_range(&self, _offset: u64, _len: u64) -> io::Result<()> {
        self.file.sync_data()
    }

    fn area_len(&self) -> u64 {
        self.len
    }
}

/// The direct-I/O side of an area: its own open file description with `O_DIRECT`, an
/// aligned staging buffer, and copies of the pages at the edges of recent writes.
struct Direct {
    file: File,
    /// `Known::outside` when `pages` were last valid.
    outside_seen: u64,
    /// Whether a direct write has succeeded on this file.
    proven: bool,
    /// Pages read back from the file to complete a write's first or last page.
    reads: u64,
    /// [`CHUNK`] bytes starting at `start`, which is a multiple of [`PAGE`] in memory.
    staging: Vec<u8>,
    start: usize,
    pages: PageCopies,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("file", &self.file)
            .field("proven", &self.proven)
            .field("reads", &self.reads)
            .finish_non_exhaustive()
    }
}

impl Direct {
    /// A second open file description of `file` (reopened through `/proc/self/fd`: the
    /// name may have changed since), with `O_DIRECT`; `None` where that is refused.
    fn open(file: &File) -> Option<Direct> {
        // A duplicated descriptor would share the description and its flags: setting
        // O_DIRECT on it would make the barrier handle's writes direct too.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OFlags::DIRECT.bits() as i32)
            .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .ok()?;
        // Over-allocated so that an aligned CHUNK fits without unsafe code.
        let staging = vec![0u8; CHUNK + PAGE_BYTES];
        let start = staging.as_ptr().align_offset(PAGE_BYTES);
        Some(Direct {
            file,
            outside_seen: 0,
            proven: false,
            reads: 0,
            staging,
            start,
            pages: PageCopies::default(),
        })
    }

    /// Writes the pages that `bytes` at `offset` fall in, a chunk at a time; the bytes of
    /// the first and last page outside the write keep their contents (from a copy, known
    /// zeros past `zero_from`, or read back).
    fn write(
        &mut self,
        offset: u64,
        bytes: &[u8],
        zero_from: u64,
        known: &Known,
    ) -> io::Result<()> {
        if bytes.is_empty() {
            // Nothing to write: not even the page `offset` is in (past the area's whole
            // pages, writing it would lengthen the file).
            return Ok(());
        }
        let outside = known.outside.load(Ordering::Acquire);
        if outside != self.outside_seen {
            self.pages.clear();
            self.outside_seen = outside;
        }
        let end = offset + bytes.len() as u64;
        let mut at = offset - offset % PAGE;
        while at < end {
            let stop = (at + CHUNK as u64).min(end.next_multiple_of(PAGE));
            self.write_chunk(offset, bytes, at..stop, zero_from)?;
            at = stop;
        }
        Ok(())
    }

    /// One aligned chunk `pages` (file offsets) of the write of `bytes` at `offset`.
    fn write_chunk(
        &mut self,
        offset: u64,
        bytes: &[u8],
        pages: std::ops::Range<u64>,
        zero_from: u64,
    ) -> io::Result<()> {
        let (at, stop) = (pages.start, pages.end);
        let end = offset + bytes.len() as u64;
        let last = stop - PAGE;
        let head = at < offset;
        let tail = stop > end;
        if head {
            self.fill_page(at, at, zero_from)?;
        }
        if tail && !(head && last == at) {
            self.fill_page(at, last, zero_from)?;
        }
        let (from, to) = (offset.max(at), end.min(stop));
        let buf = &mut self.staging[self.start..][..(stop - at) as usize];
        buf[(from - at) as usize..(to - at) as usize]
            .copy_from_slice(&bytes[(from - offset) as usize..(to - offset) as usize]);
        FileExt::write_all_at(&self.file, buf, at)?;
        self.proven = true;
        self.pages.refresh(at, buf);
        if head {
            self.pages.keep(at, &buf[..PAGE_BYTES]);
        }
        if tail {
            self.pages.keep(last, &buf[buf.len() - PAGE_BYTES..]);
        }
        Ok(())
    }

    /// Puts the current contents of the page at file offset `page` into the staging
    /// buffer, whose first byte stands for file offset `at`.
    fn fill_page(&mut self, at: u64, page: u64, zero_from: u64) -> io::Result<()> {
        let dst = &mut self.staging[self.start + (page - at) as usize..][..PAGE_BYTES];
        if let Some(copy) = self.pages.get(page) {
            dst.copy_from_slice(copy);
        } else if page >= zero_from {
            dst.fill(0);
        } else {
            read_page(&self.file, dst, page)?;
            self.reads += 1;
        }
        Ok(())
    }
}

/// Reads the page at `page` through the direct description (an aligned read of aligned
/// memory); past the end of the file it is zeros.
fn read_page(file: &File, dst: &mut [u8], page: u64) -> io::Result<()> {
    let mut got = 0;
    while got < dst.len() {
        match file.read_at(&mut dst[got..], page + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    dst[got..].fill(0);
    Ok(())
}

/// Copies of the last few pages at the edges of direct writes, as written: a record is
/// written payload first and header last, so the header's page, the previous record's
/// last page and the next payload's first page are each written more than once, and
/// their other bytes come from here instead of being read back from the device.
#[derive(Default)]
struct PageCopies {
    /// (file offset, bytes), the most recently kept last.
    pages: Vec<(u64, Vec<u8>)>,
}

impl PageCopies {
    fn get(&self, page: u64) -> Option<&[u8]> {
        self.pages
            .iter()
            .find(|(at, _)| *at == page)
            .map(|(_, b)| b.as_slice())
    }

    fn keep(&mut self, page: u64, bytes: &[u8]) {
        let mut slot = match self.pages.iter().position(|(at, _)| *at == page) {
            Some(i) => self.pages.remove(i),
            None if self.pages.len() == KEPT_PAGES => self.pages.remove(0),
            None => (page, vec![0; PAGE_BYTES]),
        };
        slot.0 = page;
        slot.1.copy_from_slice(bytes);
        self.pages.push(slot);
    }

    /// Updates the copies of pages inside `chunk`, just written at file offset `at`.
    fn refresh(&mut self, at: u64, chunk: &[u8]) {
        let stop = at + chunk.len() as u64;
        for (page, copy) in &mut self.pages {
            if (at..stop).contains(page) {
                copy.copy_from_slice(&chunk[(*page - at) as usize..][..PAGE_BYTES]);
            }
        }
    }

    fn clear(&mut self) {
        self.pages.clear();
    }
}

/// The real file system: what capture uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fs;

impl Storage for Fs {
    type File = FsFile;

    fn create_new(&self, path: &Path) -> io::Result<FsFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        // A new file: every byte is zero until written.
        Ok(FsFile {
            file,
            known: Known::new(0),
        })
    }

    fn open_rw(&self, path: &Path) -> io::Result<FsFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(FsFile {
            file,
            known: Known::new(u64::MAX),
        })
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

impl StorageFile for FsFile {
    type Area = FileArea;

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn preallocate(&self, len: u64) -> io::Result<()> {
        preallocate(&self.file, len)
    }

    fn write_bytes(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.known.will_write_to(offset + bytes.len() as u64);
        let done = FileExt::write_all_at(&self.file, bytes, offset);
        self.known.changed_outside();
        done
    }

    fn write_area(&self, len: u64) -> io::Result<FileArea> {
        FileArea::open(self, len, true)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let done = self.file.set_len(len);
        self.known.changed_outside();
        done
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn try_clone(&self) -> io::Result<FsFile> {
        Ok(FsFile {
            file: self.file.try_clone()?,
            known: Arc::clone(&self.known),
        })
    }
}

/// Allocates `len` bytes of disk for `file`, so that writes into it never need new
/// blocks. Falls back to writing zeros where `fallocate` is not supported.
pub fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
            write_zeros(file, len)
        }
        Err(e) => Err(e.into()),
    }
}

fn write_zeros(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let have = file.metadata()?.len();
    let zeros = vec![0u8; 1 << 20];
    let mut at = have;
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A directory on a file system that takes direct writes (the temp dir, else the
    /// crate's own directory), so the direct path is what these tests exercise.
    fn direct_dir() -> tempfile::TempDir {
        for base in [
            std::env::temp_dir(),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        ] {
            let dir = tempfile::tempdir_in(&base).unwrap();
            let file = Fs.create_new(&dir.path().join("probe")).unwrap();
            file.preallocate(2 * PAGE).unwrap();
            let mut area = file.write_area(2 * PAGE).unwrap();
            if area.write_at(1, b"x").is_ok() && area.is_direct() {
                return dir;
            }
        }
        panic!("neither the temp dir nor the crate's dir takes O_DIRECT writes");
    }

    /// Distinct, non-zero bytes for each write.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
            .collect()
    }

    #[derive(Debug)]
    enum Step {
        /// Through the area (the per-record path).
        Area(u64, Vec<u8>),
        /// Through the file handle (`write_bytes`, as the syncer places padding).
        Handle(u64, Vec<u8>),
    }

    const AREA: u64 = (3 << 20) + 40_000;

    /// What a segment's writer does: records (payload at `o + 64`, then the header at
    /// `o`) of sizes leaving every kind of page remainder, some spanning direct-write
    /// chunks; a padding header placed through the handle in a page the area wrote, the
    /// next record on a fresh page; a footer. With `odd`, also what the writer does not
    /// do: the handle changing a page the area keeps a copy of and the area writing into
    /// it again; writes into an earlier page, at a page-aligned offset, and over a kept
    /// page as a whole and then in part.
    fn script(odd: bool) -> Vec<Step> {
        let mut steps = vec![Step::Handle(0, bytes(128, 1))];
        let mut o = 128;
        let lens = [
            1,
            63,
            100,
            4000,
            4032,
            4096,
            5000,
            (1 << 20) + 3,
            9,
            2_100_000,
            10,
        ];
        for (i, &len) in lens.iter().enumerate() {
            let seed = 10 + i as u8;
            steps.push(Step::Area(o + 64, bytes(len, seed)));
            steps.push(Step::Area(o, bytes(64, seed + 100)));
            o = (o + 64 + len as u64).next_multiple_of(64);
            if i == 2 {
                steps.push(Step::Handle(o, bytes(64, 200)));
                o = o.next_multiple_of(PAGE) + PAGE;
            }
            if odd && i == 5 {
                assert!(o % PAGE > 60, "the next record starts in the changed page");
                steps.push(Step::Handle(o - 60, bytes(4, 201)));
            }
        }
        if odd {
            steps.push(Step::Area(200, bytes(30, 202)));
            steps.push(Step::Area(3 * PAGE, bytes(10, 203)));
            let page = o - o % PAGE;
            steps.push(Step::Area(o, bytes(100, 204)));
            steps.push(Step::Area(page - 10, bytes(PAGE_BYTES + 20, 205)));
            steps.push(Step::Area(o + 200, bytes(10, 206)));
            // Writes inside the area's last page, which it covers in part (one empty),
            // then one that ends in it.
            const { assert!(AREA % PAGE > 2000) };
            steps.push(Step::Area(AREA - 2000, bytes(100, 208)));
            steps.push(Step::Area(AREA - 1500, Vec::new()));
            o = AREA - 6000;
        }
        steps.push(Step::Area(o, bytes(5000, 207)));
        steps
    }

    /// Runs `steps` on a new preallocated file; after each, the file read through the
    /// page cache (as readers do) equals the model. Returns the file's bytes and the
    /// pages the area read back.
    fn run(dir: &Path, name: &str, direct: bool, steps: &[Step]) -> (Vec<u8>, u64) {
        let path = dir.join(name);
        let file = Fs.create_new(&path).unwrap();
        file.preallocate(AREA).unwrap();
        let mut area = FileArea::open(&file, AREA, direct).unwrap();
        let mut model = vec![0u8; AREA as usize];
        for (i, step) in steps.iter().enumerate() {
            let (offset, b) = match step {
                Step::Area(offset, b) => {
                    area.write_at(*offset, b).unwrap();
                    (offset, b)
                }
                Step::Handle(offset, b) => {
                    file.write_bytes(b, *offset).unwrap();
                    (offset, b)
                }
            };
            model[*offset as usize..][..b.len()].copy_from_slice(b);
            let got = std::fs::read(&path).unwrap();
            if let Some(at) = (0..model.len()).find(|&j| got[j] != model[j]) {
                panic!("step {i} {offset}+{}: first difference at {at}", b.len());
            }
        }
        assert_eq!(area.is_direct(), direct);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            AREA,
            "the file's length"
        );
        let reads = area.direct.as_ref().map_or(0, |d| d.reads);
        (std::fs::read(&path).unwrap(), reads)
    }

    #[test]
    fn direct_writes_change_exactly_the_bytes_written_and_readers_see_them_at_once() {
        let dir = direct_dir();
        let steps = script(true);
        let (direct, _) = run(dir.path(), "direct", true, &steps);
        let (buffered, _) = run(dir.path(), "buffered", false, &steps);
        assert!(direct == buffered, "the two modes leave different bytes");
        // The model is zero wherever nothing was written: the last write ends inside a
        // page, and the rest of the area after it reads as zeros.
        let Some(Step::Area(last, b)) = steps.last() else {
            panic!("the script ends with a write through the area")
        };
        let end = (*last as usize) + b.len();
        assert!(!end.is_multiple_of(PAGE_BYTES) && end < direct.len());
        assert!(direct[end..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_new_segment_is_written_without_reading_pages_back() {
        // Only the first record's page, which the segment header (written through the
        // handle) shares, is read; every other page edge is a kept copy or known zeros.
        let dir = direct_dir();
        let steps = script(false);
        let (direct, reads) = run(dir.path(), "direct", true, &steps);
        assert_eq!(reads, 1);
        let (buffered, _) = run(dir.path(), "buffered", false, &steps);
        assert!(direct == buffered, "the two modes leave different bytes");
    }

    #[test]
    fn writes_into_a_file_of_unknown_contents_keep_the_bytes_around_them() {
        let dir = direct_dir();
        let path = dir.path().join("resumed");
        let old = bytes(600_000, 7);
        std::fs::write(&path, &old).unwrap();
        let file = Fs.open_rw(&path).unwrap();
        let mut area = file.write_area(old.len() as u64).unwrap();
        let mut model = old.clone();
        let writes = [
            (5000, 10),
            (4090, 20),
            (8192, 64),
            (100_001, 70_000),
            (100_001 + 70_000 + 64, 3),
        ];
        for (k, (offset, len)) in writes.into_iter().enumerate() {
            let b = bytes(len, 50 + k as u8)
                .iter()
                .map(|x| !x)
                .collect::<Vec<_>>();
            area.write_at(offset, &b).unwrap();
            model[offset as usize..][..len].copy_from_slice(&b);
        }
        assert!(area.is_direct());
        assert!(
            std::fs::read(&path).unwrap() == model,
            "bytes around a write changed"
        );
    }

    #[test]
    fn a_write_past_the_area_is_refused_and_changes_nothing() {
        let dir = direct_dir();
        let path = dir.path().join("small");
        let file = Fs.create_new(&path).unwrap();
        file.preallocate(3 * PAGE).unwrap();
        let mut area = file.write_area(2 * PAGE).unwrap();
        let err = area.write_at(2 * PAGE - 10, &[9; 11]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
    }
}
