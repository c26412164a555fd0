//! The journal watcher: follows a journal as it grows and tells the status board what
//! it finds (frames with their sky level and star count, GAP records, storage, the
//! latest frame and the keogram so far, live stacks, detections, files to download).
//!
//! Owns all reading of the journal and the folders beside it for the status page, so
//! serving a request never reads a frame. It runs on its own thread at low priority
//! beside a capture (the same nice value as the live stacker) and in `nightcap serve`.
//!
//! Promises:
//! - A frame's statistics (the figures `--reject auto` uses) and its keogram column come
//!   from its STATS record; only the newest frame of a pass is decoded, for the preview,
//!   and frames without a record (journals before format 1.2) once each, to measure them.
//! - Work per pass is bounded ([`FRAMES_PER_PASS`] decodes, [`MEASURED_PER_PASS`]
//!   frames); a backlog (a night's journal opened by `serve`) is worked through pass by
//!   pass and shown as such.
//! - Memory is bounded: the keogram keeps at most [`KEOGRAM_COLUMNS`] columns of at most
//!   [`KEOGRAM_HEIGHT`] pixels (neighbouring columns merge by maximum when it fills).
//! - A damaged or vanished frame is skipped; the watcher never stops the capture.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nightcap_frame::pixels::{to_image16, Image16};
use nightcap_journal::codec::Decoder;
use nightcap_journal::format::SegmentState;
use nightcap_journal::Journal;
use nightcap_stack::products::assemble_columns;
use nightcap_stack::reject::FrameStats;
use nightcap_stack::stats::{column_image, measure_image};
use nightcap_stack::tone::{render_8bit, RenderSettings};

use super::board::{Board, Detection, Download, FrameFacts, Storage, NEW_NIGHT_AFTER_NS};

/// Frames decoded per pass at most (frames without a STATS record, and the preview).
pub const FRAMES_PER_PASS: usize = 24;
/// Frames taken per pass at most (their STATS records read, no frame decoded).
pub const MEASURED_PER_PASS: usize = 2048;
/// Widest keogram kept (columns).
pub const KEOGRAM_COLUMNS: usize = 2400;
/// Tallest keogram column kept (pixels): a STATS record's column.
pub const KEOGRAM_HEIGHT: u32 = nightcap_stack::stats::MAX_STATS_ROWS as u32;
/// Widest preview of the latest frame (pixels).
pub const PREVIEW_WIDTH: u32 = 1200;

/// Where the watcher looks.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub journal: PathBuf,
    /// Folder and file-name prefix of live stacks (`capture -f`), if any.
    pub live: Option<(PathBuf, String)>,
    /// Folder of detection output (`events.jsonl`, crops), if any.
    pub detections: Option<PathBuf>,
    /// The ring's budget and the disk reserve, when known (capture).
    pub ring_bytes: Option<u64>,
    pub reserve_bytes: Option<u64>,
    /// Time between passes.
    pub every: Duration,
    /// Decode frames (statistics, keogram, preview: the page); without it only record
    /// headers are read (the health log line).
    pub decode: bool,
}

/// Starts the watcher thread; it stops when `stop` is set.
pub fn spawn(cfg: WatchConfig, board: Board, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("status-watch".into())
        .spawn(move || {
            let _ = rustix::process::setpriority_process(
                None,
                nightcap_stack::follow::BESIDE_CAPTURE_NICE,
            );
            let mut w = Watcher::new(cfg, board);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                w.pass();
                let rest = w.cfg.every.saturating_sub(started.elapsed());
                let until = Instant::now() + rest;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50).min(rest));
                }
            }
        })
        .expect("a thread can be started")
}

/// The watcher's state between passes.
pub struct Watcher {
    cfg: WatchConfig,
    board: Board,
    /// The seq of the last frame handed to the board.
    last_seq: Option<u64>,
    last_end_ns: Option<i64>,
    decoder: Decoder,
    scratch: Vec<u8>,
    columns: Vec<Image16>,
    keogram_dirty: bool,
    keogram_drawn: Option<Instant>,
}

impl Watcher {
    pub fn new(cfg: WatchConfig, board: Board) -> Watcher {
        Watcher {
            cfg,
            board,
            last_seq: None,
            last_end_ns: None,
            decoder: Decoder::new(),
            scratch: Vec::new(),
            columns: Vec::new(),
            keogram_dirty: false,
            keogram_drawn: None,
        }
    }

    /// One pass: new frames, gaps, storage, images, files.
    pub fn pass(&mut self) {
        self.board
            .writer_present(nightcap_journal::lock::check_free(&self.cfg.journal).is_err());
        self.board
            .set_clock(nightcap_frame::time::clock_synchronised());
        let journal = match Journal::open(&self.cfg.journal) {
            Ok(j) if !j.segments.is_empty() => Some(j),
            _ => None,
        };
        self.storage(journal.as_ref());
        if let Some(j) = &journal {
            self.frames(j);
            self.board.set_gaps(&j.gaps().0);
        }
        self.keogram();
        self.files();
    }

    fn frames(&mut self, j: &Journal) {
        let all = j.frames();
        let start = match self.last_seq {
            Some(seq) => all.partition_point(|r| r.entry.seq <= seq),
            None => {
                // The newest night only: back from the end to the first break of more
                // than NEW_NIGHT_AFTER_NS.
                let mut i = all.len();
                while i > 1 && all[i - 1].time_ns - all[i - 2].time_ns <= NEW_NIGHT_AFTER_NS {
                    i -= 1;
                }
                i.saturating_sub(1)
            }
        };
        let new = &all[start.min(all.len())..];
        let (mut decoded, mut done) = (0usize, 0usize);
        let mut preview_of = None;
        for r in new {
            if self.cfg.decode && (decoded >= FRAMES_PER_PASS || done >= MEASURED_PER_PASS) {
                break;
            }
            self.board.set_backlog((new.len() - done) as u64);
            done += 1;
            // A frame's STATS record spares decoding it; frames without one (journals
            // before format 1.2) are decoded and measured here.
            let stored = if self.cfg.decode { j.stats(r) } else { None };
            let frame = if self.cfg.decode && stored.is_none() {
                decoded += 1;
                j.read_frame(r, &mut self.decoder, &mut self.scratch).ok()
            } else {
                None
            };
            let Some(m) = frame
                .as_ref()
                .map(|f| f.meta)
                .or_else(|| j.frame_meta(r).ok())
            else {
                self.last_seq = Some(r.entry.seq);
                continue;
            };
            let header = j.segments[r.segment].read_header(&r.entry).ok();
            let dead = self.last_end_ns.map(|end| m.time_utc_ns - end);
            let mut facts = FrameFacts {
                time_ns: m.time_utc_ns,
                exposure_us: m.exposure_us,
                gain_milli: Some(m.gain_milli).filter(|g| *g > 0),
                dead_ns: dead.filter(|d| *d >= 0 && *d < NEW_NIGHT_AFTER_NS),
                stored_bytes: header.map_or(0, |h| u64::from(h.stored_len)),
                raw_bytes: header.map_or(0, |h| u64::from(h.raw_len)),
                sky: None,
                stars: None,
            };
            if let Some(prev) = self.last_end_ns {
                if m.time_utc_ns - prev > NEW_NIGHT_AFTER_NS {
                    self.columns.clear();
                }
            }
            let img = frame.and_then(|f| to_image16(&f.format, &f.data).ok());
            let measured = stored.or_else(|| img.as_ref().map(measure_image));
            if let Some(s) = &measured {
                facts.sky = Some(f64::from(s.sky));
                facts.stars = Some(s.stars);
                self.board.add_sky_stats(FrameStats::from(s));
                let depth = j.segments[r.segment].header.format.bit_depth;
                if let Some(col) = column_image(s, depth) {
                    self.add_column(col);
                }
            }
            preview_of = Some((*r, img, m.time_utc_ns));
            self.board.add_frame(&facts);
            self.last_seq = Some(r.entry.seq);
            self.last_end_ns = Some(m.time_utc_ns + i64::from(m.exposure_us) * 1000);
        }
        // The preview: the newest frame of the pass, decoded now if it was not already.
        if let (true, Some((r, img, time))) = (self.cfg.decode, preview_of) {
            let img = img.or_else(|| {
                let f = j
                    .read_frame(&r, &mut self.decoder, &mut self.scratch)
                    .ok()?;
                to_image16(&f.format, &f.data).ok()
            });
            if let Some(jpeg) =
                img.and_then(|i| nightcap_stack::preview::jpeg(&i, PREVIEW_WIDTH).ok())
            {
                self.board.set_latest(jpeg, time);
            }
        }
        self.board.set_backlog((new.len() - done) as u64);
    }

    /// Adds one keogram column (already at most [`KEOGRAM_HEIGHT`] rows high).
    fn add_column(&mut self, col: Image16) {
        if self.columns.len() >= KEOGRAM_COLUMNS {
            let merged: Vec<Image16> = self
                .columns
                .chunks(2)
                .map(|pair| {
                    let mut a = pair[0].clone();
                    if let Some(b) = pair.get(1).filter(|b| b.same_shape(&a)) {
                        for (x, y) in a.data.iter_mut().zip(&b.data) {
                            *x = (*x).max(*y);
                        }
                    }
                    a
                })
                .collect();
            self.columns = merged;
        }
        self.columns.push(col);
        self.keogram_dirty = true;
    }

    /// Renders the keogram when it changed, at most every 5 s.
    fn keogram(&mut self) {
        if !self.keogram_dirty
            || self
                .keogram_drawn
                .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        if let Some(img) = assemble_columns(&self.columns) {
            let shown = render_8bit(&img, &RenderSettings::default());
            if let Ok(jpeg) = nightcap_stack::output::image::jpeg8_bytes(&shown) {
                self.board.set_keogram(jpeg);
            }
        }
        self.keogram_dirty = false;
        self.keogram_drawn = Some(Instant::now());
    }

    fn storage(&mut self, j: Option<&Journal>) {
        let dir = &self.cfg.journal;
        let segments = nightcap_journal::reader::list_segments(dir).unwrap_or_default();
        let mut bytes = 0;
        let mut sealed = 0;
        let mut oldest = None;
        for (path, name) in &segments {
            bytes += std::fs::symlink_metadata(path).map_or(0, |m| m.len());
            if name.state == SegmentState::Sealed {
                sealed += 1;
                oldest.get_or_insert_with(|| {
                    path.file_name().map(|n| n.to_string_lossy().into_owned())
                });
            }
        }
        let oldest_frame = j
            .and_then(|j| j.frames().first().map(|r| r.time_ns))
            .map(nightcap_frame::time::utc_iso);
        self.board.set_storage(Storage {
            journal_bytes: bytes,
            // The journal's folder may not exist yet (waiting for the first night): its
            // nearest existing parent is on the same disk, or about to be.
            free_bytes: dir
                .ancestors()
                .find_map(|d| nightcap_journal::writer::free_bytes(d).ok())
                .unwrap_or(0),
            ring_bytes: self.cfg.ring_bytes,
            reserve_bytes: self.cfg.reserve_bytes,
            oldest_segment: oldest.flatten(),
            oldest_frame_utc: oldest_frame,
            sealed_segments: sealed,
            ..Storage::default()
        });
    }

    /// Downloads, the newest live stack and detections.
    fn files(&mut self) {
        let offer = |area: &'static str, files: Vec<(String, u64)>| {
            files.into_iter().map(move |(name, bytes)| Download {
                area,
                url: format!("/files/{area}/{name}"),
                name,
                bytes,
            })
        };
        let mut downloads: Vec<Download> = offer(
            "journal",
            listing(Some(&self.cfg.journal), |n| n.ends_with(".seg")),
        )
        .collect();
        let mut newest_live = None;
        if let Some((dir, prefix)) = &self.cfg.live {
            // Listed in name order, which is time order for the live stacker's names.
            let live = listing(Some(dir), |n| {
                n.starts_with(prefix.as_str()) && is_product(n)
            });
            newest_live = live
                .iter()
                .filter(|(n, _)| n.ends_with(".jpg"))
                .max()
                .cloned();
            downloads.extend(offer("live", live));
        }
        self.board.set_live_stack(newest_live);
        if let Some(dir) = &self.cfg.detections {
            self.board.set_detections(read_detections(dir));
            downloads.extend(offer("detections", listing(Some(dir), is_product)));
        }
        self.board.set_downloads(downloads);
    }
}

/// A file kind the page offers: images, videos, lists and event logs.
fn is_product(name: &str) -> bool {
    [
        ".jpg", ".png", ".tif", ".tiff", ".fits", ".mp4", ".txt", ".jsonl", ".csv", ".json",
    ]
    .iter()
    .any(|e| name.ends_with(e))
}

/// Regular files (not symlinks, not hidden) in `dir` whose names pass `keep`, with sizes.
pub fn listing(dir: Option<&Path>, keep: impl Fn(&str) -> bool) -> Vec<(String, u64)> {
    let Some(dir) = dir else { return Vec::new() };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, u64)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let m = e.path().symlink_metadata().ok()?;
            (m.is_file() && !name.starts_with('.') && keep(&name)).then_some((name, m.len()))
        })
        .collect();
    v.sort();
    v
}

/// Events of `events.jsonl` in `dir` (newest last), with their crops when written.
fn read_detections(dir: &Path) -> Vec<Detection> {
    let Ok(text) = super::super::cli::read_small_text(&dir.join("events.jsonl"), 16 << 20) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            let class = v.get("class")?.as_str()?.to_string();
            let first = v.get("frames")?.get(0)?;
            let seq = first.get("seq")?.as_u64()?;
            let t = first.get("start_utc_ns")?.as_i64()?;
            let crop = format!("{class}-{seq}.png");
            let thumb = dir
                .join(&crop)
                .is_file()
                .then(|| format!("/files/detections/{crop}"));
            Some(Detection {
                class,
                time_utc: nightcap_frame::time::utc_iso(t),
                thumb,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(dir: &Path) -> Board {
        let board = Board::new("serve", dir, 2.0);
        let mut w = Watcher::new(
            WatchConfig {
                journal: dir.to_path_buf(),
                live: None,
                detections: None,
                ring_bytes: None,
                reserve_bytes: None,
                every: Duration::from_secs(1),
                decode: true,
            },
            board.clone(),
        );
        w.pass();
        board
    }

    /// The golden journal of format 1.2 (STATS records) and of 1.1 (none) hold the same
    /// frames: the page shows the same sky, stars and keogram from the records as from
    /// decoding the frames.
    #[test]
    fn stored_statistics_show_what_measuring_the_frames_shows() {
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("formats/golden");
        let (new, old) = (watched(&golden), watched(&golden.join("1.1")));
        let series = |b: &Board| {
            let c = b.status().charts;
            let v = |s: &super::super::board::Series| {
                s.0.iter().map(|p| (p.t, p.v)).collect::<Vec<_>>()
            };
            (v(&c.sky_level), v(&c.star_count))
        };
        let (sky, stars) = series(&new);
        assert_eq!(sky.len(), 14);
        assert_eq!((sky, stars), series(&old));
        let k = |b: &Board| b.keogram().map(|p| p.jpeg.to_vec());
        assert!(k(&new).is_some());
        assert_eq!(k(&new), k(&old));
        assert!(new.status().images.latest.is_some());
    }
}
