//! The journal writer: one per journal directory (exclusive lock), appending frames, gaps
//! and notes into the active segment, rolling segments on size and time, applying ring
//! retention before each new segment, and recovering after an unclean shutdown.
//!
//! Durability promises: a process crash loses at most the record being written (what
//! was written is in the kernel: the page cache, or the device for `O_DIRECT` records,
//! see `storage`); a power cut loses at most what was appended
//! since the last background sync (`sync_interval`, default 1 s) or [`JournalWriter::sync`],
//! also on media that can destroy a whole 4 KiB page being written (each barrier pads the
//! records to a page boundary, so no page holding synced bytes is written again; at most
//! one page of padding per barrier); `tests/power_cut.rs` checks this on thousands of
//! simulated crash images with and without atomic sectors. Sealed segments are durable
//! once sealed. After an error the writer refuses further appends
//! ([`JournalError::Poisoned`]); what it had sealed stays sealed and the active segment is
//! recovered by the next writer.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod recover;
mod syncer;

pub use recover::refuse_newer_segments;
use recover::restart_gap;
use syncer::{lock, Syncer};

use super::codec::{CodecSpec, Encoder};
use super::error::JournalError;
use super::format::{FrameStats, Gap, Kind, RecordHeader, SegmentHeader, SegmentState};
use super::lock::JournalLock;
use super::reader::list_segments;
use super::ring::{self, Budget, Plan, Sealed};
use super::segment::{capacity_for, ActiveSegment};
use super::storage::{Fs, Storage};
use nightcap_frame::time::now_utc_ns;
use nightcap_frame::{FrameMeta, PixelFormat};

/// How a journal is written.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The journal directory.
    pub dir: PathBuf,
    /// Preallocated size of each segment; segments roll when full.
    pub segment_bytes: u64,
    /// Segments also roll when their first frame is this old (by frame timestamps).
    pub segment_duration_ns: i64,
    /// The ring's byte budget and the disk reserve.
    pub budget: Budget,
    /// zstd level (0 = store uncompressed).
    pub zstd_level: i32,
    /// Interval of the background fdatasync; zero syncs after every record.
    pub sync_interval: Duration,
}

impl WriterConfig {
    /// A configuration for the journal in `dir`, with the defaults.
    pub fn new(dir: impl Into<PathBuf>) -> WriterConfig {
        WriterConfig {
            dir: dir.into(),
            segment_bytes: 256 << 20,
            segment_duration_ns: 15 * 60 * 1_000_000_000,
            budget: Budget {
                ring_bytes: None,
                reserve_bytes: 64 << 20,
            },
            zstd_level: 1,
            sync_interval: Duration::from_secs(1),
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    /// Frames appended.
    pub frames: u64,
    /// Their raw bytes.
    pub raw_bytes: u64,
    /// Their bytes as stored.
    pub stored_bytes: u64,
    /// GAP records appended.
    pub gaps: u64,
    /// Frames the GAPs count as missed.
    pub missed_frames: u64,
    /// Segments sealed.
    pub segments_sealed: u64,
    /// Segments deleted by retention.
    pub segments_deleted: u64,
    /// Bytes deleted by retention.
    pub deleted_bytes: u64,
    /// What recovery found at open, if the previous writer did not shut down cleanly.
    pub recovered: Vec<String>,
}

/// The journal writer. See the module docs for its promises. `S` is where segment files
/// are written: the real file system, or a recording for power-cut tests.
pub struct JournalWriter<S: Storage = Fs> {
    storage: S,
    cfg: WriterConfig,
    /// The stream's format: set in every writer handed out; only the writer inside
    /// [`JournalWriter::recover`], which appends nothing, has none.
    format: Option<PixelFormat>,
    run_id: u64,
    active: Option<ActiveSegment<S>>,
    next_segno: u64,
    next_seq: u64,
    sealed: Vec<Sealed>,
    encoder: Encoder,
    payload: Vec<u8>,
    stats: WriterStats,
    pending_restart: Option<i64>,
    poisoned: bool,
    syncer: Syncer<S::File>,
    /// Always held while the writer lives; taken out only by [`JournalWriter::recover`].
    lock: Option<JournalLock>,
}

impl JournalWriter {
    /// Opens (creating if needed) the journal in `cfg.dir` for frames of `format`: takes
    /// the lock, recovers any active segment left by a crash, and continues its seqs.
    pub fn open(cfg: WriterConfig, format: PixelFormat) -> Result<JournalWriter, JournalError> {
        JournalWriter::open_with(Fs, cfg, format)
    }

    /// Recovers the journal in `cfg.dir` as opening a writer would (removes `.tmp` files,
    /// seals every `.active` segment a crash left, none being resumed, and moves aside the
    /// unfinished rewrite of an interrupted repair) without taking a stream format or
    /// starting a segment. Returns the lock, still held, and what recovery found: for
    /// repair, which must keep other writers out from recovery to its last rewrite.
    pub fn recover(cfg: WriterConfig) -> Result<(JournalLock, WriterStats), JournalError> {
        let mut w = JournalWriter::open_inner(Fs, cfg, None)?;
        w.seal_active()?;
        let stats = std::mem::take(&mut w.stats);
        let lock = w.lock.take().expect("held while the writer lives");
        Ok((lock, stats))
    }
}

impl<S: Storage> JournalWriter<S> {
    /// [`open`](JournalWriter::open) writing through `storage`. Recovery reads the real
    /// files; what it changes goes through `storage`, except the cut of a damaged tail.
    pub fn open_with(
        storage: S,
        cfg: WriterConfig,
        format: PixelFormat,
    ) -> Result<JournalWriter<S>, JournalError> {
        format.validate()?;
        JournalWriter::open_inner(storage, cfg, Some(format))
    }

    fn open_inner(
        storage: S,
        cfg: WriterConfig,
        format: Option<PixelFormat>,
    ) -> Result<JournalWriter<S>, JournalError> {
        refuse_newer_segments(&cfg.dir)?;
        fs::create_dir_all(&cfg.dir).map_err(JournalError::io("creating journal", &cfg.dir))?;
        let lock = JournalLock::take(&cfg.dir)?;
        let mut w = JournalWriter {
            storage,
            encoder: Encoder::new(cfg.zstd_level),
            syncer: Syncer::start(cfg.sync_interval),
            cfg,
            format,
            run_id: random_u64(),
            active: None,
            next_segno: 0,
            next_seq: 0,
            sealed: Vec::new(),
            payload: Vec::new(),
            stats: WriterStats::default(),
            pending_restart: None,
            poisoned: false,
            lock: Some(lock),
        };
        w.recover_dir()?;
        Ok(w)
    }

    fn track_sealed(&mut self, path: &Path, segno: u64) -> Result<(), JournalError> {
        let bytes = fs::metadata(path)
            .map_err(JournalError::io("reading size of", path))?
            .len();
        self.sealed.push(Sealed { segno, bytes });
        self.stats.segments_sealed += 1;
        Ok(())
    }

    /// The format of the frames this writer appends.
    pub fn format(&self) -> &PixelFormat {
        self.format
            .as_ref()
            .expect("every writer handed out has a format")
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Bytes the journal's segments occupy (sealed plus the active one's allocation).
    pub fn journal_bytes(&self) -> u64 {
        self.sealed.iter().map(|s| s.bytes).sum::<u64>()
            + self.active.as_ref().map_or(0, |a| a.capacity())
    }

    /// The seq the next frame will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The encoder used by [`append_frame`](Self::append_frame) (to change its level).
    pub fn encoder(&mut self) -> &mut Encoder {
        &mut self.encoder
    }

    /// Encodes and appends one frame; returns its seq.
    pub fn append_frame(&mut self, meta: &FrameMeta, raw: &[u8]) -> Result<u64, JournalError> {
        self.append_frame_with_stats(meta, raw, None)
    }

    /// Encodes and appends one frame followed by its STATS record (when given); returns
    /// the frame's seq.
    pub fn append_frame_with_stats(
        &mut self,
        meta: &FrameMeta,
        raw: &[u8],
        stats: Option<&FrameStats>,
    ) -> Result<u64, JournalError> {
        self.check_frame(raw.len())?;
        let mut payload = std::mem::take(&mut self.payload);
        let format = *self.format();
        let spec = self.encoder.encode(&format, raw, &mut payload);
        let result = spec.map_err(JournalError::from).and_then(|spec| {
            self.append_encoded_with_stats(meta, spec, raw.len(), &payload, stats)
        });
        self.payload = payload;
        result
    }

    fn check_frame(&self, len: usize) -> Result<(), JournalError> {
        let want = self.format().max_frame_bytes();
        let ok = if self.format().fixed_size() {
            len as u64 == want
        } else {
            len as u64 <= want
        };
        if ok {
            Ok(())
        } else {
            Err(JournalError::FrameSize { got: len, want })
        }
    }

    /// Appends a frame already encoded (by a compression worker); returns its seq.
    pub fn append_encoded(
        &mut self,
        meta: &FrameMeta,
        spec: CodecSpec,
        raw_len: usize,
        payload: &[u8],
    ) -> Result<u64, JournalError> {
        self.append_encoded_with_stats(meta, spec, raw_len, payload, None)
    }

    /// Appends a frame already encoded and, right after it in the same segment, the
    /// STATS record of its statistics (when given); returns the frame's seq.
    pub fn append_encoded_with_stats(
        &mut self,
        meta: &FrameMeta,
        spec: CodecSpec,
        raw_len: usize,
        payload: &[u8],
        stats: Option<&FrameStats>,
    ) -> Result<u64, JournalError> {
        self.check_frame(raw_len)?;
        let codes = (spec.transform.code(), spec.compression.code());
        let header = RecordHeader::frame_record(meta, codes, raw_len, payload);
        let stats = stats.map(FrameStats::encode);
        let seq =
            self.append_record(header, payload, Some((meta.time_utc_ns, stats.as_deref())))?;
        self.stats.frames += 1;
        self.stats.raw_bytes += raw_len as u64;
        self.stats.stored_bytes += payload.len() as u64;
        Ok(seq)
    }

    /// Appends a GAP record.
    pub fn append_gap(&mut self, gap: &Gap) -> Result<(), JournalError> {
        let payload = gap.encode();
        let h = RecordHeader::meta_record(Kind::Gap, 0, gap.start_ns, &payload, 0);
        self.append_record(h, &payload, None)?;
        self.stats.gaps += 1;
        self.stats.missed_frames += gap.count;
        Ok(())
    }

    /// Appends a NOTE record (truncated to the format's cap).
    pub fn append_note(&mut self, time_ns: i64, text: &str) -> Result<(), JournalError> {
        let mut end = text.len().min(super::format::MAX_NOTE_LEN as usize);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let payload = &text.as_bytes()[..end];
        let h = RecordHeader::meta_record(Kind::Note, 0, time_ns, payload, 0);
        self.append_record(h, payload, None)?;
        Ok(())
    }

    /// Appends one record; `frame` (a FRAME's exposure start and the STATS payload to
    /// follow it, if any) for frames.
    fn append_record(
        &mut self,
        header: RecordHeader,
        payload: &[u8],
        frame: Option<(i64, Option<&[u8]>)>,
    ) -> Result<u64, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let result = self.try_append(header, payload, frame);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn try_append(
        &mut self,
        header: RecordHeader,
        payload: &[u8],
        frame: Option<(i64, Option<&[u8]>)>,
    ) -> Result<u64, JournalError> {
        let frame_ns = frame.map(|(t, _)| t);
        let stats = frame.and_then(|(_, s)| s);
        // A frame after a restart is preceded by the restart GAP, and a frame's STATS
        // record follows it: all must fit in one segment (a resumed segment can be
        // nearly full).
        let gap_len = frame_ns
            .and_then(|t| self.pending_restart.map(|start| restart_gap(start, t)))
            .map(|g| g.encode().len());
        let (mut all, mut n) = ([0usize; 3], 0);
        for len in gap_len
            .into_iter()
            .chain([payload.len()])
            .chain(stats.map(<[u8]>::len))
        {
            all[n] = len;
            n += 1;
        }
        let lens = &all[..n];
        // Held from taking in the padding to the end of the write: no barrier places one
        // meanwhile (see `Syncer`).
        let shared = Arc::clone(&self.syncer.shared);
        let mut fence = lock(&shared.fence);
        if let (Some(a), Some(pad)) = (self.active.as_mut(), fence.placed.take()) {
            a.adopt_padding(&pad);
        }
        let roll = match (&self.active, frame_ns) {
            (None, _) => false,
            (Some(a), _) if !a.has_room_for(lens) => true,
            (Some(a), Some(t)) => a
                .first_frame_ns()
                .is_some_and(|t0| t - t0 >= self.cfg.segment_duration_ns),
            (Some(_), None) => false,
        };
        if roll || self.active.is_none() {
            // Sealing and starting take the syncer's file lock, which comes first. A new
            // segment has no padding due until its first record.
            drop(fence);
            if roll {
                self.seal_active()?;
            }
            self.start_segment(lens.iter().sum())?;
            fence = lock(&shared.fence);
        }
        let mut active = self.active.take().expect("a segment was just started");
        if let Some(t) = frame_ns {
            self.append_restart_gap(&mut active, t)?;
        }
        let seq = active.append(header, payload)?;
        if let Some(p) = stats {
            let h = RecordHeader::meta_record(Kind::Stats, seq, header.time_ns, p, 0);
            active.append_copy(h, p)?;
        }
        fence.due = active.padding(header.time_ns);
        drop(fence);
        self.next_seq = active.next_seq();
        self.active = Some(active);
        if self.cfg.sync_interval.is_zero() {
            self.syncer
                .sync_now()
                .map_err(JournalError::io("syncing", &self.cfg.dir))?;
        }
        Ok(seq)
    }

    /// Applies retention and creates the next segment, big enough for `payload_len`.
    fn start_segment(&mut self, payload_len: usize) -> Result<(), JournalError> {
        // Room for this record plus a restart GAP that may precede it.
        let capacity = self
            .cfg
            .segment_bytes
            .max(capacity_for(payload_len as u64 + 8192));
        self.apply_retention(capacity)?;
        let header = SegmentHeader {
            run_id: self.run_id,
            segno: self.next_segno,
            salt: random_u64(),
            created_ns: now_utc_ns(),
            first_seq: self.next_seq,
            format: *self.format(),
            default_transform: super::codec::default_transform(self.format()).code(),
            default_compression: u8::from(self.cfg.zstd_level != 0),
            zstd_level: self.cfg.zstd_level.clamp(-128, 127) as i8,
        };
        let active =
            match ActiveSegment::create_with(&self.storage, &self.cfg.dir, header, capacity) {
                Err(JournalError::Io { source, .. }) if source.raw_os_error() == Some(28) => {
                    return Err(JournalError::DiskFull {
                        dir: self.cfg.dir.clone(),
                        needed: capacity,
                        reserve: self.cfg.budget.reserve_bytes,
                        available: free_bytes(&self.cfg.dir).unwrap_or(0),
                    })
                }
                other => other?,
            };
        self.next_segno += 1;
        self.syncer.watch(active.file_handle()?, None);
        self.active = Some(active);
        Ok(())
    }

    fn apply_retention(&mut self, new_bytes: u64) -> Result<(), JournalError> {
        let free = free_bytes(&self.cfg.dir)
            .map_err(JournalError::io("checking free space in", &self.cfg.dir))?;
        match ring::plan(&self.sealed, 0, new_bytes, free, self.cfg.budget) {
            Plan::Delete(segnos) => {
                for segno in segnos {
                    self.delete_sealed(segno)?;
                }
                Ok(())
            }
            Plan::RingTooSmall { needed } => Err(JournalError::RingFull {
                dir: self.cfg.dir.clone(),
                budget: self.cfg.budget.ring_bytes.unwrap_or(0),
                needed,
            }),
            Plan::DiskTooFull { needed, available } => Err(JournalError::DiskFull {
                dir: self.cfg.dir.clone(),
                needed,
                reserve: self.cfg.budget.reserve_bytes,
                available,
            }),
        }
    }

    fn delete_sealed(&mut self, segno: u64) -> Result<(), JournalError> {
        for (path, name) in list_segments(&self.cfg.dir)? {
            if name.segno == segno && name.state == SegmentState::Sealed {
                self.storage
                    .remove_file(&path)
                    .map_err(JournalError::io("deleting old segment", &path))?;
            }
        }
        if let Some(i) = self.sealed.iter().position(|s| s.segno == segno) {
            let s = self.sealed.remove(i);
            self.stats.segments_deleted += 1;
            self.stats.deleted_bytes += s.bytes;
        }
        Ok(())
    }

    /// Seals the active segment, if any; returns its sealed path.
    pub fn seal_active(&mut self) -> Result<Option<PathBuf>, JournalError> {
        let Some(mut active) = self.active.take() else {
            return Ok(None);
        };
        // The syncer is stopped first: no barrier places padding after this.
        if let Some(pad) = self.syncer.unwatch() {
            active.adopt_padding(&pad);
        }
        let segno = active.header().segno;
        let sealed = active.seal(now_utc_ns())?;
        self.track_sealed(&sealed, segno)?;
        Ok(Some(sealed))
    }

    /// Makes everything appended so far durable now (fdatasync of the active segment),
    /// without waiting for the background sync. Like every barrier it first pads the
    /// records to a page boundary (a padding NOTE, unless they end on one), so the next
    /// record starts on a fresh page.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.syncer
            .sync_now()
            .map_err(JournalError::io("syncing", &self.cfg.dir))
    }

    /// Seals the active segment and releases the journal.
    pub fn close(mut self) -> Result<WriterStats, JournalError> {
        self.seal_active()?;
        Ok(std::mem::take(&mut self.stats))
    }
}

impl<S: Storage> Drop for JournalWriter<S> {
    fn drop(&mut self) {
        // Not sealing here: a writer dropped without `close` behaves like a crash, which
        // the next writer recovers from. A last sync keeps what was appended.
        let _ = self.syncer.sync_now();
        self.syncer.stop();
    }
}

/// Free bytes available to us on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// A random u64 from the OS (run ids and salts need not be cryptographic, only unique).
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = now_utc_ns() as u64 ^ (u64::from(std::process::id()) << 32);
        return t.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::recover::cut_tail;
    use super::*;
    use crate::reader::Journal;
    use nightcap_frame::{Cfa, Packing};
    use std::fs::OpenOptions;
    use std::os::unix::fs::FileExt;

    #[test]
    fn a_segment_cut_twice_keeps_both_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000-20261124T000000Z.active");
        let mut bytes = vec![0u8; 4096];
        bytes[256..300].fill(0xA1);
        std::fs::write(&path, &bytes).unwrap();
        let (n, tail) = cut_tail(&Fs, &path, 256).unwrap().unwrap();
        assert_eq!(n, 44);
        assert!(std::fs::read(&path).unwrap()[256..].iter().all(|&b| b == 0));
        // The segment is resumed, written, and damaged again.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xB2; 10], 512).unwrap();
        let (n, again) = cut_tail(&Fs, &path, 256).unwrap().unwrap();
        assert_eq!((n, &again), (266, &tail));
        let kept = std::fs::read(&tail).unwrap();
        assert_eq!(kept.len(), 44 + 266);
        assert!(
            kept[..44].iter().all(|&b| b == 0xA1),
            "the first cut was lost"
        );
        assert_eq!(&kept[44 + 256..], &[0xB2; 10]);
    }

    fn format() -> PixelFormat {
        PixelFormat {
            fourcc: *b"TEST",
            width: 32,
            height: 32,
            stride: 32,
            bit_depth: 8,
            cfa: Cfa::Rggb,
            packing: Packing::U8,
        }
    }

    fn meta(i: u64) -> FrameMeta {
        FrameMeta {
            seq: 0,
            time_utc_ns: 1_795_996_800_000_000_000 + i as i64 * 1_000_000_000,
            exposure_us: 1000,
            gain_milli: 1000,
            driver_seq: i as u32,
            driver_ts_ns: i,
        }
    }

    #[test]
    fn first_frame_after_restart_rolls_when_it_and_the_restart_gap_do_not_both_fit() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = WriterConfig::new(dir.path());
        cfg.segment_bytes = 32 << 10;
        cfg.zstd_level = 0;
        cfg.budget.reserve_bytes = 0;
        let frame = vec![7u8; 1024];
        let mut w = JournalWriter::open(cfg.clone(), format()).unwrap();
        w.append_frame(&meta(0), &frame).unwrap();
        let stored = w.stats().stored_bytes as usize;
        let gap = restart_gap(0, 0).encode().len();
        // Fill with frames, then small notes, until the next frame fits alone but not
        // after a restart GAP.
        let mut i = 1;
        loop {
            let a = w.active.as_ref().unwrap();
            if a.has_room(stored) && !a.has_room_for(&[gap, stored]) {
                break;
            }
            assert!(a.has_room(stored), "stepped past the window");
            if a.has_room_for(&[gap, stored, stored]) {
                w.append_frame(&meta(i), &frame).unwrap();
                i += 1;
            } else {
                w.append_note(0, "pad").unwrap();
            }
        }
        drop(w); // an unclean shutdown: not sealed
        let mut w = JournalWriter::open(cfg, format()).unwrap();
        assert!(w.active.is_some(), "the segment is resumed");
        w.append_frame(&meta(i), &frame).unwrap();
        w.close().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert!(j.all_damage().is_empty(), "{:?}", j.all_damage());
        assert_eq!(j.frames().len() as u64, i + 1);
        assert_eq!(
            j.segments.len(),
            2,
            "the first frame after the restart rolled"
        );
    }

    #[test]
    fn the_record_after_a_barrier_starts_on_a_fresh_page_after_a_padding_note() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = WriterConfig::new(dir.path());
        cfg.segment_bytes = 64 << 10;
        cfg.zstd_level = 0;
        cfg.budget.reserve_bytes = 0;
        // Only explicit barriers.
        cfg.sync_interval = Duration::from_secs(3600);
        let frames: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; 1024]).collect();
        let mut w = JournalWriter::open(cfg, format()).unwrap();
        w.append_frame(&meta(0), &frames[0]).unwrap();
        w.sync().unwrap();
        w.sync().unwrap(); // nothing new: no second padding
        w.append_frame(&meta(1), &frames[1]).unwrap();
        w.append_frame(&meta(2), &frames[2]).unwrap();
        w.close().unwrap();

        let j = Journal::open(dir.path()).unwrap();
        assert!(j.all_damage().is_empty(), "{:?}", j.all_damage());
        let seg = &j.segments[0];
        let layout: Vec<(Kind, u64)> = seg.records.iter().map(|e| (e.kind, e.offset)).collect();
        // Header 256, a padding NOTE to 512 and the header copy to 1152, then record
        // header 64 + 1024 bytes: the first frame ends at 2240, not on a page boundary;
        // the padding NOTE fills the page, the second frame starts the next one, and the
        // third (written without a barrier) follows it directly; sealing adds the second
        // header copy before the footer.
        assert_eq!(
            layout,
            [
                (Kind::Note, 256),
                (Kind::Note, 512),
                (Kind::Frame, 1152),
                (Kind::Note, 2240),
                (Kind::Frame, 4096),
                (Kind::Frame, 4096 + 1088),
                (Kind::Note, 4096 + 2 * 1088),
            ]
        );
        let pad = seg.read_note(&seg.records[3]).unwrap();
        assert_eq!(pad.len(), 4096 - 2240 - 64);
        assert!(super::super::segment::is_padding(pad.as_bytes()));
        let mut dec = super::super::codec::Decoder::new();
        let mut scratch = Vec::new();
        let got: Vec<(u64, Vec<u8>)> = j
            .frames()
            .iter()
            .map(|r| {
                let f = j.read_frame(r, &mut dec, &mut scratch).unwrap();
                (f.meta.seq, f.data.to_vec())
            })
            .collect();
        assert_eq!(
            got,
            frames
                .into_iter()
                .enumerate()
                .map(|(i, f)| (i as u64, f))
                .collect::<Vec<_>>()
        );
    }
}
