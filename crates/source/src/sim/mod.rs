//! The simulated sky: a deterministic camera for tests, demos and benchmarks
//! (`--source sim`).
//!
//! [`SimSky`] behaves like a real camera: a generator thread "exposes" frames on a
//! virtual clock (exposure + inter-frame gap per frame, sped up by [`SimConfig::speed`])
//! into a small pool of buffers, and [`FrameSource::next_frame`] only waits for a ready
//! buffer and copies it out. When the consumer falls behind and every buffer is full, the
//! oldest undelivered frame is dropped and `driver_seq` skips, exactly as a V4L2 driver
//! does; at speed 0 (as fast as possible) the generator blocks instead, so tests are
//! deterministic.
//!
//! Promises:
//! - Frame `index` is a pure function of `(config, index)`: [`SimSky::render`] gives the
//!   exact bytes and metadata `next_frame` delivers for it, in any order.
//! - Bytes are in the preset's native format ([`SensorPreset::format`]), padding zeroed.
//! - `time_utc_ns = start_utc_ns + index * (exposure + gap)`; `driver_seq = index` plus
//!   the [`Fault::SkipDriverSeq`] jumps so far; faults consume frame slots like a clock.
//! - Dropping a `SimSky` stops its thread promptly.
//!
//! What the frames contain is described in the `sky` module; the sensor formats and
//! noise model in `sensor`; fault plans in [`FaultPlan`].
//!
//! ```
//! use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};
//! use nightcap_source::FrameSource;
//!
//! let config = SimConfig {
//!     sensor: SensorPreset::Tiny,
//!     speed: 0.0, // as fast as possible, never dropping frames
//!     frames: Some(2),
//!     ..SimConfig::default()
//! };
//! let mut camera = SimSky::new(config.clone())?;
//! let mut delivered = Vec::new();
//! let meta = camera.next_frame(&mut delivered)?;
//! // The same frame, rendered directly: what a journal read-back must equal.
//! let mut expected = Vec::new();
//! assert_eq!(SimSky::render(&config, 0, &mut expected), meta);
//! assert_eq!(delivered, expected);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod faults;
mod rng;
mod sensor;
mod sky;
mod transients;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{FrameSource, SourceError};
use nightcap_frame::{FrameMeta, PixelFormat};

pub use faults::{Fault, FaultPlan, FaultSpecError, MAX_FAULT_COUNT};
pub use sensor::{SensorPreset, UnknownPreset};
pub use sky::{Sky, Star, SIDEREAL_DAY_NS};
pub use transients::{EventId, Label, LabelFrame, Rates, Transient};

use faults::SlotOutcome;

/// Frame buffers in the simulated camera's pool (like a driver's DMA buffers).
pub const POOL_BUFFERS: usize = 3;
/// Most undelivered items (frames and errors) held before the oldest is dropped.
const QUEUE_CAP: usize = 8;
/// The simulated driver's monotonic clock reads this at the first exposure start.
const MONOTONIC_BASE_NS: u64 = 1_000_000_000_000;
/// 2026-08-12 21:30 UTC: a Perseid night.
const DEFAULT_START_UTC_NS: i64 = 1_786_570_200_000_000_000;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub sensor: SensorPreset,
    /// Everything random (stars, hot pixels, noise, transients) derives from this.
    pub seed: u64,
    pub exposure_us: u32,
    /// Total gain in thousandths (1000 = unity).
    pub gain_milli: u32,
    /// Virtual UTC time of the first exposure start.
    pub start_utc_ns: i64,
    /// Gap between the end of one exposure and the start of the next (readout), µs.
    pub frame_gap_us: u32,
    /// Virtual clock speed-up: 0 = as fast as possible (never drops frames), 1 = real
    /// time, 720 = an hour of 5 s frames in 5 s.
    pub speed: f64,
    /// Stop with [`SourceError::Ended`] after this many frame slots (faults included).
    pub frames: Option<u64>,
    /// Drifting clouds that brighten the sky and hide stars.
    pub clouds: bool,
    /// How cloudy a night with `clouds` is: 0.5 (the default) is partly cloudy, clear
    /// about half the time; 0.8 is cloudy throughout with short breaks; 1 overcast.
    pub cloudiness: f32,
    /// How often meteors, satellites and planes cross the field.
    pub rates: Rates,
    pub faults: FaultPlan,
    /// One of the sensor's [`SensorPreset::sizes`] (a binned mode); `None`: native.
    pub size: Option<(u32, u32)>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            sensor: SensorPreset::Imx477,
            seed: 1,
            exposure_us: 5_000_000,
            gain_milli: 4000,
            start_utc_ns: DEFAULT_START_UTC_NS,
            frame_gap_us: 20_000,
            speed: 1.0,
            frames: None,
            clouds: false,
            cloudiness: 0.5,
            rates: Rates::default(),
            faults: FaultPlan::none(),
            size: None,
        }
    }
}

impl SimConfig {
    /// The frames' format: the sensor's native one, or its mode of [`size`](Self::size)
    /// (native when the sensor has no such mode; [`SimSky::new`] refuses that).
    pub fn format(&self) -> PixelFormat {
        self.size
            .and_then(|s| self.sensor.format_at(s))
            .unwrap_or_else(|| self.sensor.format())
    }

    /// Virtual time from one exposure start to the next, nanoseconds.
    pub fn period_ns(&self) -> i64 {
        (i64::from(self.exposure_us) + i64::from(self.frame_gap_us)) * 1000
    }

    /// The metadata of frame `index` (what [`SimSky::render`] returns).
    pub fn frame_meta(&self, index: u64) -> FrameMeta {
        let offset = i128::from(index) * i128::from(self.period_ns());
        let time = (i128::from(self.start_utc_ns) + offset)
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        let exposure_ns = u64::from(self.exposure_us) * 1000;
        let mono = i128::from(MONOTONIC_BASE_NS) + offset + i128::from(exposure_ns);
        FrameMeta {
            seq: 0,
            time_utc_ns: time as i64,
            exposure_us: self.exposure_us,
            gain_milli: self.gain_milli,
            // V4L2 sequence numbers are 32-bit and wrap.
            driver_seq: index.wrapping_add(self.faults.skips_through(index)) as u32,
            // Stamped at the end of the exposure, as drivers do at end of frame.
            driver_ts_ns: mono.clamp(0, i128::from(u64::MAX)) as u64,
        }
    }

    /// Which frame slot a delivered frame came from (inverse of its `time_utc_ns`).
    pub fn index_of(&self, meta: &FrameMeta) -> Option<u64> {
        let since = meta.time_utc_ns.checked_sub(self.start_utc_ns)?;
        let period = self.period_ns();
        (since >= 0 && period > 0 && since % period == 0).then(|| (since / period) as u64)
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.exposure_us == 0 {
            return Err(SimError::Exposure {
                exposure_us: self.exposure_us,
            });
        }
        if !self.speed.is_finite() || self.speed < 0.0 {
            return Err(SimError::Speed { speed: self.speed });
        }
        if let Some(size) = self.size {
            if self.sensor.format_at(size).is_none() {
                return Err(SimError::Size {
                    size,
                    sensor: self.sensor.name(),
                    sizes: self
                        .sensor
                        .sizes()
                        .iter()
                        .map(|(w, h)| format!("{w}x{h}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(())
    }
}

/// Why a simulated camera could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulated exposure must be at least 1 µs (got {exposure_us} µs)")]
    Exposure { exposure_us: u32 },
    #[error(
        "simulation speed {speed} is not a finite number >= 0: use 0 for as fast as \
         possible, 1 for real time, 720 for an hour of 5 s frames in 5 s"
    )]
    Speed { speed: f64 },
    #[error("the simulated {sensor} has no {}x{} mode: use one of {sizes}", size.0, size.1)]
    Size {
        size: (u32, u32),
        sensor: &'static str,
        sizes: String,
    },
    #[error("could not start the simulated camera's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A simulated camera looking at a simulated sky.
pub struct SimSky {
    config: SimConfig,
    format: PixelFormat,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    ended: bool,
}

/// State shared by the generator thread and the consumer.
struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Item>,
    free: Vec<Vec<u8>>,
    allocated: usize,
    stop: bool,
    /// The generator thread has exited (normally or not).
    done: bool,
    dropped: u64,
}

/// What one frame slot delivered.
enum Item {
    Frame { meta: FrameMeta, buf: Vec<u8> },
    Timeout,
    Corrupt { driver_seq: u32 },
    Gone,
    Ended,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the queue inconsistent: every update is one step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.cond.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

impl SimSky {
    /// Starts the simulated camera (its generator thread begins exposing at once).
    pub fn new(config: SimConfig) -> Result<SimSky, SimError> {
        config.validate()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        });
        let thread = {
            let (config, shared) = (config.clone(), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("sim-camera".into())
                .spawn(move || generate(&config, &shared))
                .map_err(SimError::Thread)?
        };
        Ok(SimSky {
            format: config.format(),
            config,
            shared,
            thread: Some(thread),
            ended: false,
        })
    }

    /// Pure and deterministic: the exact bytes and metadata of frame `index` (0-based)
    /// of this config. Tests use it to check that frames read back from the journal
    /// equal the frames generated.
    pub fn render(config: &SimConfig, index: u64, buf: &mut Vec<u8>) -> FrameMeta {
        let sky = Sky::new(config);
        // No clearing: rendering writes every byte, padding included.
        buf.resize(config.format().max_frame_bytes() as usize, 0);
        sky.render(index, buf);
        config.frame_meta(index)
    }

    /// The fraction of frame `index` of `config` that is under cloud (0 without clouds):
    /// the truth cloud rejection is measured against.
    pub fn cloud_fraction(config: &SimConfig, index: u64) -> f32 {
        Sky::new(config).cloud_fraction(index)
    }

    /// Every catalogue star of `config` `t_s` seconds after the exposure of frame
    /// `index` started, as (x, y, magnitude): where it is, in or out of the frame. The
    /// truth star-trail tools are measured against.
    pub fn star_positions(config: &SimConfig, index: u64, t_s: f64) -> Vec<(f64, f64, f64)> {
        let sky = Sky::new(config);
        sky.stars()
            .iter()
            .map(|s| {
                let (x, y) = sky.star_position_at(s, index, t_s);
                (x, y, s.mag)
            })
            .collect()
    }

    /// The meteors, satellites and planes crossing frame `index` of `config`: where
    /// each streak runs, (from, to) in pixels.
    pub fn streaks(config: &SimConfig, index: u64) -> Vec<((f64, f64), (f64, f64))> {
        Sky::new(config).streaks_in(index)
    }

    /// The truth about what crosses frame slots `indices` of `config`: one [`Label`] per
    /// meteor, satellite pass and plane pass, with the frames it crosses.
    pub fn labels(config: &SimConfig, indices: std::ops::Range<u64>) -> Vec<Label> {
        Sky::new(config).labels(indices)
    }

    /// The hot pixels of `config` (x, y): the same in every frame.
    pub fn hot_pixels(config: &SimConfig) -> Vec<(usize, usize)> {
        Sky::new(config)
            .hot_pixels()
            .into_iter()
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Frames the simulated driver has dropped because the consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }
}

impl FrameSource for SimSky {
    fn format(&self) -> PixelFormat {
        self.format
    }

    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError> {
        if self.ended {
            return Err(SourceError::Ended);
        }
        let item = {
            let mut state = self.shared.lock();
            loop {
                if let Some(item) = state.ready.pop_front() {
                    break item;
                }
                if state.done {
                    return Err(SourceError::DeviceGone {
                        device: "simulated camera".into(),
                        reason: "its generator thread stopped; start a new one".into(),
                    });
                }
                state = self.shared.wait(state);
            }
        };
        // A queue slot is free: a generator blocked at speed 0 may continue.
        self.shared.cond.notify_all();
        match item {
            Item::Frame {
                meta,
                buf: mut frame,
            } => {
                // Zero-copy hand-over, like a driver's buffer exchange: the caller gets
                // the exposed buffer and the camera exposes into the caller's old one
                // (sized once, the first time a buffer enters this pool).
                std::mem::swap(buf, &mut frame);
                frame.resize(self.format.max_frame_bytes() as usize, 0);
                self.shared.lock().free.push(frame);
                self.shared.cond.notify_all();
                Ok(meta)
            }
            Item::Timeout => {
                if self.config.speed == 0.0 {
                    // The slot's time already passed at speed > 0; at speed 0 a token wait
                    // keeps "a timeout took time" true without slowing tests.
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(SourceError::Timeout {
                    timeout_ms: (self.config.period_ns() / 1_000_000) as u64,
                })
            }
            Item::Corrupt { driver_seq } => Err(SourceError::CorruptBuffer { driver_seq }),
            Item::Gone => Err(SourceError::DeviceGone {
                device: "simulated camera".into(),
                reason: "fault injected by the simulation's fault plan".into(),
            }),
            Item::Ended => {
                self.ended = true;
                Err(SourceError::Ended)
            }
        }
    }

    /// Paced simulations behave like a camera (frames are dropped, not delayed, when the
    /// pipeline is full); at speed 0 the simulation waits for the pipeline instead.
    fn is_live(&self) -> bool {
        self.config.speed > 0.0
    }

    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "simulated sky: {} {}, seed {}, {} s exposures at gain {}, speed {}x{}{}",
            c.sensor.name(),
            self.format,
            c.seed,
            f64::from(c.exposure_us) / 1e6,
            f64::from(c.gain_milli) / 1000.0,
            c.speed,
            if c.clouds { ", clouds" } else { "" },
            if c.faults.is_empty() {
                String::new()
            } else {
                format!(", faults {}", c.faults)
            },
        )
    }
}

impl Drop for SimSky {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.cond.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panicked generator has nothing left to clean up; never panic in Drop.
            let _ = thread.join();
        }
    }
}

/// Marks the generator done however it exits, so a consumer never waits forever.
struct DoneGuard<'a>(&'a Shared);

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().done = true;
        self.0.cond.notify_all();
    }
}

/// The generator thread: exposes frame slots in order on the virtual clock.
fn generate(config: &SimConfig, shared: &Shared) {
    let _done = DoneGuard(shared);
    let sky = Sky::new(config);
    let frame_bytes = config.format().max_frame_bytes() as usize;
    let paced = config.speed > 0.0;
    let slot_real_s = config.period_ns() as f64 / 1e9 / config.speed.max(f64::MIN_POSITIVE);
    let t0 = Instant::now();
    for index in 0u64.. {
        if config.frames.is_some_and(|n| index >= n) {
            push(shared, Item::Ended, paced);
            return;
        }
        let meta = config.frame_meta(index);
        let item = match config.faults.outcome(index, config.seed) {
            SlotOutcome::Frame => {
                let Some(mut buf) = acquire(shared, frame_bytes, paced) else {
                    return;
                };
                sky.render(index, &mut buf);
                Item::Frame { meta, buf }
            }
            SlotOutcome::Timeout => Item::Timeout,
            SlotOutcome::Corrupt => Item::Corrupt {
                driver_seq: meta.driver_seq,
            },
            SlotOutcome::Gone => Item::Gone,
        };
        // The slot is delivered when its exposure and readout are over.
        if paced {
            let due = t0 + Duration::from_secs_f64(((index + 1) as f64 * slot_real_s).min(1e9));
            if !sleep_until(shared, due) {
                return;
            }
        }
        if !push(shared, item, paced) {
            return;
        }
    }
}

/// A buffer to expose into: a free one, a new one while the pool is not full, else
/// (paced) the oldest undelivered frame's, dropping it, or (unpaced) wait for one.
/// `None` when asked to stop.
fn acquire(shared: &Shared, frame_bytes: usize, paced: bool) -> Option<Vec<u8>> {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return None;
        }
        if let Some(buf) = state.free.pop() {
            return Some(buf);
        }
        if state.allocated < POOL_BUFFERS {
            state.allocated += 1;
            return Some(vec![0; frame_bytes]);
        }
        if paced {
            if let Some(buf) = drop_oldest_frame(&mut state) {
                return Some(buf);
            }
        }
        state = shared.wait(state);
    }
}

/// Removes the oldest undelivered frame, returning its buffer.
fn drop_oldest_frame(state: &mut State) -> Option<Vec<u8>> {
    let at = state
        .ready
        .iter()
        .position(|item| matches!(item, Item::Frame { .. }))?;
    match state.ready.remove(at) {
        Some(Item::Frame { buf, .. }) => {
            state.dropped += 1;
            Some(buf)
        }
        _ => None,
    }
}

/// Queues an item for the consumer; false when asked to stop. The queue is bounded:
/// paced, the oldest item is dropped; unpaced, this waits for the consumer.
fn push(shared: &Shared, item: Item, paced: bool) -> bool {
    let mut state = shared.lock();
    while state.ready.len() >= QUEUE_CAP && !state.stop {
        if paced {
            if let Some(old) = state.ready.pop_front() {
                if let Item::Frame { buf, .. } = old {
                    state.free.push(buf);
                }
                state.dropped += 1;
            }
        } else {
            state = shared.wait(state);
        }
    }
    if state.stop {
        return false;
    }
    state.ready.push_back(item);
    drop(state);
    shared.cond.notify_all();
    true
}

/// Sleeps until `due` unless asked to stop first; false when asked to stop.
fn sleep_until(shared: &Shared, due: Instant) -> bool {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        state = shared
            .cond
            .wait_timeout(state, due - now)
            .map(|(guard, _)| guard)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

#[cfg(test)]
mod tests;
