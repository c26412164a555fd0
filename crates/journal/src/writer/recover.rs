//! Recovery after an unclean shutdown, done when a writer opens a journal: `.tmp` files
//! removed, the last `.active` segment resumed (same format, room left) or sealed with
//! its valid prefix (a damaged tail cut to a `.tail` file, an unreadable header rebuilt
//! from the records), other `.active` segments sealed, the unfinished rewrite of an
//! interrupted repair moved aside, and a GAP recording the time the capture was down.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::JournalWriter;
use crate::error::JournalError;
use crate::format::{
    FormatFault, Gap, GapReason, Kind, RecordHeader, SegmentHeader, SegmentName, SegmentState,
    HEADER_LEN, TAIL_EXTENSION,
};
use crate::reader::{list_segments, Segment};
use crate::ring::Sealed;
use crate::segment::ActiveSegment;
use crate::storage::{Storage, StorageFile};
use nightcap_frame::time::now_utc_ns;

impl<S: Storage> JournalWriter<S> {
    /// Scans the directory, removes `.tmp` files, and resumes or seals `.active` ones.
    pub(super) fn recover_dir(&mut self) -> Result<(), JournalError> {
        let dir = self.cfg.dir.clone();
        let files = list_segments(&dir)?;
        let last_active = files
            .iter()
            .rev()
            .find(|(_, n)| n.state == SegmentState::Active)
            .map(|(p, _)| p.clone());
        let sealed_segnos: std::collections::HashSet<u64> = files
            .iter()
            .filter(|(_, n)| n.state == SegmentState::Sealed)
            .map(|(_, n)| n.segno)
            .collect();
        for (path, name) in files {
            self.next_segno = self.next_segno.max(name.segno + 1);
            match name.state {
                // An `.active` beside a `.seg` of the same number is the unfinished rewrite
                // of an interrupted `nightcap repair` (sealing renames `.active` to `.seg`
                // atomically, so capture never leaves both). The sealed segment is the
                // truth: resuming or sealing the partial copy would replace it and lose
                // its records. Kept aside under a name nightcap ignores.
                SegmentState::Active if sealed_segnos.contains(&name.segno) => {
                    let aside = path.with_extension("active.interrupted");
                    self.storage
                        .rename(&path, &aside)
                        .map_err(JournalError::io("moving aside", &path))?;
                    self.stats.recovered.push(format!(
                        "{}: unfinished rewrite of a sealed segment (interrupted repair); moved to {}",
                        path.display(),
                        aside.display()
                    ));
                }
                SegmentState::Tmp => self
                    .storage
                    .remove_file(&path)
                    .map_err(JournalError::io("removing", &path))?,
                SegmentState::Sealed => {
                    let bytes = fs::metadata(&path)
                        .map_err(JournalError::io("reading size of", &path))?
                        .len();
                    self.sealed.push(Sealed {
                        segno: name.segno,
                        bytes,
                    });
                    if let Ok(seg) = Segment::open(&path, name) {
                        self.note_seq_end(&seg);
                    }
                }
                SegmentState::Active => {
                    let resume = Some(&path) == last_active.as_ref();
                    self.recover_active(&path, name, resume)?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn note_seq_end(&mut self, seg: &Segment) {
        self.next_seq = self.next_seq.max(seg.next_seq);
    }

    pub(super) fn recover_active(
        &mut self,
        path: &Path,
        name: SegmentName,
        resume: bool,
    ) -> Result<(), JournalError> {
        let seg = match Segment::open(path, name.clone()) {
            Ok(seg) => seg,
            Err(JournalError::Segment { fault, .. }) => {
                // One bad byte in the header must not cost the frames behind it: rebuild
                // the header from the records (every frame must then decode) and seal.
                let neighbours: Vec<_> = list_segments(&self.cfg.dir)?
                    .into_iter()
                    .filter_map(|(p, n)| Segment::open(&p, n).ok())
                    .map(|s| s.header)
                    .collect();
                if let Some(done) =
                    crate::rewrite::rebuild(&self.cfg.dir, path, &name, &neighbours, None)?
                {
                    let sealed = path.with_extension(SegmentState::Sealed.extension());
                    let sealed_name = SegmentName {
                        state: SegmentState::Sealed,
                        ..name.clone()
                    };
                    if let Ok(seg) = Segment::open(&sealed, sealed_name) {
                        self.note_seq_end(&seg);
                        let bytes = seg.len;
                        self.sealed.push(Sealed {
                            segno: name.segno,
                            bytes,
                        });
                    }
                    self.stats.recovered.push(format!(
                        "{}: header unreadable ({fault}); rebuilt from its records and sealed, {} kept, original kept as {}",
                        path.display(),
                        if done.frames_kept == 1 { "1 frame".to_string() } else { format!("{} frames", done.frames_kept) },
                        done.original.display()
                    ));
                    return Ok(());
                }
                let aside = path.with_extension(TAIL_EXTENSION);
                self.storage
                    .rename(path, &aside)
                    .map_err(JournalError::io("moving aside", path))?;
                self.stats.recovered.push(format!(
                    "{}: header unreadable ({fault}); moved to {}",
                    path.display(),
                    aside.display()
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.note_seq_end(&seg);
        let cut = cut_tail(&self.storage, path, seg.valid_end)?;
        let frames = seg.frames().count();
        self.stats.recovered.push(format!(
            "{}: unclean shutdown; {frames} frames kept{}",
            path.display(),
            cut.map(|(n, p)| format!(", {n} damaged bytes moved to {}", p.display()))
                .unwrap_or_default()
        ));
        let last_end = seg
            .frames()
            .last()
            .map(|e| e.time_ns + i64::from(e.exposure_us) * 1000);
        let Segment {
            header,
            valid_end,
            records,
            ..
        } = seg;
        let mut active = ActiveSegment::resume(
            &self.storage,
            &self.cfg.dir,
            path.to_path_buf(),
            header,
            valid_end,
            records,
        )?;
        self.pending_restart = last_end.or(self.pending_restart);
        if resume && Some(header.format) == self.format && active.used() < self.cfg.segment_bytes {
            let due = active.padding(now_utc_ns());
            self.syncer.watch(active.file_handle()?, due);
            self.active = Some(active);
        } else {
            let now = now_utc_ns();
            if self.pending_restart.is_some() && active.has_room(4096) {
                self.append_restart_gap(&mut active, now)?;
            }
            let sealed = active.seal(now)?;
            self.track_sealed(&sealed, header.segno)?;
        }
        Ok(())
    }

    pub(super) fn append_restart_gap(
        &mut self,
        active: &mut ActiveSegment<S>,
        until_ns: i64,
    ) -> Result<(), JournalError> {
        if let Some(start) = self.pending_restart.take() {
            let payload = restart_gap(start, until_ns).encode();
            let h = RecordHeader::meta_record(Kind::Gap, 0, start, &payload, 0);
            active.append(h, &payload)?;
            self.stats.gaps += 1;
        }
        Ok(())
    }
}

/// The GAP that marks the time between the last frame before an unclean shutdown
/// (`start`) and the first after it.
pub(super) fn restart_gap(start: i64, until_ns: i64) -> Gap {
    Gap {
        count: 0,
        start_ns: start,
        end_ns: until_ns.max(start),
        reason: GapReason::Restart,
        text: "capture restarted after an unclean shutdown".into(),
    }
}

/// Moves the non-zero bytes after `valid_end` of an active segment into a `.tail` file
/// and zeroes them, so appending can continue at `valid_end`. The zeroing goes through
/// `storage` (it changes the segment); reading and the `.tail` copy (kept for a human,
/// not journal data) use the file system directly.
pub(super) fn cut_tail<S: Storage>(
    storage: &S,
    path: &Path,
    valid_end: u64,
) -> Result<Option<(u64, PathBuf)>, JournalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(JournalError::io("opening", path))?;
    let len = file
        .metadata()
        .map_err(JournalError::io("reading size of", path))?
        .len();
    let mut last_nonzero = None;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = valid_end;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)
            .map_err(JournalError::io("reading", path))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            last_nonzero = Some(at + i as u64);
        }
        at += n as u64;
    }
    let Some(last) = last_nonzero else {
        return Ok(None);
    };
    let tail_len = last + 1 - valid_end;
    let tail_path = path.with_extension(TAIL_EXTENSION);
    // Appended, never truncated: a segment recovered twice (a crash, a resume, another
    // crash) keeps the bytes of both cuts. A cut repeated after a crash mid-copy only
    // repeats bytes; nothing set aside is ever lost.
    let mut tail = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&tail_path)
        .map_err(JournalError::io("creating", &tail_path))?;
    let mut src = &file;
    src.seek(std::io::SeekFrom::Start(valid_end))
        .map_err(JournalError::io("reading", path))?;
    std::io::copy(&mut src.take(tail_len), &mut tail)
        .map_err(JournalError::io("writing", &tail_path))?;
    tail.sync_all()
        .map_err(JournalError::io("syncing", &tail_path))?;
    let seg = storage
        .open_rw(path)
        .map_err(JournalError::io("opening", path))?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = valid_end;
    while at <= last {
        let n = (last + 1 - at).min(zeros.len() as u64) as usize;
        seg.write_bytes(&zeros[..n], at)
            .map_err(JournalError::io("zeroing tail of", path))?;
        at += n as u64;
    }
    seg.sync_data().map_err(JournalError::io("syncing", path))?;
    Ok(Some((tail_len, tail_path)))
}

/// A journal holding a segment of a newer major format version is not ours to touch
/// (recovery would move its active segment aside, appending would mix versions): refused
/// before the lock or recovery change anything.
pub fn refuse_newer_segments(dir: &Path) -> Result<(), JournalError> {
    if !dir.is_dir() {
        return Ok(());
    }
    for (path, _) in list_segments(dir)? {
        let mut head = [0u8; HEADER_LEN];
        let Ok(mut file) = File::open(&path) else {
            continue;
        };
        if file.read_exact(&mut head).is_err() {
            continue;
        }
        if let Err(fault @ FormatFault::NewerMajor { .. }) = SegmentHeader::decode(&head) {
            return Err(JournalError::Segment { path, fault });
        }
    }
    Ok(())
}
