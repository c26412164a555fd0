//! Offline inspection of a journal: summaries (`nightcap info`) and full verification
//! (`nightcap verify`). Pure library code: the CLI only formats what this returns.

use std::path::PathBuf;

use rayon::prelude::*;

use super::codec::{rows_fit, Decoder};
use super::error::Damage;
use super::format::{GapReason, IndexEntry, Kind, SegmentState};
use super::reader::{Journal, OpenedBy, ReadError};
use super::segment::is_padding;

/// One segment in a summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentSummary {
    /// The segment file.
    pub file: PathBuf,
    /// Its number.
    pub segno: u64,
    /// Its state.
    pub state: SegmentState,
    /// Whether its footer or a scan indexed it.
    pub opened_by: OpenedBy,
    /// Its size on disk.
    pub bytes: u64,
    /// Frames readable in it.
    pub frames: u64,
    /// Seq of its first frame.
    pub first_seq: Option<u64>,
    /// Seq of its last frame.
    pub last_seq: Option<u64>,
    /// Exposure start of its first frame, UTC ns.
    pub start_ns: Option<i64>,
    /// Exposure end of its last frame, UTC ns.
    pub end_ns: Option<i64>,
    /// Its stream format, in words.
    pub format: String,
}

/// A frame whose time is earlier than the frame before it (by seq).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClockStep {
    /// The frame's seq.
    pub seq: u64,
    /// Exposure start of the frame before it, UTC ns.
    pub before_ns: i64,
    /// Exposure start of the frame itself, UTC ns (earlier than `before_ns`).
    pub after_ns: i64,
}

/// A GAP, for summaries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GapSummary {
    /// Start of the gap, UTC ns.
    pub start_ns: i64,
    /// End of the gap, UTC ns.
    pub end_ns: i64,
    /// Frames missed.
    pub count: u64,
    /// Why.
    pub reason: GapReason,
    /// Details in words.
    pub text: String,
}

/// A NOTE, for summaries (padding NOTEs, see `segment::is_padding`, are left out).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoteSummary {
    /// When it was written, UTC ns.
    pub time_ns: i64,
    /// The seq of the frame that follows it.
    pub seq: u64,
    /// The note.
    pub text: String,
}

/// A run of frames re-timed ([`crate::retime`]).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RetimedRun {
    /// The first frame moved.
    pub first_seq: u64,
    /// The last frame moved.
    pub last_seq: u64,
    /// How far the first one moved, ns (positive: later).
    pub shift_ns: i64,
}

/// What `nightcap info` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JournalSummary {
    /// The journal directory.
    pub dir: PathBuf,
    /// Every segment.
    pub segments: Vec<SegmentSummary>,
    /// Frames readable.
    pub frames: u64,
    /// Seq of the first frame.
    pub first_seq: Option<u64>,
    /// Seq of the last frame.
    pub last_seq: Option<u64>,
    /// Exposure start of the first frame, UTC ns.
    pub start_ns: Option<i64>,
    /// Exposure end of the last frame, UTC ns.
    pub end_ns: Option<i64>,
    /// Exposure time of every frame, summed, microseconds.
    pub total_exposure_us: u64,
    /// Times the clock stepped back between consecutive frames (in seq order): frames
    /// after a step can carry the same times as earlier ones for other moments.
    pub clock_steps_back: Vec<ClockStep>,
    /// Frames stamped before the clock was set, re-timed by the camera's clock
    /// ([`crate::retime`]): per capture, the first and last seq moved and by how much.
    pub retimed: Vec<RetimedRun>,
    /// Dead time between consecutive frames (the end of one exposure to the start of the
    /// next), ms: median and maximum.
    pub dead_time_p50_ms: f64,
    /// Longest dead time between consecutive exposures, ms.
    pub dead_time_max_ms: f64,
    /// Bytes of the segment files.
    pub bytes_on_disk: u64,
    /// Bytes of the frames as the camera delivered them.
    pub raw_bytes: u64,
    /// Bytes the frame records take in the segments.
    pub stored_bytes: u64,
    /// Raw bytes over stored bytes of the frames.
    pub compression_ratio: f64,
    /// Every GAP.
    pub gaps: Vec<GapSummary>,
    /// Frames the GAPs count as missed.
    pub missed_frames: u64,
    /// The NOTEs with something in them (damaged ones are in `damage`).
    pub notes: Vec<NoteSummary>,
    /// Bytes taken by padding NOTEs (at most a page per sync of the writer).
    pub padding_bytes: u64,
    /// Frames whose writer stored their statistics (STATS records, format 1.2 and
    /// later); the others are measured when a reader needs them.
    pub frames_measured: u64,
    /// Damage found in the indexes.
    pub damage: Vec<Damage>,
}

/// Summarises a journal from its indexes, without decoding frames.
pub fn summarize(j: &Journal) -> JournalSummary {
    let mut segments = Vec::new();
    let (mut frames, mut raw, mut stored, mut exposure) = (0u64, 0u64, 0u64, 0u64);
    let all = j.frames();
    for (i, s) in j.segments.iter().enumerate() {
        // Entries with their (re-timed) start times.
        let fr: Vec<IndexEntry> = all
            .iter()
            .filter(|r| r.segment == i)
            .map(|r| IndexEntry {
                time_ns: r.time_ns,
                ..r.entry
            })
            .collect();
        let n = fr.len() as u64;
        frames += n;
        raw += n * s.header.format.max_frame_bytes();
        stored += s.stored_frame_bytes();
        exposure += fr.iter().map(|e| u64::from(e.exposure_us)).sum::<u64>();
        segments.push(SegmentSummary {
            file: s.path.clone(),
            segno: s.name.segno,
            state: s.name.state,
            opened_by: s.opened_by,
            bytes: s.len,
            frames: n,
            first_seq: fr.first().map(|e| e.seq),
            last_seq: fr.last().map(|e| e.seq),
            start_ns: fr.first().map(|e| e.time_ns),
            end_ns: fr
                .last()
                .map(|e| e.time_ns + i64::from(e.exposure_us) * 1000),
            format: s.header.format.to_string(),
        });
    }
    let (dead_time_p50_ms, dead_time_max_ms) = dead_times(j);
    let clock_steps_back = clock_steps_back(j);
    let (gaps, mut damage) = j.gaps();
    damage.extend(j.all_damage());
    let (notes, padding_bytes) = notes(j, &mut damage);
    let gaps: Vec<GapSummary> = gaps
        .into_iter()
        .map(|g| GapSummary {
            start_ns: g.start_ns,
            end_ns: g.end_ns,
            count: g.count,
            reason: g.reason,
            text: g.text,
        })
        .collect();
    JournalSummary {
        dir: j.dir.clone(),
        frames,
        first_seq: segments.iter().find_map(|s| s.first_seq),
        last_seq: segments.iter().rev().find_map(|s| s.last_seq),
        // The earliest and latest, not the first and last: after a clock step the last
        // frame can be earlier than the first.
        start_ns: segments.iter().filter_map(|s| s.start_ns).min(),
        end_ns: segments.iter().filter_map(|s| s.end_ns).max(),
        total_exposure_us: exposure,
        clock_steps_back,
        retimed: j
            .retimed
            .runs
            .iter()
            .map(|&(first_seq, last_seq, shift_ns)| RetimedRun {
                first_seq,
                last_seq,
                shift_ns,
            })
            .collect(),
        dead_time_p50_ms,
        dead_time_max_ms,
        bytes_on_disk: segments.iter().map(|s| s.bytes).sum(),
        raw_bytes: raw,
        stored_bytes: stored,
        compression_ratio: if stored > 0 {
            raw as f64 / stored as f64
        } else {
            0.0
        },
        missed_frames: gaps.iter().map(|g| g.count).sum(),
        gaps,
        notes,
        padding_bytes,
        frames_measured: all
            .iter()
            .filter(|r| j.segments[r.segment].stats_entry(r.entry.seq).is_some())
            .count() as u64,
        segments,
        damage,
    }
}

/// A frame's index entry with its (re-timed) start time.
fn retimed_entry(r: crate::FrameRef) -> IndexEntry {
    IndexEntry {
        time_ns: r.time_ns,
        ..r.entry
    }
}

/// Every frame whose time is earlier than that of the frame before it (by seq).
fn clock_steps_back(j: &Journal) -> Vec<ClockStep> {
    let mut frames: Vec<_> = j.frames().into_iter().map(retimed_entry).collect();
    frames.sort_by_key(|e| e.seq);
    frames
        .windows(2)
        .filter(|p| p[1].time_ns < p[0].time_ns)
        .map(|p| ClockStep {
            seq: p[1].seq,
            before_ns: p[0].time_ns,
            after_ns: p[1].time_ns,
        })
        .collect()
}

/// Median and maximum dead time (ms) between frames with consecutive seqs.
fn dead_times(j: &Journal) -> (f64, f64) {
    let mut frames: Vec<_> = j.frames().into_iter().map(retimed_entry).collect();
    frames.sort_by_key(|e| e.seq);
    let dead: Vec<i64> = frames
        .windows(2)
        .filter(|p| p[1].seq == p[0].seq + 1)
        .map(|p| (p[1].time_ns - p[0].time_ns - i64::from(p[0].exposure_us) * 1000).max(0))
        .collect();
    median_and_max_ms(dead)
}

/// Median and maximum of durations in ns, as ms (0 without any).
pub fn median_and_max_ms(mut ns: Vec<i64>) -> (f64, f64) {
    if ns.is_empty() {
        return (0.0, 0.0);
    }
    ns.sort_unstable();
    let ms = |v: i64| v as f64 / 1e6;
    (ms(ns[(ns.len() - 1) / 2]), ms(ns[ns.len() - 1]))
}

/// The journal's NOTEs other than padding, and the bytes the padding takes. A NOTE that
/// cannot be read is added to `damage`.
fn notes(j: &Journal, damage: &mut Vec<Damage>) -> (Vec<NoteSummary>, u64) {
    let mut notes = Vec::new();
    let mut padding = 0;
    let mut buf = Vec::new();
    for s in &j.segments {
        for e in s.records.iter().filter(|e| e.kind == Kind::Note) {
            match s.read_record(e, &mut buf) {
                Ok(h) if is_padding(&buf) => padding += h.next_offset(e.offset) - e.offset,
                // The segment's copies of its header (for rebuilding it) are not notes.
                Ok(_) if super::segment::is_header_copy(&buf) => {}
                Ok(_) => notes.push(NoteSummary {
                    time_ns: e.time_ns,
                    seq: e.seq,
                    text: String::from_utf8_lossy(&buf).into_owned(),
                }),
                Err(ReadError::Damaged(d)) => damage.push(d),
            }
        }
    }
    (notes, padding)
}

/// What `nightcap verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// Segments read.
    pub segments: u64,
    /// Frames decoded.
    pub frames_checked: u64,
    /// Frames that decoded intact.
    pub frames_ok: u64,
    /// Records checked.
    pub records_checked: u64,
    /// Everything found damaged.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// Whether nothing was found damaged.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Reads and decodes every record of every segment (frames in parallel), verifying all
/// CRCs and zstd checksums. `progress` is called with the number of frames done so far.
pub fn verify(j: &Journal, progress: &(dyn Fn(u64) + Sync)) -> VerifyReport {
    let frames = j.frames();
    let done = std::sync::atomic::AtomicU64::new(0);
    let frame_damage: Vec<Damage> = frames
        .par_iter()
        .map_init(
            || (Decoder::new(), Vec::new(), Vec::new()),
            |(dec, scratch, out), r| {
                let seg = &j.segments[r.segment];
                // Raw frames are decoded band by band (the same checks, one frame less
                // held per worker).
                let result = if rows_fit(&seg.header.format) {
                    seg.read_frame_rows(&r.entry, dec, scratch, 64, &mut |_, _| {})
                        .map(|_| ())
                } else {
                    seg.read_frame(&r.entry, dec, scratch, out).map(|_| ())
                };
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(n);
                result.err()
            },
        )
        .flatten()
        .map(|ReadError::Damaged(d)| d)
        .collect();
    let mut damage = j.all_damage();
    let mut records = frames.len() as u64;
    for s in &j.segments {
        for e in s.records.iter().filter(|e| e.kind != Kind::Frame) {
            records += 1;
            let result = match e.kind {
                Kind::Gap => s.read_gap(e).map(|_| ()),
                Kind::Stats => s.read_stats(e).map(|_| ()),
                _ => s.read_note(e).map(|_| ()),
            };
            if let Err(ReadError::Damaged(d)) = result {
                damage.push(d);
            }
        }
    }
    let frames_ok = frames.len() as u64 - frame_damage.len() as u64;
    damage.extend(frame_damage);
    VerifyReport {
        segments: j.segments.len() as u64,
        frames_checked: frames.len() as u64,
        frames_ok,
        records_checked: records,
        damage,
    }
}
