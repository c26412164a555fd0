//! The capture pipeline: capture thread → bounded buffer pool → compression workers →
//! ordered journal writer.
//!
//! Promises:
//! - The capture thread never waits for compression or disk. It takes a free buffer from
//!   the pool without blocking; when none is free it still takes the frame from the source
//!   (into a discard buffer, so the camera keeps its pace) and records the drop. Every
//!   missed frame ends up in a GAP record with its count and reason; none is silent.
//! - Before dropping, compression gets cheaper (see [`super::policy`]): lower zstd levels,
//!   then storing uncompressed.
//! - Frames reach the journal in capture order, whatever order the workers finish in.
//! - Shutdown (stop flag, frame or time limit, source ended, or an error) drains every
//!   frame already captured and seals the journal; a writer error (disk full) stops capture
//!   with everything written so far sealed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::policy::{ladder, next_rung};
use nightcap_frame::{FrameMeta, PixelFormat};
use nightcap_journal::codec::{CodecSpec, Encoder};
use nightcap_journal::format::FrameStats;
use nightcap_journal::{Gap, GapReason, JournalError, JournalWriter, WriterConfig, WriterStats};
use nightcap_source::sequence::{SeqEvent, SequenceTracker};
use nightcap_source::{FrameSource, SourceError};

/// How to capture.
#[derive(Clone)]
pub struct CaptureConfig {
    pub writer: WriterConfig,
    /// Compression worker threads (at least 1).
    pub workers: usize,
    /// Frame buffers in the pool (at least 2); frames in flight beyond this are dropped.
    pub buffers: usize,
    /// Stop after this many frames from the source.
    pub frames: Option<u64>,
    /// Stop once a frame starts this long after the first one (frame timestamps, ns).
    pub run_for_ns: Option<i64>,
    /// Stop once a frame starts at or after this UTC time (ns): dawn, for `--night`.
    pub until_ns: Option<i64>,
    /// Pause after a transient source error before trying again (no busy loop).
    pub retry_pause: Duration,
    /// What to do when the camera disappears.
    pub camera_lost: CameraLost,
    /// Called on the capture thread for every error of the source (a timeout, a restart
    /// by its watchdog, a corrupt buffer, a vanished camera), before the pipeline acts on
    /// it: `capture` logs each as a warning line.
    pub on_source_error: Option<SourceErrorHook>,
    /// Artificial delay per record in the writer thread: simulates a slow disk, to test
    /// and demonstrate back-pressure (`--debug-slow-writer`). `None` in normal use.
    pub throttle: Option<Duration>,
    /// Called on the capture thread for each frame taken from the source (dropped ones
    /// too), with the dead time since the previous frame ended (ns): `capture -v` prints
    /// them. Keep it cheap: it runs between two exposures.
    pub on_frame: Option<FrameHook>,
}

/// See [`CaptureConfig::on_frame`].
pub type FrameHook = Arc<dyn Fn(&FrameMeta, Option<i64>) + Send + Sync>;

/// See [`CaptureConfig::on_source_error`].
pub type SourceErrorHook = Arc<dyn Fn(&SourceError) + Send + Sync>;

/// What capture does when the camera disappears (unplugged, driver reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CameraLost {
    /// Keep trying to open it again (with a growing pause, up to 30 s); frames resume
    /// when it is back, and one GAP covers the time without it.
    #[default]
    Wait,
    /// Seal the journal and stop with an error.
    Stop,
}

impl CameraLost {
    /// The setting's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CameraLost::Wait => "wait",
            CameraLost::Stop => "stop",
        }
    }

    /// The setting named `name` (`wait` or `stop`).
    pub fn from_name(name: &str) -> Option<CameraLost> {
        [CameraLost::Wait, CameraLost::Stop]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// Frame buffers for `workers` compression threads: one per worker plus one being
/// captured, and at least 3. Measured on the 2-core build machine (12 MP RAW12, 200
/// frames): 3 buffers sustain the same rate as 4 (34.1-34.5 against 34.7 frames/s) and
/// keep the peak RSS at 125 MiB instead of 152 MiB; the hand-off p99 stays under 20 µs.
pub fn default_buffers(workers: usize) -> usize {
    (workers + 1).max(3)
}

impl CaptureConfig {
    pub fn new(writer: WriterConfig) -> CaptureConfig {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        CaptureConfig {
            writer,
            workers: cores,
            buffers: default_buffers(cores),
            frames: None,
            run_for_ns: None,
            until_ns: None,
            retry_pause: Duration::from_millis(200),
            camera_lost: CameraLost::Wait,
            on_source_error: None,
            throttle: None,
            on_frame: None,
        }
    }
}

/// Live counters, readable from any thread while capture runs.
#[derive(Debug, Default)]
pub struct Counters {
    pub captured: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub gaps: AtomicU64,
    /// Restarts of the camera by the source's watchdog.
    pub restarts: AtomicU64,
    pub raw_bytes: AtomicU64,
    pub stored_bytes: AtomicU64,
    pub in_flight: AtomicU64,
    pub level: AtomicI32,
    /// The cheapest compression level used so far (furthest down the ladder).
    pub cheapest_level: AtomicI32,
    pub journal_bytes: AtomicU64,
}

impl Counters {
    /// Compression ratio of the frames written so far.
    pub fn ratio(&self) -> f64 {
        let stored = self.stored_bytes.load(Ordering::Relaxed);
        if stored == 0 {
            0.0
        } else {
            self.raw_bytes.load(Ordering::Relaxed) as f64 / stored as f64
        }
    }
}

/// Why capture ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    FrameLimit,
    TimeLimit,
    /// The night's dark window ended (`--night`).
    Dawn,
    SourceEnded,
    Stopped,
    Error,
}

impl StopReason {
    /// Why capture ended, in words.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::FrameLimit => "stopped at the frame limit (--frames)",
            StopReason::TimeLimit => "stopped at the time limit (--for)",
            StopReason::Dawn => "stopped at dawn (--night)",
            StopReason::SourceEnded => "the source has no more frames",
            StopReason::Stopped => "stopped (Ctrl-C or SIGTERM)",
            StopReason::Error => "stopped by an error",
        }
    }
}

/// What a capture did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaptureSummary {
    pub stop: StopReason,
    pub captured: u64,
    pub written: u64,
    pub dropped: u64,
    /// Times the camera's watchdog restarted the stream or reopened the device.
    pub restarts: u64,
    pub writer: WriterStats,
    /// Time the capture thread spent per frame after the source delivered it, before it
    /// could ask for the next (µs): median and 99th percentile.
    pub handoff_p50_us: u64,
    pub handoff_p99_us: u64,
    /// Dead time between consecutive exposures (the end of one to the start of the
    /// next, by frame timestamps), ms: median and maximum. The original program's main
    /// concern: what falls between exposures is not recorded.
    pub dead_time_p50_ms: f64,
    pub dead_time_max_ms: f64,
    pub elapsed_s: f64,
}

/// Why capture failed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("camera: {0}")]
    Source(SourceError),
    #[error("a capture thread failed: {0}")]
    Thread(String),
}

enum Item {
    Frame {
        idx: u64,
        meta: FrameMeta,
        buf: Vec<u8>,
    },
    Gap {
        idx: u64,
        gap: Gap,
    },
}

enum Ready {
    Frame {
        meta: FrameMeta,
        spec: CodecSpec,
        raw_len: usize,
        payload: Vec<u8>,
        /// Its statistics, for the STATS record after it.
        stats: Option<FrameStats>,
    },
    Gap(Gap),
    Failed {
        meta: FrameMeta,
        why: String,
    },
}

/// Nice value of the compression workers (the capture thread keeps the default 0).
const WORKER_NICE: i32 = 5;

/// A result for the writer: capture index, what to write, and the pool buffer to return.
type Done = (u64, (Ready, Option<Vec<u8>>));

struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    returned: Condvar,
    capacity: usize,
    /// Payload buffers back from the writer, for the workers to fill again: reusing them
    /// saves faulting in ~10 MB of fresh pages per frame. There are never more than frames
    /// in flight, which the pool bounds.
    payloads: Mutex<Vec<Vec<u8>>>,
}

impl Pool {
    fn take(&self) -> Option<Vec<u8>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }
    /// Waits for a free buffer (sources that are not live only); `None` once `stop` is set.
    fn take_waiting(&self, stop: &AtomicBool) -> Option<Vec<u8>> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(b) = free.pop() {
                return Some(b);
            }
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            free = self
                .returned
                .wait_timeout(free, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
    fn give(&self, buf: Vec<u8>) {
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buf);
        self.returned.notify_one();
    }
    fn busy(&self) -> usize {
        self.capacity - self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
    fn take_payload(&self) -> Vec<u8> {
        let mut spare = self.payloads.lock().unwrap_or_else(|e| e.into_inner());
        spare.pop().unwrap_or_default()
    }
    fn give_payload(&self, payload: Vec<u8>) {
        let mut spare = self.payloads.lock().unwrap_or_else(|e| e.into_inner());
        spare.push(payload);
    }
}

/// Runs a capture from `source` into the journal until a limit, the source's end, `stop`,
/// or an error. `on_progress` is called from the writer thread after each record.
pub fn run(
    mut source: Box<dyn FrameSource>,
    cfg: CaptureConfig,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> Result<CaptureSummary, CaptureError> {
    let started = Instant::now();
    source.watch_stop(Arc::clone(&stop));
    let format = source.format();
    let mut writer = JournalWriter::open(cfg.writer.clone(), format)?;
    // Whether the clock was set when capture started: a Pi without a real-time clock
    // stamps frames with a stale time until NTP has set it. Said in the journal so the
    // frames can be told apart (and re-timed) later; the writer notes when it is set.
    let synced = source
        .stamps_from_system_clock()
        .then(nightcap_frame::time::clock_synchronised)
        .flatten();
    let clock = match synced {
        Some(true) => "\nclock_synchronised=yes",
        Some(false) => "\nclock_synchronised=no",
        None => "",
    };
    writer.append_note(
        nightcap_frame::time::now_utc_ns(),
        &format!("source={}\nformat={format}{clock}", source.describe()),
    )?;
    let frame_bytes = format.max_frame_bytes() as usize;
    let buffers = cfg.buffers.max(2);
    let pool = Arc::new(Pool {
        free: Mutex::new(
            (0..buffers)
                .map(|_| Vec::with_capacity(frame_bytes))
                .collect(),
        ),
        returned: Condvar::new(),
        capacity: buffers,
        payloads: Mutex::new(Vec::new()),
    });
    // Cheaper compression only helps a live source keep up: a source that waits for the
    // pipeline (image folders, the simulation at full speed) keeps the configured level.
    let rungs = if source.is_live() {
        ladder(cfg.writer.zstd_level)
    } else {
        vec![cfg.writer.zstd_level]
    };
    counters.level.store(rungs[0], Ordering::Relaxed);
    counters.cheapest_level.store(rungs[0], Ordering::Relaxed);

    // Unbounded, yet bounded in practice: frames in it hold pool buffers.
    let (work_tx, work_rx) = mpsc::channel::<Item>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let work_rx = Arc::new(Mutex::new(work_rx));
    let workers: Vec<_> = (0..cfg.workers.max(1))
        .map(|i| {
            spawn_worker(
                i,
                format,
                Arc::clone(&work_rx),
                done_tx.clone(),
                Arc::clone(&counters),
                Arc::clone(&pool),
            )
        })
        .collect();
    drop(done_tx);
    let writer_thread = {
        let (counters, pool, stop) = (Arc::clone(&counters), Arc::clone(&pool), Arc::clone(&stop));
        let throttle = cfg.throttle;
        thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || {
                // However this thread ends (a panic included), capture must stop: a
                // source that waits for free buffers would otherwise wait forever.
                let _stop_on_exit = StopOnDrop(Arc::clone(&stop));
                write_in_order(
                    &mut writer,
                    done_rx,
                    &counters,
                    &pool,
                    &rungs,
                    &stop,
                    WriterThread {
                        throttle,
                        clock_unsynced: synced == Some(false),
                    },
                )
                .map(|()| writer)
            })
            .map_err(|e| CaptureError::Thread(e.to_string()))?
    };

    let mut cap = CaptureLoop::new(source.as_mut(), &cfg, &pool, work_tx, &counters, &stop);
    let outcome = cap.run();
    let handoffs = std::mem::take(&mut cap.handoffs);
    let dead = std::mem::take(&mut cap.dead_ns);
    drop(cap); // closes the work channel: workers drain and exit

    for w in workers {
        w.join()
            .map_err(|_| CaptureError::Thread("compression worker panicked".into()))?;
    }
    let writer = writer_thread
        .join()
        .map_err(|_| CaptureError::Thread("journal writer panicked".into()))?;
    let (stop_reason, source_err) = outcome;
    let writer_stats = match writer {
        Ok(w) => w.close()?,
        Err(e) => return Err(e.into()),
    };
    if let Some(e) = source_err {
        return Err(CaptureError::Source(e));
    }
    let (p50, p99) = percentiles(handoffs);
    let (dead_p50, dead_max) = nightcap_journal::inspect::median_and_max_ms(dead);
    Ok(CaptureSummary {
        stop: stop_reason,
        captured: counters.captured.load(Ordering::Relaxed),
        written: counters.written.load(Ordering::Relaxed),
        dropped: counters.dropped.load(Ordering::Relaxed),
        restarts: counters.restarts.load(Ordering::Relaxed),
        writer: writer_stats,
        handoff_p50_us: p50,
        handoff_p99_us: p99,
        dead_time_p50_ms: dead_p50,
        dead_time_max_ms: dead_max,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn percentiles(mut v: Vec<u32>) -> (u64, u64) {
    if v.is_empty() {
        return (0, 0);
    }
    v.sort_unstable();
    let at = |q: f64| u64::from(v[((v.len() - 1) as f64 * q).round() as usize]);
    (at(0.5), at(0.99))
}

/// The capture thread's state.
struct CaptureLoop<'a> {
    source: &'a mut dyn FrameSource,
    cfg: &'a CaptureConfig,
    pool: &'a Pool,
    tx: Sender<Item>,
    counters: &'a Counters,
    stop: &'a AtomicBool,
    idx: u64,
    handoffs: Vec<u32>,
    /// Dead time before each frame (ns), from the second frame on.
    dead_ns: Vec<i64>,
    /// Frames the driver counted but never delivered, from the sequence numbers (wraps,
    /// duplicates and restarted counters included).
    driver_seq: SequenceTracker,
    /// The first frame captured (`--for` counts from it).
    first: Option<FrameMeta>,
    last_end_ns: Option<i64>,
}

/// How long after `first` the frame `now` started, for `--for`: by the camera's monotonic
/// timestamps when both frames have one, so a step of the wall clock (NTP setting a
/// Pi's clock after boot) neither ends a night early nor stretches it; by their UTC
/// times otherwise (image folders, sources without a driver clock).
fn span_ns(first: &FrameMeta, now: &FrameMeta) -> i64 {
    if first.driver_ts_ns > 0 && now.driver_ts_ns > 0 {
        (now.driver_ts_ns as i128 - first.driver_ts_ns as i128).clamp(0, i128::from(i64::MAX))
            as i64
    } else {
        now.time_utc_ns.saturating_sub(first.time_utc_ns)
    }
}

/// Frames the source failed to deliver since the last frame: one GAP when frames come
/// again (or when capture stops).
struct Outage {
    reason: GapReason,
    /// Frames known to be lost (corrupt buffers, driver skips before them).
    count: u64,
    start_ns: i64,
    /// The first error, in words.
    text: String,
}

/// Frames dropped in a row, reported as one GAP when the run ends.
struct DropRun {
    count: u64,
    start_ns: i64,
    end_ns: i64,
}

impl DropRun {
    /// The GAP record that reports this run of dropped frames.
    fn gap(&self) -> Gap {
        Gap {
            count: self.count,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            reason: GapReason::WriterBehind,
            text: format!(
                "{} frames dropped: compression and disk could not keep up",
                self.count
            ),
        }
    }
}

impl<'a> CaptureLoop<'a> {
    /// A loop that has captured nothing yet.
    fn new(
        source: &'a mut dyn FrameSource,
        cfg: &'a CaptureConfig,
        pool: &'a Pool,
        tx: Sender<Item>,
        counters: &'a Counters,
        stop: &'a AtomicBool,
    ) -> CaptureLoop<'a> {
        CaptureLoop {
            source,
            cfg,
            pool,
            tx,
            counters,
            stop,
            idx: 0,
            handoffs: Vec::new(),
            dead_ns: Vec::new(),
            driver_seq: SequenceTracker::new(),
            first: None,
            last_end_ns: None,
        }
    }

    fn run(&mut self) -> (StopReason, Option<SourceError>) {
        let mut discard = Vec::new();
        let mut drops: Option<DropRun> = None;
        let mut outage: Option<Outage> = None;
        let reason = loop {
            if let Some(limit) = self.limit_reached() {
                break (limit, None);
            }
            let mut buf = if self.source.is_live() {
                self.pool.take()
            } else {
                match self.pool.take_waiting(self.stop) {
                    Some(b) => Some(b),
                    None => break (StopReason::Stopped, None),
                }
            };
            let target = buf.as_mut().unwrap_or(&mut discard);
            let meta = match self.source.next_frame(target) {
                Ok(meta) => meta,
                Err(SourceError::Ended) => break (StopReason::SourceEnded, None),
                Err(e) => {
                    if let Some(b) = buf {
                        self.pool.give(b);
                    }
                    // Stopping interrupts the wait for a frame (the signal wakes it):
                    // that is no camera fault, to log or to record.
                    if self.stop.load(Ordering::Relaxed) {
                        break (StopReason::Stopped, None);
                    }
                    if let Some(hook) = &self.cfg.on_source_error {
                        hook(&e);
                    }
                    if !e.is_transient() {
                        break (StopReason::Error, Some(e));
                    }
                    self.source_failed(&e, &mut outage);
                    if self.cfg.camera_lost == CameraLost::Stop
                        && matches!(e, SourceError::DeviceGone { .. })
                    {
                        break (StopReason::Error, Some(e));
                    }
                    continue;
                }
            };
            let t0 = Instant::now();
            if self
                .cfg
                .run_for_ns
                .is_some_and(|d| self.first.is_some_and(|f| span_ns(&f, &meta) >= d))
            {
                if let Some(b) = buf {
                    self.pool.give(b);
                }
                break (StopReason::TimeLimit, None);
            }
            if self.cfg.until_ns.is_some_and(|u| meta.time_utc_ns >= u) {
                if let Some(b) = buf {
                    self.pool.give(b);
                }
                break (StopReason::Dawn, None);
            }
            self.first.get_or_insert(meta);
            self.counters.captured.fetch_add(1, Ordering::Relaxed);
            self.record_missed(&meta, outage.take());
            self.track_timing(&meta);
            self.hand_off(buf, meta, &mut drops);
            if self.handoffs.len() < 1 << 20 {
                self.handoffs
                    .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
        };
        if let Some(run) = drops.take() {
            self.send_gap(run.gap());
        }
        if let Some(o) = outage.take() {
            let end = self.last_end_ns.unwrap_or(o.start_ns).max(o.start_ns);
            self.send_gap(Gap {
                count: o.count,
                start_ns: o.start_ns,
                end_ns: end,
                reason: o.reason,
                text: o.text,
            });
        }
        reason
    }

    /// The stop or frame limit, if reached.
    fn limit_reached(&self) -> Option<StopReason> {
        if self.stop.load(Ordering::Relaxed) {
            return Some(StopReason::Stopped);
        }
        self.cfg
            .frames
            .is_some_and(|n| self.counters.captured.load(Ordering::Relaxed) >= n)
            .then_some(StopReason::FrameLimit)
    }

    /// A transient source error (timeout, corrupt buffer, camera gone): counted in the
    /// current outage, which becomes one GAP when frames come again; a camera that is
    /// gone is given a pause before the next try. A restart by the source's watchdog
    /// ends the outage at once: every restart is a GAP of its own.
    fn source_failed(&mut self, e: &SourceError, outage: &mut Option<Outage>) {
        // A corrupt buffer is counted here; the next frame must not count it again as a
        // skip, but what the driver skipped before it is lost too.
        let skipped_before = match e {
            SourceError::CorruptBuffer { driver_seq } => self.skipped(*driver_seq),
            _ => 0,
        };
        let (reason, pause) = match e {
            SourceError::Timeout { .. } => (GapReason::Timeout, false),
            SourceError::CorruptBuffer { .. } => (GapReason::CorruptBuffer, false),
            SourceError::Restarted {
                timed_out: true, ..
            } => (GapReason::Timeout, false),
            SourceError::Restarted { .. } => (GapReason::Other, false),
            _ => (GapReason::CameraGone, true),
        };
        let now = self
            .last_end_ns
            .unwrap_or_else(nightcap_frame::time::now_utc_ns);
        let o = outage.get_or_insert(Outage {
            reason,
            count: 0,
            start_ns: now,
            text: e.to_string(),
        });
        o.count += u64::from(reason == GapReason::CorruptBuffer) + skipped_before;
        if matches!(e, SourceError::Restarted { .. }) {
            self.counters.restarts.fetch_add(1, Ordering::Relaxed);
            if let Some(o) = outage.take() {
                let said = e.to_string();
                let text = if o.text == said {
                    said
                } else {
                    format!("{}; then {said}", o.text)
                };
                // The restarted stream numbers its frames afresh: how many the stall
                // cost is unknown (count 0), its span is what the GAP says.
                let end = nightcap_frame::time::now_utc_ns().max(o.start_ns);
                self.send_gap(Gap {
                    count: o.count,
                    start_ns: o.start_ns,
                    end_ns: end,
                    reason: o.reason,
                    text,
                });
            }
        }
        if pause {
            thread::sleep(self.cfg.retry_pause);
        }
    }

    /// GAPs for what was missed before frame `meta`: the outage that ended with it, or
    /// the frames the driver's sequence skipped.
    fn record_missed(&mut self, meta: &FrameMeta, outage: Option<Outage>) {
        let mut skipped = self.skipped(meta.driver_seq);
        if let Some(o) = outage {
            // The frames the driver's sequence skipped over during the outage are the
            // ones the outage cost: they belong to its GAP (one GAP, one reason, the
            // real count), not to a second "driver skip" GAP.
            self.send_gap(Gap {
                count: o.count + skipped,
                // Before the first frame the start is the wall clock, which a camera
                // whose clock differs (or the simulator) may put after the frame.
                start_ns: o.start_ns.min(meta.time_utc_ns),
                end_ns: meta.time_utc_ns,
                reason: o.reason,
                text: o.text,
            });
            skipped = 0;
        }
        if skipped > 0 {
            self.send_gap(Gap {
                count: skipped,
                start_ns: self.last_end_ns.unwrap_or(meta.time_utc_ns),
                end_ns: meta.time_utc_ns,
                reason: GapReason::DriverSkip,
                text: format!("driver sequence jumped by {}", skipped + 1),
            });
        }
    }

    /// Dead time since the previous exposure (kept for the summary, told to the hook).
    fn track_timing(&mut self, meta: &FrameMeta) {
        let dead = self.last_end_ns.map(|end| meta.time_utc_ns - end);
        if let Some(d) = dead {
            if self.dead_ns.len() < 1 << 20 {
                self.dead_ns.push(d.max(0));
            }
        }
        if let Some(hook) = &self.cfg.on_frame {
            hook(meta, dead);
        }
        self.last_end_ns = Some(meta.end_utc_ns());
    }

    /// Sends the frame on to compression, or, when no buffer was free (a live source is
    /// never kept waiting), counts it in the current run of dropped frames.
    fn hand_off(&mut self, buf: Option<Vec<u8>>, meta: FrameMeta, drops: &mut Option<DropRun>) {
        match buf {
            Some(b) => {
                if let Some(run) = drops.take() {
                    self.send_gap(run.gap());
                }
                self.send(Item::Frame {
                    idx: self.idx,
                    meta,
                    buf: b,
                });
                self.idx += 1;
            }
            None => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                let run = drops.get_or_insert(DropRun {
                    count: 0,
                    start_ns: meta.time_utc_ns,
                    end_ns: 0,
                });
                run.count += 1;
                run.end_ns = meta.end_utc_ns();
            }
        }
    }

    /// Frames the driver skipped before the one numbered `seq`: none for the first frame,
    /// a repeated number, or a counter that went back (restarted: the loss is unknown).
    fn skipped(&mut self, seq: u32) -> u64 {
        match self.driver_seq.observe(seq) {
            SeqEvent::Next { dropped } => u64::from(dropped),
            SeqEvent::First | SeqEvent::Duplicate | SeqEvent::Restarted => 0,
        }
    }

    fn send_gap(&mut self, gap: Gap) {
        self.send(Item::Gap { idx: self.idx, gap });
        self.idx += 1;
    }

    fn send(&mut self, item: Item) {
        self.counters
            .in_flight
            .store(self.pool.busy() as u64, Ordering::Relaxed);
        // Never blocks (unbounded channel); an error means the workers are gone because
        // the writer stopped, which has set the stop flag.
        let _ = self.tx.send(item);
    }
}

fn spawn_worker(
    i: usize,
    format: PixelFormat,
    rx: Arc<Mutex<Receiver<Item>>>,
    tx: Sender<Done>,
    counters: Arc<Counters>,
    pool: Arc<Pool>,
) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name(format!("compress-{i}"))
        .spawn(move || {
            // Compression yields to the capture and writer threads: on a busy machine the
            // scheduler then never parks the capture thread behind a worker's time slice.
            // (Linux nice values are per thread; failure just keeps the default.)
            let _ = rustix::process::setpriority_process(None, WORKER_NICE);
            let mut encoder = Encoder::new(counters.level.load(Ordering::Relaxed));
            // The statistics' parallel steps run on this worker's own thread, at its
            // priority, never on the shared pool.
            let measure_pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(move |_| format!("measure-{i}"))
                .start_handler(|_| {
                    let _ = rustix::process::setpriority_process(None, WORKER_NICE);
                })
                .build()
                .ok();
            loop {
                let item = {
                    let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
                    guard.recv()
                };
                let Ok(item) = item else { return };
                let (idx, ready) = match item {
                    Item::Gap { idx, gap } => (idx, (Ready::Gap(gap), None)),
                    Item::Frame { idx, meta, mut buf } => {
                        let level = counters.level.load(Ordering::Relaxed);
                        if encoder.level() != level {
                            encoder.set_level(level);
                        }
                        let mut payload = pool.take_payload();
                        // Measured before encoding, which uses the bytes as scratch.
                        let stats = measure_pool
                            .as_ref()
                            .map(|p| p.install(|| nightcap_stack::stats::measure(&format, &buf)))
                            .unwrap_or_else(|| nightcap_stack::stats::measure(&format, &buf));
                        // The frame's bytes are not needed once encoded (the buffer
                        // only goes back to the pool): the encoder may use them as scratch.
                        let ready = match encoder.encode_in_place(&format, &mut buf, &mut payload) {
                            Ok(spec) => Ready::Frame {
                                meta,
                                spec,
                                raw_len: buf.len(),
                                payload,
                                stats,
                            },
                            Err(e) => Ready::Failed {
                                meta,
                                why: e.to_string(),
                            },
                        };
                        // The buffer goes back to the pool only once the frame is written,
                        // so the pool bounds everything in flight, payloads included.
                        (idx, (ready, Some(buf)))
                    }
                };
                if tx.send((idx, ready)).is_err() {
                    return;
                }
            }
        })
        .expect("spawning a compression worker")
}

/// Raises the stop flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Settings of the writer thread besides its channels.
struct WriterThread {
    /// Delay per record (`--debug-slow-writer`).
    throttle: Option<Duration>,
    /// The clock was not synchronised at the start: note when it becomes so.
    clock_unsynced: bool,
}

/// The writer thread: appends results in capture order and adapts the compression level.
fn write_in_order(
    writer: &mut JournalWriter,
    rx: Receiver<Done>,
    counters: &Counters,
    pool: &Pool,
    rungs: &[i32],
    stop: &AtomicBool,
    opts: WriterThread,
) -> Result<(), JournalError> {
    let WriterThread {
        throttle,
        mut clock_unsynced,
    } = opts;
    let mut pending: BTreeMap<u64, (Ready, Option<Vec<u8>>)> = BTreeMap::new();
    let mut next = 0u64;
    let mut rung = 0usize;
    let mut cheapest = 0usize;
    let result = (|| {
        for (idx, ready) in rx.iter() {
            pending.insert(idx, ready);
            while let Some((ready, buf)) = pending.remove(&next) {
                next += 1;
                if let Some(t) = throttle {
                    thread::sleep(t);
                }
                if clock_unsynced
                    && next.is_multiple_of(16)
                    && nightcap_frame::time::clock_synchronised() == Some(true)
                {
                    // The frames from here on carry the synchronised clock's time.
                    writer.append_note(
                        nightcap_frame::time::now_utc_ns(),
                        "clock_synchronised=yes",
                    )?;
                    clock_unsynced = false;
                }
                let appended = append(writer, &ready, counters);
                if let Ready::Frame { payload, .. } = ready {
                    pool.give_payload(payload);
                }
                // Decide on the backlog as it was while this frame was in flight.
                rung = next_rung(rung, rungs.len(), pool.busy(), pool.capacity);
                if let Some(b) = buf {
                    pool.give(b);
                }
                appended?;
                counters.level.store(rungs[rung], Ordering::Relaxed);
                cheapest = cheapest.max(rung);
                counters
                    .cheapest_level
                    .store(rungs[cheapest], Ordering::Relaxed);
                counters
                    .in_flight
                    .store(pool.busy() as u64, Ordering::Relaxed);
                counters
                    .journal_bytes
                    .store(writer.journal_bytes(), Ordering::Relaxed);
            }
        }
        Ok(())
    })();
    if result.is_err() {
        stop.store(true, Ordering::Relaxed);
        // Keep draining (returning buffers) so the capture thread can finish.
        for (_, (_, buf)) in rx.iter() {
            if let Some(b) = buf {
                pool.give(b);
            }
        }
    }
    result
}

fn append(
    writer: &mut JournalWriter,
    ready: &Ready,
    counters: &Counters,
) -> Result<(), JournalError> {
    match ready {
        Ready::Frame {
            meta,
            spec,
            raw_len,
            payload,
            stats,
        } => {
            writer.append_encoded_with_stats(meta, *spec, *raw_len, payload, stats.as_ref())?;
            counters.written.fetch_add(1, Ordering::Relaxed);
            counters
                .raw_bytes
                .fetch_add(*raw_len as u64, Ordering::Relaxed);
            counters
                .stored_bytes
                .fetch_add(payload.len() as u64, Ordering::Relaxed);
        }
        Ready::Gap(gap) => {
            writer.append_gap(gap)?;
            counters.gaps.fetch_add(1, Ordering::Relaxed);
        }
        Ready::Failed { meta, why } => {
            writer.append_gap(&Gap {
                count: 1,
                start_ns: meta.time_utc_ns,
                end_ns: meta.end_utc_ns(),
                reason: GapReason::Other,
                text: format!("frame lost: encoding failed: {why}"),
            })?;
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            counters.gaps.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buffers_are_one_per_worker_plus_one_and_at_least_three() {
        let got: Vec<usize> = (1..=4).map(default_buffers).collect();
        assert_eq!(got, vec![3, 3, 4, 5]);
    }
    use nightcap_frame::{Cfa, Packing};

    const FMT: PixelFormat = PixelFormat {
        fourcc: *b"GREY",
        width: 4,
        height: 2,
        stride: 4,
        bit_depth: 8,
        cfa: Cfa::None,
        packing: Packing::U8,
    };

    /// Frames with the given driver sequence numbers, 1 s apart, then the end.
    struct Numbered(Vec<u32>, usize);

    impl FrameSource for Numbered {
        fn format(&self) -> PixelFormat {
            FMT
        }
        fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError> {
            let seq = *self.0.get(self.1).ok_or(SourceError::Ended)?;
            self.1 += 1;
            buf.clear();
            buf.resize(8, self.1 as u8);
            Ok(FrameMeta {
                time_utc_ns: self.1 as i64 * 1_000_000_000,
                exposure_us: 500_000,
                driver_seq: seq,
                ..FrameMeta::default()
            })
        }
        fn describe(&self) -> String {
            "numbered".into()
        }
        fn is_live(&self) -> bool {
            true
        }
    }

    #[test]
    fn for_counts_by_the_monotonic_clock_across_a_wall_clock_step() {
        let at = |utc: i64, mono: u64| FrameMeta {
            time_utc_ns: utc,
            driver_ts_ns: mono,
            ..FrameMeta::default()
        };
        let first = at(1_000 * 1_000_000_000, 50_000_000_000);
        // NTP moved the wall clock 9 years on between two frames 5 s apart.
        let stepped = at(300_000_000 * 1_000_000_000, 55_000_000_000);
        assert_eq!(span_ns(&first, &stepped), 5_000_000_000);
        // Without driver timestamps the frames' own times are all there is.
        let (a, b) = (at(10, 0), at(25, 0));
        assert_eq!(span_ns(&a, &b), 15);
    }

    /// What the capture thread sends for `seqs`: `Ok(driver_seq)` per frame, `Err(count)`
    /// per GAP (all driver skips here).
    fn items_for(seqs: &[u32]) -> Vec<Result<u32, u64>> {
        let mut source = Numbered(seqs.to_vec(), 0);
        let cfg = CaptureConfig::new(nightcap_journal::WriterConfig::new("/nonexistent"));
        let pool = Pool {
            free: Mutex::new(vec![Vec::new(); seqs.len()]),
            returned: Condvar::new(),
            capacity: seqs.len(),
            payloads: Mutex::new(Vec::new()),
        };
        let (tx, rx) = mpsc::channel();
        let (counters, stop) = (Counters::default(), AtomicBool::new(false));
        let mut cap = CaptureLoop::new(&mut source, &cfg, &pool, tx, &counters, &stop);
        assert_eq!(cap.run().0, StopReason::SourceEnded);
        drop(cap);
        rx.iter()
            .map(|item| match item {
                Item::Frame { meta, .. } => Ok(meta.driver_seq),
                Item::Gap { gap, .. } => {
                    assert_eq!(gap.reason, GapReason::DriverSkip);
                    Err(gap.count)
                }
            })
            .collect()
    }

    #[test]
    fn driver_sequence_gaps_become_gap_records() {
        // 3 and 4 lost; 7 repeated (a driver bug, nothing lost); the counter restarts at 0
        // (loss unknown, no GAP), and again at u32::MAX (a jump of 2^32 - 2 frames is
        // taken as a restart too); then it wraps past u32::MAX with 0 lost.
        let seqs = [1, 2, 5, 6, 7, 7, 8, 0, 1, u32::MAX, 1];
        let want = [
            Ok(1),
            Ok(2),
            Err(2),
            Ok(5),
            Ok(6),
            Ok(7),
            Ok(7),
            Ok(8),
            Ok(0),
            Ok(1),
            Ok(u32::MAX),
            Err(1),
            Ok(1),
        ];
        assert_eq!(items_for(&seqs), want);
    }
}
