//! A [`Storage`] for power-cut tests: it writes through to the real files (so readers,
//! recovery and `fs::metadata` see what the writer wrote) and records every operation,
//! so that `Model` can rebuild, at any point of the log, what a power cut could leave.
//!
//! The model keeps, per file, its durable image (as of its last barrier), its current
//! bytes and the 4 KiB pages written since the barrier; per directory, the durable names
//! and the creations, renames and removals since the last directory sync. A crash image
//! (`Model::crash`) decides independently:
//! - for each page written since the file's last barrier: kept new, left old, zeroed, or
//!   torn (each 512-byte sector old or new) — see `Fate` and `CrashModel`;
//! - for each file whose length changed since its barrier: the old or the new length;
//! - for each directory change since the last directory sync: happened or not (a rename
//!   is atomic; an operation whose source name does not exist then is skipped).
//!
//! Only what the writer does through the seam is recorded: the files in the directory
//! when recording starts, and any it opens later, are adopted as they are on disk (taken
//! as durable); files made outside the seam (the lock, a recovery's `.tail` copy) are not
//! in the images.
//! Syncs are not passed to the real files (durability is the model's business, and the
//! tests stay fast). Test support: hidden from the docs, not part of the stable API.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Storage, StorageFile, WriteArea};

/// Page size of the model (the unit in which unsynced data is kept or lost).
pub const PAGE: usize = 4096;
/// Sector size of the model (the unit of a torn page).
pub const SECTOR: usize = 512;

/// Identity of a file (an inode): names come and go, the file stays.
pub type FileId = u64;

/// One operation, in the order the writer issued it.
#[derive(Debug, Clone)]
pub enum Op {
    /// An existing file was opened: its bytes are taken as durable.
    Adopt {
        name: String,
        id: FileId,
        bytes: Vec<u8>,
    },
    Create {
        name: String,
        id: FileId,
    },
    Write {
        id: FileId,
        offset: u64,
        bytes: Vec<u8>,
    },
    SetLen {
        id: FileId,
        len: u64,
    },
    /// fsync or fdatasync: all data and the length.
    Sync {
        id: FileId,
    },
    /// msync of a range.
    Flush {
        id: FileId,
        offset: u64,
        len: u64,
    },
    Rename {
        from: String,
        to: String,
    },
    Remove {
        name: String,
    },
    SyncDir,
}

impl Op {
    /// Whether this operation is a data barrier (after it, earlier writes are durable).
    pub fn is_barrier(&self) -> bool {
        matches!(self, Op::Sync { .. } | Op::Flush { .. })
    }
}

#[derive(Default)]
struct Log {
    ops: Vec<Op>,
    next_id: FileId,
    /// Current name → id, to find the id of a file opened by name.
    names: HashMap<String, FileId>,
}

/// The recording storage of one journal directory (clones share the log).
#[derive(Clone)]
pub struct Recording {
    dir: PathBuf,
    log: Arc<Mutex<Log>>,
}

impl Recording {
    /// Records operations on the files of `dir`. The regular files already there are
    /// adopted as they are (taken as durable).
    pub fn new(dir: &Path) -> io::Result<Recording> {
        let rec = Recording {
            dir: dir.to_path_buf(),
            log: Arc::new(Mutex::new(Log::default())),
        };
        if dir.is_dir() {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
                .map(|e| e.map(|e| e.path()))
                .collect::<io::Result<_>>()?;
            paths.sort();
            for path in paths.iter().filter(|p| p.is_file()) {
                rec.adopt(path)?;
            }
        }
        Ok(rec)
    }

    /// The id of the file at `path`, adopting it into the log if it is new to us.
    fn adopt(&self, path: &Path) -> io::Result<FileId> {
        let name = self.name(path)?;
        let mut log = self.lock();
        if let Some(&id) = log.names.get(&name) {
            return Ok(id);
        }
        let bytes = std::fs::read(path)?;
        let id = log.next_id;
        log.next_id += 1;
        log.names.insert(name.clone(), id);
        log.ops.push(Op::Adopt { name, id, bytes });
        Ok(id)
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of operations recorded so far.
    pub fn op_count(&self) -> usize {
        self.lock().ops.len()
    }

    /// A copy of the log.
    pub fn ops(&self) -> Vec<Op> {
        self.lock().ops.clone()
    }

    fn name(&self, path: &Path) -> io::Result<String> {
        if path.parent() != Some(self.dir.as_path()) {
            return Err(io::Error::other(format!(
                "{} is outside the recorded directory {}",
                path.display(),
                self.dir.display()
            )));
        }
        Ok(path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default())
    }

    fn push(&self, op: Op) {
        self.lock().ops.push(op);
    }

    fn handle(&self, id: FileId, file: File) -> RecFile {
        RecFile {
            rec: self.clone(),
            id,
            file: Arc::new(file),
        }
    }
}

impl Storage for Recording {
    type File = RecFile;

    fn create_new(&self, path: &Path) -> io::Result<RecFile> {
        let name = self.name(path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let mut log = self.lock();
        let id = log.next_id;
        log.next_id += 1;
        log.names.insert(name.clone(), id);
        log.ops.push(Op::Create { name, id });
        drop(log);
        Ok(self.handle(id, file))
    }

    fn open_rw(&self, path: &Path) -> io::Result<RecFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let id = self.adopt(path)?;
        Ok(self.handle(id, file))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (f, t) = (self.name(from)?, self.name(to)?);
        std::fs::rename(from, to)?;
        let mut log = self.lock();
        if let Some(id) = log.names.remove(&f) {
            log.names.insert(t.clone(), id);
        }
        log.ops.push(Op::Rename { from: f, to: t });
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let name = self.name(path)?;
        std::fs::remove_file(path)?;
        let mut log = self.lock();
        log.names.remove(&name);
        log.ops.push(Op::Remove { name });
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if dir != self.dir {
            return Err(io::Error::other(format!(
                "{} is not the recorded directory",
                dir.display()
            )));
        }
        self.push(Op::SyncDir);
        Ok(())
    }
}

/// A recorded segment file.
pub struct RecFile {
    rec: Recording,
    id: FileId,
    file: Arc<File>,
}

impl StorageFile for RecFile {
    type Area = RecArea;

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn preallocate(&self, len: u64) -> io::Result<()> {
        if self.size()? < len {
            self.set_len(len)?;
        }
        Ok(())
    }

    fn write_bytes(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(bytes, offset)?;
        self.rec.push(Op::Write {
            id: self.id,
            offset,
            bytes: bytes.to_vec(),
        });
        Ok(())
    }

    fn write_area(&self, len: u64) -> io::Result<RecArea> {
        Ok(RecArea {
            file: self.try_clone()?,
            len,
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.rec.push(Op::SetLen { id: self.id, len });
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.rec.push(Op::Sync { id: self.id });
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync_all()
    }

    fn try_clone(&self) -> io::Result<RecFile> {
        Ok(RecFile {
            rec: self.rec.clone(),
            id: self.id,
            file: Arc::clone(&self.file),
        })
    }
}

/// A recorded "mapping": writes are `pwrite`s plus log entries.
pub struct RecArea {
    file: RecFile,
    len: u64,
}

impl WriteArea for RecArea {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        if offset.saturating_add(bytes.len() as u64) > self.len {
            return Err(super::past_the_area(offset, bytes.len(), self.len));
        }
        self.file.write_bytes(bytes, offset)
    }

    fn flush_range(&self, offset: u64, len: u64) -> io::Result<()> {
        self.file.rec.push(Op::Flush {
            id: self.file.id,
            offset,
            len,
        });
        Ok(())
    }

    fn area_len(&self) -> u64 {
        self.len
    }
}

/// What happens to one page written since its file's last barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The new bytes reached the disk.
    New,
    /// The write never reached the disk.
    Old,
    /// The page reads as zeros: every sector with atomic sectors except those holding
    /// durable data (which keep it), so on preallocated zero-filled space it reads as
    /// `Old`; without atomic sectors the whole page, durable data included.
    Zeroed,
    /// Each 512-byte sector independently old or new.
    Torn,
}

/// How hostile the simulated disk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashModel {
    /// A sector that held durable data before the barrier keeps it or gets the new bytes,
    /// never anything else (what journaling file systems and databases assume of disks).
    /// With `false`, a [`Fate::Zeroed`] page loses even its durable sectors: a medium that
    /// does not write sectors atomically (some SD cards).
    pub atomic_sectors: bool,
}

impl Default for CrashModel {
    fn default() -> CrashModel {
        CrashModel {
            atomic_sectors: true,
        }
    }
}

/// A small deterministic random generator (splitmix64), so a failing image can be
/// reproduced from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

#[derive(Debug, Clone, Default)]
struct FileModel {
    current: Vec<u8>,
    durable: Vec<u8>,
    /// Pages written since the last barrier.
    dirty: BTreeSet<u64>,
}

impl FileModel {
    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let (start, end) = (offset as usize, offset as usize + bytes.len());
        if self.current.len() < end {
            self.current.resize(end, 0);
        }
        self.current[start..end].copy_from_slice(bytes);
        if end > start {
            self.dirty
                .extend((start / PAGE) as u64..=((end - 1) / PAGE) as u64);
        }
    }

    fn set_len(&mut self, len: u64) {
        self.current.resize(len as usize, 0);
        // Pages past the end no longer hold anything to lose.
        let pages = (len as usize).div_ceil(PAGE) as u64;
        self.dirty.retain(|&p| p < pages);
    }

    /// Makes the dirty pages inside `range` (all of them, and the length, for `None`)
    /// durable.
    fn persist(&mut self, range: Option<(u64, u64)>) {
        if range.is_none() {
            self.durable.resize(self.current.len(), 0);
        }
        let durable_len = self.durable.len();
        let (lo, hi) = range.map_or((0, u64::MAX), |(o, l)| {
            (o / PAGE as u64, (o + l).div_ceil(PAGE as u64))
        });
        let pages: Vec<u64> = self.dirty.range(lo..hi).copied().collect();
        for p in pages {
            let start = p as usize * PAGE;
            let end = (start + PAGE).min(self.current.len());
            // A page past the durable length stays at risk: msync does not make the
            // length durable.
            if end <= durable_len {
                self.durable[start..end].copy_from_slice(&self.current[start..end]);
                self.dirty.remove(&p);
            }
        }
    }

    /// The file's bytes after a power cut.
    fn crash(&self, model: CrashModel, fates: &mut FateCounts, rng: &mut Rng) -> Vec<u8> {
        let len = if self.current.len() != self.durable.len() && rng.coin() {
            self.durable.len()
        } else {
            self.current.len()
        };
        let mut image = self.durable.clone();
        image.resize(self.current.len().max(self.durable.len()), 0);
        for &p in &self.dirty {
            let start = p as usize * PAGE;
            let end = (start + PAGE).min(self.current.len());
            if start >= end {
                continue;
            }
            let fate = [Fate::New, Fate::Old, Fate::Zeroed, Fate::Torn][rng.below(4) as usize];
            fates.count(fate);
            for s in (start..end).step_by(SECTOR) {
                let e = (s + SECTOR).min(end);
                let durable_data = self
                    .durable
                    .get(s..e.min(self.durable.len()))
                    .is_some_and(|d| d.iter().any(|&b| b != 0));
                let new = match fate {
                    Fate::New => true,
                    Fate::Old => false,
                    Fate::Torn => rng.coin(),
                    Fate::Zeroed => {
                        if !(model.atomic_sectors && durable_data) {
                            image[s..e].fill(0);
                        }
                        false
                    }
                };
                if new {
                    image[s..e].copy_from_slice(&self.current[s..e]);
                }
            }
        }
        image.truncate(len);
        image
    }
}

/// How many unsynced pages met each fate (figures for the campaign).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FateCounts {
    pub new: u64,
    pub old: u64,
    pub zeroed: u64,
    pub torn: u64,
}

impl FateCounts {
    fn count(&mut self, fate: Fate) {
        match fate {
            Fate::New => self.new += 1,
            Fate::Old => self.old += 1,
            Fate::Zeroed => self.zeroed += 1,
            Fate::Torn => self.torn += 1,
        }
    }
}

#[derive(Debug, Clone)]
enum DirOp {
    Create(String, FileId),
    Rename(String, String),
    Remove(String),
}

/// The replayed state of a recorded directory (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Model {
    files: HashMap<FileId, FileModel>,
    names: BTreeMap<String, FileId>,
    durable_names: BTreeMap<String, FileId>,
    pending: Vec<DirOp>,
    /// Number of operations applied.
    applied: usize,
    /// Index (in the log) of the last data barrier applied.
    last_barrier: Option<usize>,
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    /// Number of operations applied so far.
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// Log index of the last barrier applied (`sync`, `fdatasync`, `msync`).
    pub fn last_barrier(&self) -> Option<usize> {
        self.last_barrier
    }

    /// The next operation of the log.
    pub fn apply(&mut self, op: &Op) {
        let index = self.applied;
        self.applied += 1;
        match op {
            Op::Adopt { name, id, bytes } => {
                let file = FileModel {
                    current: bytes.clone(),
                    durable: bytes.clone(),
                    dirty: BTreeSet::new(),
                };
                self.files.insert(*id, file);
                self.names.insert(name.clone(), *id);
                self.durable_names.insert(name.clone(), *id);
            }
            Op::Create { name, id } => {
                self.files.insert(*id, FileModel::default());
                self.names.insert(name.clone(), *id);
                self.pending.push(DirOp::Create(name.clone(), *id));
            }
            Op::Write { id, offset, bytes } => self.file(*id).write(*offset, bytes),
            Op::SetLen { id, len } => self.file(*id).set_len(*len),
            Op::Sync { id } => {
                self.file(*id).persist(None);
                self.last_barrier = Some(index);
            }
            Op::Flush { id, offset, len } => {
                self.file(*id).persist(Some((*offset, *len)));
                self.last_barrier = Some(index);
            }
            Op::Rename { from, to } => {
                if let Some(id) = self.names.remove(from) {
                    self.names.insert(to.clone(), id);
                }
                self.pending.push(DirOp::Rename(from.clone(), to.clone()));
            }
            Op::Remove { name } => {
                self.names.remove(name);
                self.pending.push(DirOp::Remove(name.clone()));
            }
            Op::SyncDir => {
                self.durable_names = self.names.clone();
                self.pending.clear();
            }
        }
    }

    fn file(&mut self, id: FileId) -> &mut FileModel {
        self.files.entry(id).or_default()
    }

    /// The directory as it is now (every operation done, nothing lost): what a clean
    /// shutdown leaves.
    pub fn current(&self) -> Image {
        let files = self
            .names
            .iter()
            .map(|(name, id)| (name.clone(), self.files[id].current.clone()))
            .collect();
        Image {
            files,
            fates: FateCounts::default(),
        }
    }

    /// The pages written since their file's last barrier, by current file name: the only
    /// pages a crash image may differ in from the durable image.
    pub fn unsynced_pages(&self) -> BTreeMap<String, BTreeSet<u64>> {
        self.names
            .iter()
            .map(|(name, id)| (name.clone(), self.files[id].dirty.clone()))
            .filter(|(_, pages)| !pages.is_empty())
            .collect()
    }

    /// Whether `name` is durable under that name, with its content fully synced.
    pub fn is_durable(&self, name: &str) -> bool {
        self.durable_names.get(name).is_some_and(|id| {
            let f = &self.files[id];
            f.dirty.is_empty() && f.current.len() == f.durable.len()
        })
    }

    /// One directory a power cut at this point could leave.
    pub fn crash(&self, model: CrashModel, rng: &mut Rng) -> Image {
        let mut names = self.durable_names.clone();
        for op in &self.pending {
            if !rng.coin() {
                continue;
            }
            match op {
                DirOp::Create(name, id) => {
                    names.insert(name.clone(), *id);
                }
                DirOp::Rename(from, to) => {
                    if let Some(id) = names.remove(from) {
                        names.insert(to.clone(), id);
                    }
                }
                DirOp::Remove(name) => {
                    names.remove(name);
                }
            }
        }
        let mut fates = FateCounts::default();
        let mut contents: HashMap<FileId, Vec<u8>> = HashMap::new();
        let mut files = Vec::new();
        for (name, id) in names {
            // Two names of one file (a rename both done and not done cannot happen, but
            // a re-created name can) share one crashed content.
            let bytes = contents
                .entry(id)
                .or_insert_with(|| self.files[&id].crash(model, &mut fates, rng))
                .clone();
            files.push((name, bytes));
        }
        Image { files, fates }
    }
}

/// A directory's files after a (simulated) power cut.
#[derive(Debug, Clone)]
pub struct Image {
    /// (file name, bytes), by name.
    pub files: Vec<(String, Vec<u8>)>,
    /// What happened to the unsynced pages.
    pub fates: FateCounts,
}

impl Image {
    /// Writes the files into `dir` (which should be empty).
    pub fn materialize(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes)?;
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(id: FileId, offset: u64, bytes: &[u8]) -> Op {
        Op::Write {
            id,
            offset,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn synced_bytes_survive_and_unsynced_pages_meet_every_fate() {
        let mut m = Model::new();
        m.apply(&Op::Create {
            name: "a".into(),
            id: 0,
        });
        m.apply(&Op::SetLen { id: 0, len: 16384 });
        m.apply(&write(0, 0, &[1; 100]));
        m.apply(&Op::Sync { id: 0 });
        m.apply(&Op::SyncDir);
        // Rewrites the synced page (after the synced bytes) and two fresh pages.
        m.apply(&write(0, 100, &[2; 3 * PAGE - 100]));
        let mut rng = Rng::new(1);
        let mut seen = FateCounts::default();
        for _ in 0..200 {
            let img = m.crash(CrashModel::default(), &mut rng);
            let a = img.get("a").expect("synced name survives");
            assert_eq!(a.len(), 16384);
            assert_eq!(&a[..100], &[1; 100], "synced bytes survive");
            // Every sector is old (zero) or new (2), never a mix inside a sector.
            let whole = |s: &[u8]| s.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 2);
            assert!(whole(&a[100..SECTOR]));
            assert!(a[SECTOR..].chunks(SECTOR).all(whole));
            seen.new += img.fates.new;
            seen.old += img.fates.old;
            seen.zeroed += img.fates.zeroed;
            seen.torn += img.fates.torn;
        }
        assert!(seen.new > 0 && seen.old > 0 && seen.zeroed > 0 && seen.torn > 0);
    }

    #[test]
    fn non_atomic_sectors_can_lose_synced_bytes_of_a_rewritten_page() {
        let mut m = Model::new();
        m.apply(&Op::Adopt {
            name: "a".into(),
            id: 0,
            bytes: vec![0; PAGE],
        });
        m.apply(&write(0, 0, &[1; 8]));
        m.apply(&Op::Sync { id: 0 });
        m.apply(&write(0, 8, &[2; 8]));
        let strict = CrashModel {
            atomic_sectors: false,
        };
        let mut rng = Rng::new(2);
        let lost = (0..100)
            .filter(|_| m.crash(strict, &mut rng).get("a").unwrap()[0] == 0)
            .count();
        assert!(lost > 0, "a zeroed page loses its synced sector");
        let kept = (0..100)
            .all(|_| m.crash(CrashModel::default(), &mut rng).get("a").unwrap()[..8] == [1; 8]);
        assert!(kept);
    }

    #[test]
    fn directory_changes_need_the_directory_sync() {
        let mut m = Model::new();
        m.apply(&Op::Create {
            name: "x.tmp".into(),
            id: 0,
        });
        m.apply(&write(0, 0, b"hello"));
        m.apply(&Op::Sync { id: 0 });
        m.apply(&Op::Rename {
            from: "x.tmp".into(),
            to: "x.active".into(),
        });
        let mut rng = Rng::new(3);
        let mut kinds = BTreeSet::new();
        for _ in 0..100 {
            let img = m.crash(CrashModel::default(), &mut rng);
            let names: Vec<&str> = img.files.iter().map(|(n, _)| n.as_str()).collect();
            assert!(names.len() <= 1, "a rename is atomic: {names:?}");
            if let Some((_, b)) = img.files.first() {
                assert_eq!(b, b"hello");
            }
            kinds.insert(names.first().map(|s| s.to_string()));
        }
        assert_eq!(
            kinds.len(),
            3,
            "absent, x.tmp and x.active all happen: {kinds:?}"
        );
        m.apply(&Op::SyncDir);
        for _ in 0..20 {
            let img = m.crash(CrashModel::default(), &mut rng);
            assert_eq!(img.files.len(), 1);
            assert_eq!(img.files[0].0, "x.active");
        }
    }

    #[test]
    fn unsynced_truncate_keeps_either_length() {
        let mut m = Model::new();
        m.apply(&Op::Adopt {
            name: "a".into(),
            id: 0,
            bytes: vec![7; 3 * PAGE],
        });
        m.apply(&Op::SetLen { id: 0, len: 100 });
        let mut rng = Rng::new(4);
        let lens: BTreeSet<usize> = (0..50)
            .map(|_| {
                m.crash(CrashModel::default(), &mut rng)
                    .get("a")
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(lens, BTreeSet::from([100, 3 * PAGE]));
        m.apply(&Op::Sync { id: 0 });
        assert!(m.is_durable("a"));
        assert_eq!(
            m.crash(CrashModel::default(), &mut rng).get("a").unwrap(),
            &[7; 100][..]
        );
    }
}
