//! The status board: what the status page, `/api/status`, the Prometheus endpoint and
//! the per-minute health log line say, kept in one place.
//!
//! Owns the night's figures and the health verdict. Two kinds of writers feed it: the
//! journal watcher ([`super::watch`]) with every frame, gap and storage reading it finds
//! in the journal, and, inside `capture`, the capture itself (waiting for night, camera
//! errors, frames as they are taken). Readers take a [`Status`] snapshot.
//!
//! Promises:
//! - Every lock is held for a copy or an update of a few fields: a reader never holds up
//!   a writer for longer, and the capture thread's hook only stamps a time.
//! - Memory is bounded: the per-frame series keep at most [`MAX_POINTS`] points (older
//!   points are merged pairwise when it fills), gap and detection lists are counts.
//! - Health is one of [`Health`], decided from the same figures the page shows, with
//!   the reason in words and the time it began.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nightcap_frame::time::{now_utc_ns, utc_iso};
use serde::Serialize;

/// Points kept per chart series; beyond this, neighbouring points are merged.
pub const MAX_POINTS: usize = 2000;

/// A night ends where frames stop for this long (ns): the next frame starts a new night.
pub const NEW_NIGHT_AFTER_NS: i64 = 3 * 3600 * 1_000_000_000;

/// Extra time allowed beyond two frame periods before a capture counts as stalled.
pub const STALL_SLACK: Duration = Duration::from_secs(2);

/// The health verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Health {
    /// Starting up: no frame seen yet.
    Starting,
    /// Frames arrive on time.
    Capturing,
    /// Capture waits for the sun to set (`capture --night`).
    WaitingForNight,
    /// No frame for more than two frame periods and the slack.
    Stalled,
    /// The camera reported an error and no frame came since.
    CameraError,
    /// The disk will run out before the threshold (hours at the current write rate).
    DiskLow,
    /// The journal is not being written (`serve` of a copied journal or a finished
    /// capture).
    Idle,
}

impl Health {
    /// The words the page shows: `CAPTURING`, `WAITING FOR NIGHT`, ...
    pub fn words(self) -> &'static str {
        match self {
            Health::Starting => "STARTING",
            Health::Capturing => "CAPTURING",
            Health::WaitingForNight => "WAITING FOR NIGHT",
            Health::Stalled => "STALLED",
            Health::CameraError => "CAMERA ERROR",
            Health::DiskLow => "DISK LOW",
            Health::Idle => "IDLE",
        }
    }
}

/// One point of a chart: a frame's time and value (or the mean of merged frames).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    /// UTC ms.
    pub t: i64,
    pub v: f64,
}

/// A chart series bounded to [`MAX_POINTS`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series(pub Vec<Point>);

impl Series {
    fn push(&mut self, t_ns: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        if self.0.len() >= MAX_POINTS {
            // Merge pairs: half the points, each the mean of two, times of the first.
            let merged: Vec<Point> = self
                .0
                .chunks(2)
                .map(|c| Point {
                    t: c[0].t,
                    v: c.iter().map(|p| p.v).sum::<f64>() / c.len() as f64,
                })
                .collect();
            self.0 = merged;
        }
        self.0.push(Point {
            t: t_ns / 1_000_000,
            v,
        });
    }
}

/// What one frame tells the board (from the journal watcher).
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameFacts {
    pub time_ns: i64,
    pub exposure_us: u32,
    pub gain_milli: Option<u32>,
    /// Dead time since the previous frame ended (ns), when there was a previous frame.
    pub dead_ns: Option<i64>,
    /// Stored and raw payload bytes.
    pub stored_bytes: u64,
    pub raw_bytes: u64,
    /// Median sky level (2x2 cell sums) and star count, when the frame was decoded.
    pub sky: Option<f64>,
    pub stars: Option<u32>,
}

/// Storage figures, read by the watcher.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Storage {
    pub journal_bytes: u64,
    pub free_bytes: u64,
    /// The ring's byte budget, when known (capture).
    pub ring_bytes: Option<u64>,
    /// Bytes the journal keeps free on the disk, when known (capture).
    pub reserve_bytes: Option<u64>,
    /// Oldest sealed segment kept: its name and its first frame's time (UTC ISO).
    pub oldest_segment: Option<String>,
    pub oldest_frame_utc: Option<String>,
    pub sealed_segments: u64,
    /// Stored bytes of tonight's frames (what was written to the card tonight).
    pub written_tonight_bytes: u64,
    /// Write rate over tonight, bytes per hour of frames.
    pub bytes_per_hour: Option<f64>,
    /// Hours until the disk (less the reserve) is full at that rate: when the ring can
    /// still grow, this is how long until capture must delete older nights early.
    pub runway_hours: Option<f64>,
}

/// A file offered for download.
#[derive(Debug, Clone, Serialize)]
pub struct Download {
    /// `journal`, `live` or `detections`.
    pub area: &'static str,
    pub name: String,
    pub bytes: u64,
    pub url: String,
}

/// A detection for the page: class, time, and the crop's URL when one was written.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub class: String,
    pub time_utc: String,
    pub thumb: Option<String>,
}

/// Everything the page and the API show, as one JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub health: Health,
    pub health_text: &'static str,
    pub reason: String,
    pub since_utc: String,
    pub now_utc: String,
    /// `capture` or `serve`.
    pub mode: &'static str,
    pub journal: String,
    pub tonight: Tonight,
    pub storage: Storage,
    pub timing: Timing,
    pub night: Option<NightWindow>,
    pub charts: Charts,
    pub images: Images,
    pub downloads: Vec<Download>,
    pub detections: Vec<Detection>,
}

/// Tonight's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tonight {
    pub first_frame_utc: Option<String>,
    pub last_frame_utc: Option<String>,
    pub frames: u64,
    pub dropped_frames: u64,
    /// GAP records by reason (`writer-behind`, `timeout`, ...): how many and frames missed.
    pub gaps: BTreeMap<String, GapCount>,
    pub longest_gap_s: f64,
    pub dead_time_median_ms: Option<f64>,
    pub dead_time_max_ms: Option<f64>,
    pub rejected_cloudy: u64,
    pub detections: BTreeMap<String, u64>,
    /// Frames found in the journal but not yet measured (the watcher catching up).
    pub backlog: u64,
}

/// GAP records of one reason.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GapCount {
    pub records: u64,
    pub missed_frames: u64,
}

/// Timing and camera settings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    /// Whether the kernel's clock is synchronised (NTP): a Pi has no clock of its own.
    pub clock_synchronised: Option<bool>,
    pub exposure_s: Option<f64>,
    pub gain: Option<f64>,
    /// Median time from one exposure start to the next, s.
    pub frame_period_s: Option<f64>,
    /// Sensor mode: `4056x3040 SRGGB12 (12-bit)`.
    pub sensor: Option<String>,
    /// Where frames come from (capture) or the journal's run.
    pub source: Option<String>,
}

/// The dusk-to-dawn window of `capture --night`.
#[derive(Debug, Clone, Serialize)]
pub struct NightWindow {
    pub place: String,
    pub dark_below_deg: f64,
    /// The window capture is in or waits for.
    pub start_utc: Option<String>,
    pub end_utc: Option<String>,
}

/// Chart series of tonight.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Charts {
    pub sky_level: Series,
    pub star_count: Series,
    pub dead_time_ms: Series,
    pub compression_ratio: Series,
}

/// Image URLs with a version that changes when the image does (the page reloads an
/// image only then).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Images {
    pub latest: Option<String>,
    pub latest_utc: Option<String>,
    pub live_stack: Option<String>,
    pub live_stack_name: Option<String>,
    pub keogram: Option<String>,
}

/// An encoded image held for serving.
#[derive(Debug, Clone)]
pub struct Picture {
    pub jpeg: Arc<Vec<u8>>,
    pub version: u64,
}

/// What the capture knows that the journal does not say (yet).
#[derive(Debug, Default)]
struct Live {
    /// Capture waits for night until this UTC time.
    waiting_until: Option<i64>,
    /// Capture has stopped for good (the process is ending).
    stopped: bool,
    /// The last camera error, when (UTC ns), and whether it was a timeout (the camera
    /// stopped delivering: a stall); cleared by the next frame.
    camera_error: Option<(String, i64, bool)>,
    /// Real time of the last frame taken or seen, and the recent real intervals.
    last_frame_at: Option<Instant>,
    intervals: Vec<Duration>,
    /// Whether a writer holds the journal (serve: another process captures into it).
    writer_present: bool,
}

impl Live {
    /// A frame arrived now: the stall clock restarts and a camera error is over.
    fn frame_seen(&mut self) {
        let now = Instant::now();
        if let Some(prev) = self.last_frame_at {
            if self.intervals.len() >= 16 {
                self.intervals.remove(0);
            }
            self.intervals.push(now - prev);
        }
        self.last_frame_at = Some(now);
        self.camera_error = None;
    }
}

#[derive(Debug)]
struct Inner {
    mode: &'static str,
    journal: String,
    tonight: Tonight,
    dead_ns: Vec<i64>,
    last_frame_ns: Option<i64>,
    periods_ns: Vec<i64>,
    storage: Storage,
    timing: Timing,
    night: Option<NightWindow>,
    charts: Charts,
    live: Live,
    health: (Health, String, i64),
    latest: Option<Picture>,
    latest_ns: Option<i64>,
    keogram: Option<Picture>,
    live_stack: Option<(String, u64)>,
    downloads: Vec<Download>,
    detections: Vec<Detection>,
    /// Runway below which the disk counts as low, hours.
    min_runway_h: f64,
    /// Whether the cloud judgement saw the frame (index in the series).
    sky_stats: Vec<nightcap_stack::reject::FrameStats>,
}

/// The shared board.
#[derive(Debug, Clone)]
pub struct Board(Arc<Mutex<Inner>>);

impl Board {
    /// A board for `journal`, in `capture` or `serve` mode; the disk counts as low below
    /// `min_runway_h` hours of runway.
    pub fn new(mode: &'static str, journal: &std::path::Path, min_runway_h: f64) -> Board {
        Board(Arc::new(Mutex::new(Inner {
            mode,
            journal: journal.display().to_string(),
            tonight: Tonight::default(),
            dead_ns: Vec::new(),
            last_frame_ns: None,
            periods_ns: Vec::new(),
            storage: Storage::default(),
            timing: Timing::default(),
            night: None,
            charts: Charts::default(),
            live: Live::default(),
            health: (Health::Starting, "no frame yet".into(), now_utc_ns()),
            latest: None,
            latest_ns: None,
            keogram: None,
            live_stack: None,
            downloads: Vec::new(),
            detections: Vec::new(),
            min_runway_h,
            sky_stats: Vec::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain figures behind: use them.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The capture took a frame (called on the capture thread: only stamps the time).
    pub fn frame_taken(&self) {
        self.lock().live.frame_seen();
    }

    /// The camera reported an error; `timeout` when it was a frame that never came (a
    /// stall, as the camera's watchdog saw it).
    pub fn camera_error(&self, text: String, timeout: bool) {
        self.lock().live.camera_error = Some((text, now_utc_ns(), timeout));
    }

    /// Capture waits for night until `until` (UTC ns), or no longer (`None`).
    pub fn waiting_for_night(&self, until: Option<i64>) {
        let mut g = self.lock();
        g.live.waiting_until = until;
        if until.is_some() {
            // The stall clock starts again when frames come back.
            g.live.last_frame_at = None;
            g.live.intervals.clear();
        }
    }

    /// The window `capture --night` uses.
    pub fn set_night(&self, w: NightWindow) {
        self.lock().night = Some(w);
    }

    /// Capture ended.
    pub fn stopped(&self) {
        self.lock().live.stopped = true;
    }

    /// Source and sensor words (capture).
    pub fn set_source(&self, source: String, sensor: String) {
        let mut g = self.lock();
        g.timing.source = Some(source);
        g.timing.sensor = Some(sensor);
    }

    /// Whether a writer holds the journal (the watcher checks the lock; serve mode).
    pub fn writer_present(&self, present: bool) {
        self.lock().live.writer_present = present;
    }

    /// A new frame found in the journal.
    pub fn add_frame(&self, f: &FrameFacts) {
        let mut g = self.lock();
        if let Some(last) = g.last_frame_ns {
            if f.time_ns - last > NEW_NIGHT_AFTER_NS {
                g.new_night();
            }
        }
        if g.mode == "serve" {
            // The journal is the only witness of frames arriving.
            g.live.frame_seen();
        }
        let t = &mut g.tonight;
        t.frames += 1;
        t.first_frame_utc.get_or_insert_with(|| utc_iso(f.time_ns));
        t.last_frame_utc = Some(utc_iso(f.time_ns));
        if let Some(last) = g.last_frame_ns {
            let p = f.time_ns - last;
            if g.periods_ns.len() >= 64 {
                g.periods_ns.remove(0);
            }
            g.periods_ns.push(p);
        }
        g.last_frame_ns = Some(f.time_ns);
        if let Some(d) = f.dead_ns {
            g.dead_ns.push(d);
            g.charts.dead_time_ms.push(f.time_ns, d as f64 / 1e6);
        }
        if f.stored_bytes > 0 {
            g.charts
                .compression_ratio
                .push(f.time_ns, f.raw_bytes as f64 / f.stored_bytes as f64);
            g.storage.written_tonight_bytes += f.stored_bytes;
        }
        if let Some(s) = f.sky {
            g.charts.sky_level.push(f.time_ns, s);
        }
        if let Some(stars) = f.stars {
            g.charts.star_count.push(f.time_ns, f64::from(stars));
        }
        g.timing.exposure_s = Some(f64::from(f.exposure_us) / 1e6);
        g.timing.gain = f.gain_milli.map(|m| f64::from(m) / 1000.0);
    }

    /// A frame's statistics for the cloud judgement.
    pub fn add_sky_stats(&self, s: nightcap_stack::reject::FrameStats) {
        self.lock().sky_stats.push(s);
    }

    /// Frames waiting to be measured.
    pub fn set_backlog(&self, n: u64) {
        self.lock().tonight.backlog = n;
    }

    /// Tonight's GAP records (replaces the previous list).
    pub fn set_gaps(&self, gaps: &[nightcap_journal::Gap]) {
        let mut g = self.lock();
        let from = g
            .tonight
            .first_frame_utc
            .as_deref()
            .and_then(|t| nightcap_frame::time::parse_utc(t).ok());
        let mut by = BTreeMap::new();
        let (mut dropped, mut longest) = (0u64, 0i64);
        for gap in gaps.iter().filter(|gp| from.is_none_or(|f| gp.end_ns >= f)) {
            let e: &mut GapCount = by.entry(gap_name(gap.reason).to_string()).or_default();
            e.records += 1;
            e.missed_frames += gap.count;
            dropped += gap.count;
            longest = longest.max(gap.end_ns - gap.start_ns);
        }
        g.tonight.gaps = by;
        g.tonight.dropped_frames = dropped;
        g.tonight.longest_gap_s = longest as f64 / 1e9;
    }

    /// Storage figures (the watcher fills what it can read from disk).
    pub fn set_storage(&self, s: Storage) {
        let mut g = self.lock();
        let written = g.storage.written_tonight_bytes;
        g.storage = Storage {
            written_tonight_bytes: written,
            ..s
        };
        let hours = match (&g.tonight.first_frame_utc, g.last_frame_ns) {
            (Some(first), Some(last)) => nightcap_frame::time::parse_utc(first)
                .ok()
                .map(|f| (last - f) as f64 / 3.6e12),
            _ => None,
        };
        if let Some(h) = hours.filter(|h| *h > 0.01) {
            let rate = written as f64 / h;
            g.storage.bytes_per_hour = Some(rate);
            let usable = g
                .storage
                .free_bytes
                .saturating_sub(g.storage.reserve_bytes.unwrap_or(0));
            g.storage.runway_hours = (rate > 0.0).then(|| usable as f64 / rate);
        }
    }

    /// The clock's synchronisation state.
    pub fn set_clock(&self, synced: Option<bool>) {
        self.lock().timing.clock_synchronised = synced;
    }

    /// The latest frame, rendered.
    pub fn set_latest(&self, jpeg: Vec<u8>, time_ns: i64) {
        let mut g = self.lock();
        let version = g.latest.as_ref().map_or(1, |p| p.version + 1);
        g.latest = Some(Picture {
            jpeg: Arc::new(jpeg),
            version,
        });
        g.latest_ns = Some(time_ns);
    }

    /// The keogram so far, rendered.
    pub fn set_keogram(&self, jpeg: Vec<u8>) {
        let mut g = self.lock();
        let version = g.keogram.as_ref().map_or(1, |p| p.version + 1);
        g.keogram = Some(Picture {
            jpeg: Arc::new(jpeg),
            version,
        });
    }

    /// The newest live stack's file name and size (served from the live folder).
    pub fn set_live_stack(&self, name: Option<(String, u64)>) {
        self.lock().live_stack = name;
    }

    /// The files offered for download.
    pub fn set_downloads(&self, d: Vec<Download>) {
        self.lock().downloads = d;
    }

    /// Tonight's detections (newest last) and their counts by class.
    pub fn set_detections(&self, d: Vec<Detection>) {
        let mut g = self.lock();
        let mut by = BTreeMap::new();
        for e in &d {
            *by.entry(e.class.clone()).or_insert(0) += 1;
        }
        g.tonight.detections = by;
        g.detections = d;
    }

    /// The latest frame's JPEG, if any.
    pub fn latest(&self) -> Option<Picture> {
        self.lock().latest.clone()
    }

    /// The keogram's JPEG, if any.
    pub fn keogram(&self) -> Option<Picture> {
        self.lock().keogram.clone()
    }

    /// The health verdict now, with its reason, updating since-when.
    pub fn health(&self) -> (Health, String, i64) {
        let mut g = self.lock();
        let (h, reason) = g.judge();
        if g.health.0 != h {
            g.health = (h, reason.clone(), now_utc_ns());
        } else {
            g.health.1 = reason;
        }
        g.health.clone()
    }

    /// A snapshot of everything.
    pub fn status(&self) -> Status {
        let (health, reason, since) = self.health();
        let mut g = self.lock();
        let judged = nightcap_stack::reject::judge(&g.sky_stats);
        g.tonight.rejected_cloudy = judged.iter().filter(|j| j.is_some()).count() as u64;
        let (p50, max) = if g.dead_ns.is_empty() {
            (None, None)
        } else {
            let (a, b) = nightcap_journal::inspect::median_and_max_ms(g.dead_ns.clone());
            (Some(a), Some(b))
        };
        g.tonight.dead_time_median_ms = p50;
        g.tonight.dead_time_max_ms = max;
        let mut periods = g.periods_ns.clone();
        periods.sort_unstable();
        g.timing.frame_period_s = periods.get(periods.len() / 2).map(|p| *p as f64 / 1e9);
        Status {
            health,
            health_text: health.words(),
            reason,
            since_utc: utc_iso(since),
            now_utc: utc_iso(now_utc_ns()),
            mode: g.mode,
            journal: g.journal.clone(),
            tonight: g.tonight.clone(),
            storage: g.storage.clone(),
            timing: g.timing.clone(),
            night: g.night.clone(),
            charts: g.charts.clone(),
            images: Images {
                latest: g
                    .latest
                    .as_ref()
                    .map(|p| format!("/latest.jpg?v={}", p.version)),
                latest_utc: g.latest_ns.map(utc_iso),
                live_stack: g
                    .live_stack
                    .as_ref()
                    .map(|(n, b)| format!("/files/live/{n}?v={b}")),
                live_stack_name: g.live_stack.as_ref().map(|(n, _)| n.clone()),
                keogram: g
                    .keogram
                    .as_ref()
                    .map(|p| format!("/keogram.jpg?v={}", p.version)),
            },
            downloads: g.downloads.clone(),
            detections: g.detections.iter().rev().take(24).cloned().collect(),
        }
    }
}

impl Inner {
    fn new_night(&mut self) {
        self.tonight = Tonight::default();
        self.dead_ns.clear();
        self.periods_ns.clear();
        self.charts = Charts::default();
        self.storage.written_tonight_bytes = 0;
        self.sky_stats.clear();
    }

    /// The verdict, most urgent first.
    fn judge(&self) -> (Health, String) {
        let l = &self.live;
        if l.stopped {
            return (Health::Idle, "capture has ended".into());
        }
        if let Some(until) = l.waiting_until {
            return (
                Health::WaitingForNight,
                format!(
                    "the sun is up; capture starts at {} UTC",
                    utc_iso(until).replace('T', " ")
                ),
            );
        }
        if self.mode == "serve" && !l.writer_present {
            return (
                Health::Idle,
                "no capture is writing this journal (a copy, or capture has stopped)".into(),
            );
        }
        if let Some(runway) = self.storage.runway_hours.filter(|r| *r < self.min_runway_h) {
            return (
                Health::DiskLow,
                format!(
                    "{runway:.1} hours of disk left at tonight's write rate (alarm below {} h): free space or lower --ring-size",
                    self.min_runway_h
                ),
            );
        }
        let error = |e: &(String, i64, bool), extra: String| {
            let h = if e.2 {
                Health::Stalled
            } else {
                Health::CameraError
            };
            (h, format!("{}{extra}", e.0))
        };
        let Some(last) = l.last_frame_at else {
            if let Some(e) = &l.camera_error {
                return error(e, String::new());
            }
            return (Health::Starting, "no frame yet".into());
        };
        let period = self.expected_period();
        let quiet = last.elapsed();
        if quiet > period * 2 + STALL_SLACK {
            if let Some(e) = &l.camera_error {
                return error(e, format!("; no frame for {:.0} s", quiet.as_secs_f64()));
            }
            return (
                Health::Stalled,
                format!(
                    "no frame for {:.0} s (a frame is due every {:.1} s)",
                    quiet.as_secs_f64(),
                    period.as_secs_f64()
                ),
            );
        }
        if let Some(e) = &l.camera_error {
            return error(e, String::new());
        }
        (Health::Capturing, "frames arrive on time".into())
    }

    /// The real time between frames: the median of the recent intervals, else the
    /// exposure (a capture's first frames).
    fn expected_period(&self) -> Duration {
        let mut v = self.live.intervals.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or_else(|| {
            Duration::from_secs_f64(self.timing.exposure_s.unwrap_or(5.0).clamp(0.001, 3600.0))
        })
    }
}

/// A GAP reason as a short kebab-case word for the page and the API.
fn gap_name(r: nightcap_journal::GapReason) -> &'static str {
    use nightcap_journal::GapReason as R;
    match r {
        R::WriterBehind => "writer-behind",
        R::Timeout => "camera-timeout",
        R::DriverSkip => "driver-skip",
        R::CorruptBuffer => "corrupt-buffer",
        R::CameraGone => "camera-gone",
        R::DiskFull => "disk-full",
        R::Restart => "camera-restart",
        R::SetAside => "set-aside",
        R::Other => "other",
    }
}

/// The Prometheus text exposition of a status.
pub fn prometheus(s: &Status) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, value: f64| {
        out.push_str(&format!(
            "# HELP nightcap_{name} {help}\n# TYPE nightcap_{name} {kind}\nnightcap_{name} {value}\n"
        ));
    };
    let all = [
        Health::Starting,
        Health::Capturing,
        Health::WaitingForNight,
        Health::Stalled,
        Health::CameraError,
        Health::DiskLow,
        Health::Idle,
    ];
    let t = &s.tonight;
    metric(
        "frames_tonight",
        "Frames written tonight.",
        "gauge",
        t.frames as f64,
    );
    metric(
        "dropped_frames_tonight",
        "Frames missed tonight (GAP records).",
        "gauge",
        t.dropped_frames as f64,
    );
    metric(
        "longest_gap_seconds",
        "Longest gap tonight.",
        "gauge",
        t.longest_gap_s,
    );
    if let Some(d) = t.dead_time_median_ms {
        metric(
            "dead_time_median_seconds",
            "Median dead time between exposures tonight.",
            "gauge",
            d / 1e3,
        );
    }
    if let Some(d) = t.dead_time_max_ms {
        metric(
            "dead_time_max_seconds",
            "Longest dead time between exposures tonight.",
            "gauge",
            d / 1e3,
        );
    }
    metric(
        "rejected_cloudy_tonight",
        "Frames judged cloudy tonight.",
        "gauge",
        t.rejected_cloudy as f64,
    );
    metric(
        "journal_bytes",
        "Bytes of the journal's segments.",
        "gauge",
        s.storage.journal_bytes as f64,
    );
    metric(
        "free_bytes",
        "Free bytes on the journal's disk.",
        "gauge",
        s.storage.free_bytes as f64,
    );
    if let Some(r) = s.storage.runway_hours {
        metric(
            "runway_hours",
            "Hours of disk left at tonight's write rate.",
            "gauge",
            r,
        );
    }
    metric(
        "written_tonight_bytes",
        "Bytes written to the journal tonight.",
        "gauge",
        s.storage.written_tonight_bytes as f64,
    );
    if let Some(c) = s.timing.clock_synchronised {
        metric(
            "clock_synchronised",
            "1 when the system clock is synchronised.",
            "gauge",
            f64::from(u8::from(c)),
        );
    }
    out.push_str(
        "# HELP nightcap_health 1 for the current health state.\n# TYPE nightcap_health gauge\n",
    );
    for h in all {
        out.push_str(&format!(
            "nightcap_health{{state=\"{}\"}} {}\n",
            h.words().to_lowercase().replace(' ', "_"),
            u8::from(h == s.health)
        ));
    }
    out.push_str("# HELP nightcap_detections_tonight Detections tonight by class.\n# TYPE nightcap_detections_tonight gauge\n");
    for (class, n) in &t.detections {
        out.push_str(&format!(
            "nightcap_detections_tonight{{class=\"{class}\"}} {n}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_stays_bounded_and_keeps_its_shape() {
        let mut s = Series::default();
        for i in 0..10 * MAX_POINTS as i64 {
            s.push(i * 1_000_000_000, i as f64);
        }
        assert!(s.0.len() <= MAX_POINTS);
        assert!(s.0.windows(2).all(|w| w[0].t < w[1].t && w[0].v < w[1].v));
    }

    #[test]
    fn waiting_for_night_outranks_a_stall_and_frames_clear_a_camera_error() {
        let b = Board::new("capture", std::path::Path::new("/j"), 2.0);
        assert_eq!(b.health().0, Health::Starting);
        b.camera_error("camera gone".into(), false);
        assert_eq!(b.health().0, Health::CameraError);
        b.camera_error("no frame within 11000 ms".into(), true);
        assert_eq!(b.health().0, Health::Stalled);
        b.frame_taken();
        assert_eq!(b.health().0, Health::Capturing);
        b.waiting_for_night(Some(0));
        assert_eq!(b.health().0, Health::WaitingForNight);
        b.waiting_for_night(None);
        assert_eq!(b.health().0, Health::Starting);
    }

    #[test]
    fn prometheus_names_one_health_state() {
        let b = Board::new("capture", std::path::Path::new("/j"), 2.0);
        b.frame_taken();
        let text = prometheus(&b.status());
        assert!(
            text.contains("nightcap_health{state=\"capturing\"} 1"),
            "{text}"
        );
        assert_eq!(text.matches("} 1\n").count(), 1, "{text}");
    }
}
