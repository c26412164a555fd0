//! V4L2 cameras: [`V4l2Source`] captures raw frames from a `/dev/videoN` node.
//!
//! The device-touching code here is a thin shell; the decisions live in pure, tested
//! modules: [`formats`] (which format, what its bytes mean), [`controls`] (which control
//! writes give the asked exposure and gain), [`timing`] (UTC exposure start, dropped
//! frames) and [`devices`] (discovery and the `nightcap devices` listing).
//!
//! Promises:
//! - Frames are delivered exactly as the driver wrote them (cut to the format's size,
//!   padding included), with the exposure start in UTC.
//! - Error-flagged or short buffers become [`SourceError::CorruptBuffer`].
//! - The watchdog ([`watchdog`]): no frame within `2 × (exposure + frame time) + 2 s`,
//!   or a failed `STREAMON`/`QBUF`/`DQBUF`, restarts the stream (controls written again)
//!   and returns [`SourceError::Restarted`]; after two restarts in a row the device is
//!   closed and opened again. A device that never delivered a frame gives up instead
//!   ([`SourceError::Unsupported`], with the fix).
//! - When the device disappears (`ENODEV`, `ENXIO`, `ESHUTDOWN`) the source reports
//!   [`SourceError::DeviceGone`] and on later calls reopens it, sleeping an
//!   exponentially growing delay (0.5 s doubling to 30 s) before each attempt, so a caller
//!   that retries at once does not busy-loop; the sleep ends early when the stop flag
//!   given to [`FrameSource::watch_stop`] is set. A reopened device must deliver the same
//!   format, else [`SourceError::Unsupported`].
//! - Every control written is read back; a value the driver changed is said in a note,
//!   and the gain recorded with each frame is the one read back.
//!
//! Pi cameras on the libcamera-era stack (unicam, rp1-cfe) are media-controller devices:
//! exposure, VBLANK and gain live on the sensor sub-device, and the capture node lists
//! formats the sensor may not deliver. Before the node's format is set, its media graph
//! is read ([`media_io`]) and, when a sensor sub-device feeds the node, set up as
//! [`media`] plans it: links off the path disabled (on a Pi 5 libcamera leaves the
//! receiver feeding the ISP), the path's links enabled, and the sensor mode (the largest,
//! or `--size`) set on every pad of the path. Only formats of that mode's bit depth, CFA
//! and size are then chosen on the node. A node without a graph or without a sensor
//! sub-device upstream (webcams, `vivid`) is left as it is; the first sub-device with
//! exposure, VBLANK and pixel-rate controls then stands in as the sensor, if any.
//!
//! Controls are written before streaming starts, so the first frame already has the
//! asked exposure (drivers program the sensor from the current control values at
//! `STREAMON`; the multi-frame pipeline delay only applies to changes while streaming).
//!
//! v4l 0.14.0 pitfalls guarded here: its stream re-queues the previous buffer at the
//! start of `next()`, so after a failed `next()` (timeout, signal) the next call would
//! queue an already-queued buffer; the stream is therefore recreated after any error.
//! Its `Drop` panics when `STREAMOFF` fails with anything but `ENODEV`, and several of
//! its conversions `unwrap` driver data: those calls run under [`devices::guard`].

pub mod controls;
pub mod devices;
pub mod formats;
pub mod media;
pub mod media_io;
pub mod nodes;
pub mod timing;
pub mod watchdog;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use v4l::buffer::Type as BufType;
use v4l::capability::Flags as CapFlags;
use v4l::control::{Control, Value};
use v4l::frameinterval::FrameIntervalEnum;
use v4l::io::traits::CaptureStream;
use v4l::prelude::*;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Format, FourCC, Fraction};

use self::controls::{ids, ExposureControls, ExposurePlan, Sensor};
use self::devices::{guard, query_control, FormatInfo, SizeRange};
use self::formats::{fourcc_text, Offered, SensorMode};
use self::timing::{ClockOffset, StampPoint};
use self::watchdog::{Action, Failure, Watchdog};
use super::{FrameSource, Restart, SourceError};
use crate::sequence::SequenceTracker;
use nightcap_frame::{FrameMeta, Packing, PixelFormat};

/// What to capture from a V4L2 camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2Config {
    /// The capture node, e.g. `/dev/video0`.
    pub device: PathBuf,
    pub exposure_us: u32,
    /// Gain ×1000 (4000 = 4×); `None` leaves the camera's gain alone.
    pub gain_milli: Option<u32>,
    /// mmap buffers to queue (2..=32; 4 is a good default).
    pub buffers: u32,
    /// Frame size; `None` takes the largest the chosen format offers.
    pub size: Option<(u32, u32)>,
    /// Pixel format; `None` lets [`formats::choose_format`] pick (raw Bayer first).
    pub fourcc: Option<[u8; 4]>,
}

impl V4l2Config {
    /// A config for `device` at `exposure_us` with defaults for everything else.
    pub fn new(device: impl Into<PathBuf>, exposure_us: u32) -> V4l2Config {
        V4l2Config {
            device: device.into(),
            exposure_us,
            gain_milli: None,
            buffers: 4,
            size: None,
            fourcc: None,
        }
    }
}

/// Exponential backoff between reopen attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            next: min,
            min,
            max,
        }
    }

    /// The delay before the next attempt; doubles the one after it (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Back to the shortest delay (after a successful reopen).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// How long to wait for a frame: two frame periods (exposure plus frame time, since a
/// frame may have started just before the stream did) plus 2 s of slack, capped at a day.
pub fn frame_timeout(exposure_us: u32, frame_us: Option<u64>) -> Duration {
    let exposure = u64::from(exposure_us);
    let frame = frame_us.unwrap_or(exposure).max(exposure);
    let us = 2 * (exposure + frame) + 2_000_000;
    Duration::from_micros(us.min(86_400_000_000))
}

/// Whether an error means the device itself went away (unplugged, driver reset).
pub fn is_device_gone(err: &io::Error) -> bool {
    const ENOENT: i32 = 2;
    const EIO: i32 = 5;
    const ENXIO: i32 = 6;
    const ENODEV: i32 = 19;
    const ESHUTDOWN: i32 = 108;
    matches!(
        err.raw_os_error(),
        Some(ENOENT | EIO | ENXIO | ENODEV | ESHUTDOWN)
    )
}

/// The error for a failed open of `path`. On the first open a missing or unusable device
/// is final ([`SourceError::Unsupported`], with the fix); on a reopen a missing device is
/// [`SourceError::DeviceGone`] (it may come back).
pub fn open_error(path: &Path, err: &io::Error, first_open: bool) -> SourceError {
    let p = path.display();
    let gone = is_device_gone(err);
    if !first_open && gone {
        return SourceError::DeviceGone {
            device: p.to_string(),
            reason: err.to_string(),
        };
    }
    SourceError::Unsupported(match err.kind() {
        io::ErrorKind::NotFound => format!(
            "no camera at {p}: is it connected and enabled? `nightcap devices` lists cameras"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "permission denied opening {p}: add your user to the `video` group \
             (sudo usermod -aG video $USER) and log in again"
        ),
        _ if err.raw_os_error() == Some(16) => format!(
            "{p} is busy: another program (libcamera, rpicam-apps, a browser) is using it; stop it"
        ),
        _ if gone => format!("camera {p} is not responding ({err}); reconnect it"),
        _ => format!("cannot open {p}: {err}"),
    })
}

/// The (format, size) pairs to choose from, honouring the user's fourcc and size. A
/// format that lists no sizes is offered at the device's current size.
pub fn offered(
    formats: &[FormatInfo],
    current: (u32, u32),
    want_fourcc: Option<[u8; 4]>,
    want_size: Option<(u32, u32)>,
) -> Vec<Offered> {
    let mut out = Vec::new();
    for f in formats
        .iter()
        .filter(|f| want_fourcc.is_none_or(|w| w == f.fourcc))
    {
        let ranges = if f.sizes.is_empty() {
            vec![SizeRange::Discrete {
                width: current.0,
                height: current.1,
            }]
        } else {
            f.sizes.clone()
        };
        for r in ranges {
            let size = match want_size {
                Some((w, h)) if r.contains(w, h) => (w, h),
                Some(_) => continue,
                None => r.largest(),
            };
            out.push(Offered {
                fourcc: f.fourcc,
                width: size.0,
                height: size.1,
            });
        }
    }
    out
}

/// The frame interval (seconds as num/den) to ask for: the shortest one that fits the
/// exposure, else the longest there is. Webcams cannot expose longer than a frame.
pub fn pick_interval(candidates: &[(u32, u32)], exposure_us: u32) -> Option<(u32, u32)> {
    let us = |&(n, d): &(u32, u32)| u64::from(n) * 1_000_000 / u64::from(d.max(1));
    let fitting = candidates
        .iter()
        .filter(|c| c.1 > 0 && us(c) >= u64::from(exposure_us))
        .min_by_key(|c| us(c));
    fitting
        .or_else(|| candidates.iter().filter(|c| c.1 > 0).max_by_key(|c| us(c)))
        .copied()
}

/// Copies one dequeued buffer into `out`, or says why it is not a frame.
/// `data` is the whole mapped buffer; only `bytesused` of it is payload.
pub fn accept_buffer(
    format: &PixelFormat,
    data: &[u8],
    bytesused: u32,
    flags: u32,
    sequence: u32,
    out: &mut Vec<u8>,
) -> Result<(), SourceError> {
    const BUF_FLAG_ERROR: u32 = 0x0040;
    let corrupt = SourceError::CorruptBuffer {
        driver_seq: sequence,
    };
    if flags & BUF_FLAG_ERROR != 0 {
        return Err(corrupt);
    }
    let used = (bytesused as usize).min(data.len());
    let max = usize::try_from(format.max_frame_bytes()).unwrap_or(usize::MAX);
    let take = if format.fixed_size() {
        // A short raw frame is a partial transfer; extra bytes (sizeimage rounding) are
        // not part of the frame.
        if used < max {
            return Err(corrupt);
        }
        max
    } else {
        if used == 0 || used > max {
            return Err(corrupt);
        }
        used
    };
    out.clear();
    out.extend_from_slice(&data[..take]);
    Ok(())
}

/// The metadata of a frame from its buffer fields. `now_utc_ns` stands in for the stamp
/// when the driver's timestamp is not from `CLOCK_MONOTONIC` (taken as end of exposure).
pub fn frame_meta(
    offset: &ClockOffset,
    ts: (i64, i64),
    flags: u32,
    sequence: u32,
    exposure_us: u32,
    gain_milli: u32,
    now_utc_ns: i64,
) -> FrameMeta {
    let stamp = timing::timeval_ns(ts.0, ts.1);
    let time_utc_ns = match stamp {
        Some(ns) if timing::is_monotonic_stamp(flags) => timing::exposure_start_utc(
            offset,
            ns,
            exposure_us,
            StampPoint::from_buffer_flags(flags),
        ),
        _ => now_utc_ns.saturating_sub(i64::from(exposure_us) * 1000),
    };
    FrameMeta {
        seq: 0,
        time_utc_ns,
        exposure_us,
        gain_milli,
        driver_seq: sequence,
        driver_ts_ns: stamp.unwrap_or(0),
    }
}

/// A configured, open capture node.
struct Open {
    dev: Device,
    /// The sensor sub-device that holds the exposure controls, if not the node itself.
    sensor: Option<devices::SensorNode>,
    /// `None` after an error: recreated (and restarted) by the next read.
    stream: Option<MmapStream<'static>>,
}

impl Open {
    /// The device the exposure and gain controls are written to.
    fn control_target(&self) -> &Device {
        self.sensor.as_ref().map_or(&self.dev, |s| &s.dev)
    }
}

impl Open {
    /// Stops the stream, never panicking (v4l's `Drop` panics on most STREAMOFF errors).
    fn stop_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = guard("stopping the stream", || {
                drop(stream);
                Ok(())
            });
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.stop_stream();
    }
}

/// What configuring a device achieved.
struct Configured {
    open: Open,
    format: PixelFormat,
    plan: ExposurePlan,
    card: String,
    driver: String,
    timeout: Duration,
}

/// A V4L2 camera as a [`FrameSource`].
pub struct V4l2Source {
    config: V4l2Config,
    open: Option<Open>,
    format: PixelFormat,
    exposure_us: u32,
    gain_milli: u32,
    timeout: Duration,
    label: String,
    notes: Vec<String>,
    /// The control writes of the exposure plan, made again after every restart.
    writes: Vec<(u32, i64)>,
    tracker: SequenceTracker,
    backoff: Backoff,
    watchdog: Watchdog,
    stop: Option<Arc<AtomicBool>>,
}

impl V4l2Source {
    /// Opens and configures the camera (format, exposure, gain, buffers). Streaming
    /// starts with the first [`next_frame`](FrameSource::next_frame).
    pub fn open(config: &V4l2Config) -> Result<V4l2Source, SourceError> {
        let c = configure(config, None)?;
        let gain = c
            .plan
            .gain_milli
            .map(|g| format!(", gain {:.2}", f64::from(g) / 1000.0))
            .unwrap_or_default();
        let label = format!(
            "V4L2 {} ({}, {}): {}, exposure {:.3} s{gain}",
            config.device.display(),
            c.card,
            c.driver,
            c.format,
            f64::from(c.plan.exposure_us) / 1e6
        );
        Ok(V4l2Source {
            config: config.clone(),
            format: c.format,
            exposure_us: c.plan.exposure_us,
            gain_milli: c.plan.gain_milli.unwrap_or(0),
            timeout: c.timeout,
            label,
            notes: c.plan.notes.clone(),
            writes: c.plan.writes.clone(),
            open: Some(c.open),
            tracker: SequenceTracker::new(),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            watchdog: Watchdog::new(),
            stop: None,
        })
    }

    /// Adjustments made while configuring (clamped exposure or gain), one sentence each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The exposure the camera was set to, µs (may differ from the asked one).
    pub fn exposure_us(&self) -> u32 {
        self.exposure_us
    }

    /// Frames the driver counted but did not deliver, since opening.
    pub fn dropped_frames(&self) -> u64 {
        self.tracker.dropped_total
    }

    /// Stream restarts and reopens by the watchdog, since opening.
    pub fn restarts(&self) -> u64 {
        self.watchdog.restarts()
    }

    fn gone(&mut self, reason: String) -> SourceError {
        self.open = None;
        SourceError::DeviceGone {
            device: self.config.device.display().to_string(),
            reason,
        }
    }

    /// Sleeps the backoff delay (less if the stop flag is set meanwhile), then tries to
    /// open and configure the device again.
    fn reopen(&mut self) -> Result<(), SourceError> {
        let until = Instant::now() + self.backoff.next_delay();
        let stopping = || {
            self.stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        };
        while Instant::now() < until && !stopping() {
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
        }
        if stopping() {
            return Err(self.gone("capture is stopping".to_string()));
        }
        let c = configure(&self.config, Some(&self.format))?;
        self.backoff.reset();
        self.tracker.reset();
        self.open = Some(c.open);
        Ok(())
    }

    /// Writes the exposure plan's controls again (after a stream restart: a driver may
    /// reset them with the stream, and a reopened device has its defaults).
    fn rewrite_controls(&mut self) -> Result<(), io::Error> {
        let Some(open) = self.open.as_ref() else {
            return Ok(());
        };
        write_controls(open.control_target(), &self.writes)
            .map(|_| ())
            .map_err(|(_, _, e)| e)
    }

    /// What a failed stream (or a failed start of one) means, after the watchdog has
    /// acted on it. The stream is already stopped.
    fn stream_failed(&mut self, err: io::Error, waited: Duration) -> SourceError {
        let interrupted = err.kind() == io::ErrorKind::Interrupted;
        let err = stream_error(&self.config.device, &self.format, err, waited);
        let failure = match &err {
            // A signal woke the wait (the pipeline may be stopping): not a stall.
            SourceError::Timeout { .. } if interrupted => return err,
            SourceError::Timeout { .. } => Failure::NoFrame,
            SourceError::DeviceGone { .. } => Failure::Gone,
            // A sensor in another mode (EPIPE at the first STREAMON) is a setup error.
            SourceError::Unsupported(_) if !self.watchdog.delivered() => return err,
            _ => Failure::Stream,
        };
        let cause = match &err {
            SourceError::Timeout { .. } => format!(
                "no frame from {} within {:.1} s",
                self.config.device.display(),
                waited.as_secs_f64()
            ),
            SourceError::Io { source, .. } => {
                format!(
                    "streaming from {} failed: {source}",
                    self.config.device.display()
                )
            }
            other => other.to_string(),
        };
        let timed_out = failure == Failure::NoFrame;
        match self.watchdog.failed(failure) {
            Action::Reopen if failure == Failure::Gone => {
                self.open = None;
                err
            }
            Action::Reopen => {
                self.open = None;
                SourceError::Restarted {
                    cause,
                    timed_out,
                    action: Restart::Reopen,
                    restart: self.watchdog.restarts(),
                }
            }
            Action::RestartStream => match self.rewrite_controls() {
                Err(e) if is_device_gone(&e) => {
                    self.open = None;
                    SourceError::DeviceGone {
                        device: self.config.device.display().to_string(),
                        reason: e.to_string(),
                    }
                }
                // A control that cannot be written now is tried again at the next
                // restart; the stream itself is restarted by the next read.
                _ => SourceError::Restarted {
                    cause,
                    timed_out,
                    action: Restart::Stream,
                    restart: self.watchdog.restarts(),
                },
            },
            Action::GiveUp => SourceError::Unsupported(format!(
                "{cause}, and still none after {} stream restarts: {} delivers no frames as \
                 set up ({}); check `nightcap devices`, the cable, and that no other program \
                 uses it",
                Watchdog::STREAM_RESTARTS,
                self.config.device.display(),
                self.format
            )),
        }
    }

    fn read_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError> {
        let Some(open) = self.open.as_mut() else {
            return Err(self.gone("not open".to_string()));
        };
        if open.stream.is_none() {
            let stream = start_stream(&open.dev, self.config.buffers, self.timeout);
            match stream {
                Ok(stream) => {
                    open.stream = Some(stream);
                    // A restarted stream restarts the driver's sequence numbers.
                    self.tracker.reset();
                }
                // Memory or a busy device at the start are setup errors with a fix.
                Err(e) if !self.watchdog.delivered() && !is_device_gone(&e) => {
                    return Err(io_err(&self.config.device, "allocating frame buffers", e));
                }
                Err(e) => return Err(self.stream_failed(e, Duration::ZERO)),
            }
        }
        let Some(stream) = open.stream.as_mut() else {
            return Err(self.gone("stream could not be created".to_string()));
        };
        let started = Instant::now();
        // Ok(Ok(frame)), Ok(Err(not a frame)), or Err(the stream failed).
        let outcome = match stream.next() {
            Ok((data, meta)) => {
                let flags = u32::from(meta.flags);
                let seq = meta.sequence;
                // time_t is i32 on 32-bit Raspberry Pi OS, i64 elsewhere.
                #[allow(clippy::useless_conversion)]
                let ts = (
                    i64::from(meta.timestamp.sec),
                    i64::from(meta.timestamp.usec),
                );
                Ok(
                    accept_buffer(&self.format, data, meta.bytesused, flags, seq, buf)
                        .map(|()| (flags, seq, ts)),
                )
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Ok((flags, seq, ts))) => {
                self.watchdog.frame();
                self.tracker.observe(seq);
                // Sampled per frame: realtime − monotonic only changes when the clock is
                // stepped (a Pi without RTC syncing NTP after boot), and then at once.
                let offset = ClockOffset::sample();
                let now = nightcap_frame::time::now_utc_ns();
                Ok(frame_meta(
                    &offset,
                    ts,
                    flags,
                    seq,
                    self.exposure_us,
                    self.gain_milli,
                    now,
                ))
            }
            Ok(Err(not_a_frame)) => Err(not_a_frame),
            Err(e) => {
                // The v4l stream cannot continue after a failed next(): recreate it.
                open.stop_stream();
                Err(self.stream_failed(e, started.elapsed()))
            }
        }
    }
}

/// What a failed read of the stream means. `waited` is how long the read blocked.
pub fn stream_error(
    path: &Path,
    format: &PixelFormat,
    err: io::Error,
    waited: Duration,
) -> SourceError {
    let path = path.display();
    match err.kind() {
        // Interrupted: a signal woke the poll (the pipeline may want to stop);
        // WouldBlock: a spurious wake-up of the non-blocking dequeue.
        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
            SourceError::Timeout {
                timeout_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            }
        }
        // EIO from a dequeue is the queue in error (vb2_queue_error), which a stream
        // restart clears; a device that is really gone fails the restart with ENODEV.
        _ if is_device_gone(&err) && err.raw_os_error() != Some(5) => SourceError::DeviceGone {
            device: path.to_string(),
            reason: err.to_string(),
        },
        // STREAMON fails with EPIPE when the sensor's format does not match the node's.
        _ if err.raw_os_error() == Some(32) => SourceError::Unsupported(format!(
            "{path} would not start streaming {format}: the sensor is set to a different mode. \
             Set the sensor format with media-ctl, or pass the fourcc and size it delivers"
        )),
        _ => SourceError::Io {
            what: format!("frames from {path}"),
            source: err,
        },
    }
}

impl FrameSource for V4l2Source {
    fn format(&self) -> PixelFormat {
        self.format
    }

    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError> {
        if self.open.is_none() {
            self.reopen()?;
        }
        self.read_frame(buf)
    }

    fn describe(&self) -> String {
        self.label.clone()
    }

    fn watch_stop(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// A camera keeps its pace: frames the pipeline cannot take are dropped (and recorded).
    fn is_live(&self) -> bool {
        true
    }

    /// Driver timestamps are turned into UTC with the system clock.
    fn stamps_from_system_clock(&self) -> bool {
        true
    }
}

fn io_err(path: &Path, what: &str, err: io::Error) -> SourceError {
    if is_device_gone(&err) {
        return SourceError::DeviceGone {
            device: path.display().to_string(),
            reason: format!("{what}: {err}"),
        };
    }
    let hint = match err.raw_os_error() {
        Some(16) => ": the camera is in use by another program; stop it",
        Some(12) => ": not enough memory for the frame buffers; use fewer buffers or raise cma=",
        _ => "",
    };
    SourceError::Unsupported(format!("{} {what} failed: {err}{hint}", path.display()))
}

/// Opens the device and sets format, exposure and gain. `required` is the format a
/// reopened device must deliver again.
fn configure(
    config: &V4l2Config,
    required: Option<&PixelFormat>,
) -> Result<Configured, SourceError> {
    let path = config.device.as_path();
    let dev = Device::with_path(path).map_err(|e| open_error(path, &e, required.is_none()))?;
    let caps = guard("VIDIOC_QUERYCAP", || dev.query_caps())
        .map_err(|e| io_err(path, "VIDIOC_QUERYCAP", e))?;
    if !caps
        .capabilities
        .contains(CapFlags::VIDEO_CAPTURE | CapFlags::STREAMING)
    {
        return Err(SourceError::Unsupported(format!(
            "{} ({}) is not a streaming video capture node; `nightcap devices` lists the cameras",
            path.display(),
            caps.card
        )));
    }
    // Exposure in lines lives on a sensor sub-device unless the node itself has the
    // controls (webcams, legacy firmware driver, unicam without media controller).
    let on_node = query_control(&dev, ids::EXPOSURE_ABSOLUTE).is_some()
        || query_control(&dev, ids::EXPOSURE).is_some();
    // On a media-controller camera (a Pi's unicam or rp1-cfe) the graph says which sensor
    // feeds this node; its links and the sensor mode are set up so the node streams.
    let mut media_note = None;
    let (sensor, mode) = if on_node {
        (None, None)
    } else {
        match media_io::setup(Path::new("/dev"), path, config.size, config.fourcc) {
            Ok(Some(s)) => {
                let dev = Device::with_path(&s.sensor_path)
                    .map_err(|e| io_err(&s.sensor_path, "opening the sensor", e))?;
                media_note = s.note;
                let node = devices::SensorNode {
                    sensor: Sensor::from_name(&s.sensor_name),
                    name: s.sensor_name,
                    path: s.sensor_path,
                    dev,
                };
                (Some(node), Some(s.mode))
            }
            Ok(None) => {
                let sensor = devices::find_sensor_subdev(Path::new("/dev"));
                let mode = sensor.as_ref().and_then(|s| devices::sensor_mode(&s.dev));
                (sensor, mode)
            }
            Err(why) => {
                return Err(SourceError::Unsupported(format!(
                    "{}: {why}",
                    path.display()
                )))
            }
        }
    };
    let format = negotiate_format(&dev, config, mode.as_ref())?;
    if let Some(req) = required.filter(|r| **r != format) {
        return Err(SourceError::Unsupported(format!(
            "after reconnecting, {} delivers {format} instead of {req}; restart the capture",
            path.display()
        )));
    }
    let (mut plan, frame_us, on_sensor) = set_exposure(&dev, sensor.as_ref(), config, &format)?;
    plan.notes.extend(media_note);
    let timeout = frame_timeout(plan.exposure_us, frame_us);
    Ok(Configured {
        open: Open {
            dev,
            sensor: sensor.filter(|_| on_sensor),
            stream: None,
        },
        format,
        plan,
        card: caps.card,
        driver: caps.driver,
        timeout,
    })
}

fn negotiate_format(
    dev: &Device,
    config: &V4l2Config,
    mode: Option<&SensorMode>,
) -> Result<PixelFormat, SourceError> {
    let path = config.device.as_path();
    let formats = devices::formats_of(dev).map_err(|e| io_err(path, "listing formats", e))?;
    let current =
        guard("VIDIOC_G_FMT", || dev.format()).map_err(|e| io_err(path, "VIDIOC_G_FMT", e))?;
    let candidates = offered(
        &formats,
        (current.width, current.height),
        config.fourcc,
        config.size,
    );
    let candidates = match mode {
        Some(m) => formats::filter_for_sensor(&candidates, m),
        None => candidates,
    };
    let choice = formats::choose_format(&candidates).ok_or_else(|| {
        let list: Vec<String> = formats.iter().map(|f| fourcc_text(f.fourcc)).collect();
        SourceError::Unsupported(format!(
            "{} offers no usable format{} (it offers: {}); `nightcap devices` shows formats and sizes",
            path.display(),
            match (config.fourcc, config.size) {
                (None, None) => String::new(),
                (f, s) => format!(
                    " matching{}{}",
                    f.map(|f| format!(" {}", fourcc_text(f))).unwrap_or_default(),
                    s.map(|(w, h)| format!(" {w}x{h}")).unwrap_or_default()
                ),
            },
            list.join(", ")
        ))
    })?;
    let want = Format::new(choice.width, choice.height, FourCC::new(&choice.fourcc));
    let got = guard("VIDIOC_S_FMT", || dev.set_format(&want))
        .map_err(|e| io_err(path, "VIDIOC_S_FMT", e))?;
    if got.fourcc.repr != choice.fourcc || (got.width, got.height) != (choice.width, choice.height)
    {
        return Err(SourceError::Unsupported(format!(
            "{} was asked for {} {}x{} but chose {} {}x{}; pass a format and size it supports",
            path.display(),
            fourcc_text(choice.fourcc),
            choice.width,
            choice.height,
            fourcc_text(got.fourcc.repr),
            got.width,
            got.height
        )));
    }
    let mut format = formats::pixel_format(got.fourcc.repr, got.width, got.height, got.stride)
        .map_err(|e| SourceError::Unsupported(format!("{}: {e}", path.display())))?;
    if format.packing == Packing::Mjpeg {
        // MJPEG frames vary in size: accept up to the driver's buffer size.
        let per_line = got.size.div_ceil(got.height.max(1));
        format.stride = format.stride.max(per_line);
        format
            .validate()
            .map_err(|e| SourceError::Unsupported(format!("{}: MJPEG {e}", path.display())))?;
    }
    Ok(format)
}

/// Finds the exposure controls (on the node, else on the sensor sub-device), writes the
/// plan and, for webcams, a frame interval long enough for the exposure. Returns the plan
/// and the frame period, µs, if known, and whether the controls are on the sensor.
fn set_exposure(
    dev: &Device,
    sensor: Option<&devices::SensorNode>,
    config: &V4l2Config,
    format: &PixelFormat,
) -> Result<(ExposurePlan, Option<u64>, bool), SourceError> {
    let path = config.device.as_path();
    let (target, controls) = if let Some(exposure) = query_control(dev, ids::EXPOSURE_ABSOLUTE) {
        let controls = ExposureControls::Absolute {
            exposure: exposure.range,
            auto: query_control(dev, ids::EXPOSURE_AUTO).map(|c| c.range),
            gain: query_control(dev, ids::GAIN).map(|c| c.range),
        };
        (dev, controls)
    } else if let Some(c) = sensor_controls(dev, Sensor::Other, format) {
        (dev, c)
    } else if let Some(node) = sensor {
        let c = sensor_controls(&node.dev, node.sensor, format).ok_or_else(|| {
            SourceError::Unsupported(format!("sensor {} lost its controls", node.name))
        })?;
        (&node.dev, c)
    } else {
        // No exposure control at all: the exposure is the frame period, set as close to
        // the one asked for as the device allows.
        let frame_us =
            set_frame_interval(dev, format, config.exposure_us).or_else(|| current_frame_us(dev));
        let gain = query_control(dev, ids::GAIN).map(|c| c.range);
        let mut plan = controls::plan_without_exposure_control(
            config.exposure_us,
            frame_us,
            gain.as_ref(),
            config.gain_milli,
        )
        .ok_or_else(|| {
            SourceError::Unsupported(format!(
                "{} has no exposure control nightcap can set (exposure_time_absolute, or a \
                 sensor sub-device with exposure, vertical_blanking and pixel_rate) and no frame \
                 interval it can read; `nightcap devices` lists what it has",
                path.display()
            ))
        })?;
        apply_plan(dev, path, &mut plan)?;
        return Ok((plan, frame_us, false));
    };
    let mut plan = controls::plan_exposure(&controls, config.exposure_us, config.gain_milli)
        .map_err(|e| SourceError::Unsupported(format!("{}: {e}", path.display())))?;
    // Webcams cap the exposure at the frame interval: lengthen the interval first.
    let frame_us = match controls {
        ExposureControls::Absolute { .. } => set_frame_interval(dev, format, plan.exposure_us),
        ExposureControls::Sensor { .. } => plan.frame_us,
    };
    apply_plan(target, path, &mut plan)?;
    Ok((plan, frame_us, !std::ptr::eq(target, dev)))
}

/// Makes the plan's control writes on `target` and reads them back: a value the driver
/// changed is said in a note, and a changed gain is the gain recorded.
fn apply_plan(target: &Device, path: &Path, plan: &mut ExposurePlan) -> Result<(), SourceError> {
    let has_autogain = query_control(target, ids::AUTOGAIN).is_some();
    controls::manual_gain_first(&mut plan.writes, has_autogain);
    let read = write_controls(target, &plan.writes).map_err(|(id, value, e)| {
        io_err(path, &format!("setting {} to {value}", ids::name(id)), e)
    })?;
    for (&(id, asked), got) in plan.writes.iter().zip(read) {
        match got {
            Some(got) if got != asked => {
                plan.notes.push(format!(
                    "the driver set {} to {got} instead of {asked}",
                    ids::name(id)
                ));
                if id == ids::GAIN && plan.gain_milli.is_some() {
                    plan.gain_milli = u32::try_from(got.max(0).saturating_mul(1000)).ok();
                }
            }
            Some(_) => {}
            None => plan
                .notes
                .push(format!("{} was set but cannot be read back", ids::name(id))),
        }
    }
    Ok(())
}

/// Writes each control in order, then reads each back (`None`: it cannot be read, as
/// for write-only controls). A failed write names the control and the value.
fn write_controls(
    target: &Device,
    writes: &[(u32, i64)],
) -> Result<Vec<Option<i64>>, (u32, i64, io::Error)> {
    for &(id, value) in writes {
        let ctrl = Control {
            id,
            value: Value::Integer(value),
        };
        guard("VIDIOC_S_EXT_CTRLS", || target.set_control(ctrl)).map_err(|e| (id, value, e))?;
    }
    Ok(writes
        .iter()
        .map(
            |&(id, _)| match guard("VIDIOC_G_EXT_CTRLS", || target.control(id)) {
                Ok(Control {
                    value: Value::Integer(v),
                    ..
                }) => Some(v),
                Ok(Control {
                    value: Value::Boolean(b),
                    ..
                }) => Some(i64::from(b)),
                _ => None,
            },
        )
        .collect())
}

/// The sensor-style controls of `dev`, if it has exposure (lines), VBLANK and pixel rate.
fn sensor_controls(dev: &Device, sensor: Sensor, format: &PixelFormat) -> Option<ExposureControls> {
    let exposure = query_control(dev, ids::EXPOSURE)?.range;
    let vblank = query_control(dev, ids::VBLANK)?.range;
    let pixel_rate = query_control(dev, ids::PIXEL_RATE)?.range.value;
    Some(ExposureControls::Sensor {
        sensor,
        width: format.width,
        height: format.height,
        pixel_rate,
        exposure,
        vblank,
        hblank: query_control(dev, ids::HBLANK).map(|c| c.range),
        analogue_gain: query_control(dev, ids::ANALOGUE_GAIN).map(|c| c.range),
    })
}

/// Asks a webcam for a frame interval that fits the exposure; returns the interval, µs.
/// Failure is not fatal: the camera then caps the exposure at its frame interval.
/// The device's current frame period, µs, if it reports one (VIDIOC_G_PARM).
fn current_frame_us(dev: &Device) -> Option<u64> {
    let f = guard("VIDIOC_G_PARM", || dev.params()).ok()?.interval;
    (f.denominator > 0).then(|| u64::from(f.numerator) * 1_000_000 / u64::from(f.denominator))
}

fn set_frame_interval(dev: &Device, format: &PixelFormat, exposure_us: u32) -> Option<u64> {
    let fourcc = FourCC::new(&format.fourcc);
    let intervals = guard("listing frame intervals", || {
        dev.enum_frameintervals(fourcc, format.width, format.height)
    })
    .ok()?;
    let mut candidates = Vec::new();
    for i in intervals {
        match i.interval {
            FrameIntervalEnum::Discrete(f) => candidates.push((f.numerator, f.denominator)),
            FrameIntervalEnum::Stepwise(s) => {
                candidates.push((s.min.numerator, s.min.denominator));
                candidates.push((s.max.numerator, s.max.denominator));
                // The exact exposure, if the range holds it (rounded to 100 µs).
                let (lo, hi) = (
                    u64::from(s.min.numerator) * 1_000_000 / u64::from(s.min.denominator.max(1)),
                    u64::from(s.max.numerator) * 1_000_000 / u64::from(s.max.denominator.max(1)),
                );
                if (lo..=hi).contains(&u64::from(exposure_us)) {
                    candidates.push((exposure_us.div_ceil(100), 10_000));
                }
            }
        }
    }
    let (num, den) = pick_interval(&candidates, exposure_us)?;
    let set = guard("VIDIOC_S_PARM", || {
        dev.set_params(&Parameters::new(Fraction::new(num, den)))
    })
    .ok()?;
    let f = set.interval;
    (f.denominator > 0).then(|| u64::from(f.numerator) * 1_000_000 / u64::from(f.denominator))
}

fn start_stream(dev: &Device, buffers: u32, timeout: Duration) -> io::Result<MmapStream<'static>> {
    let mut stream = guard("VIDIOC_REQBUFS", || {
        MmapStream::with_buffers(dev, BufType::VideoCapture, buffers.clamp(2, 32))
    })?;
    stream.set_timeout(timeout);
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_frame::Cfa;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delays: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn timeout_covers_two_frames_plus_slack() {
        assert_eq!(frame_timeout(5_000_000, None), Duration::from_secs(22));
        // A webcam at 1 fps with a 100 ms exposure: 2 * (0.1 + 1) + 2.
        assert_eq!(
            frame_timeout(100_000, Some(1_000_000)),
            Duration::from_millis(4200)
        );
        assert_eq!(
            frame_timeout(u32::MAX, None),
            Duration::from_micros(2 * 2 * u64::from(u32::MAX) + 2_000_000)
        );
    }

    #[test]
    fn open_errors_name_the_path_and_the_fix() {
        let path = Path::new("/dev/video0");
        let missing = io::Error::from_raw_os_error(2);
        let SourceError::Unsupported(msg) = open_error(path, &missing, true) else {
            panic!("a missing camera at start is final")
        };
        assert!(
            msg.contains("/dev/video0") && msg.contains("nightcap devices"),
            "{msg}"
        );
        assert!(matches!(
            open_error(path, &missing, false),
            SourceError::DeviceGone { .. }
        ));
        let denied = io::Error::from_raw_os_error(13);
        let SourceError::Unsupported(msg) = open_error(path, &denied, false) else {
            panic!("permission problems are final")
        };
        assert!(msg.contains("video` group"), "{msg}");
        let busy = io::Error::from_raw_os_error(16);
        assert!(open_error(path, &busy, true).to_string().contains("busy"));
        assert!(is_device_gone(&io::Error::from_raw_os_error(19)));
        assert!(is_device_gone(&io::Error::from_raw_os_error(5)));
        assert!(!is_device_gone(&io::Error::from_raw_os_error(22)));
    }

    fn fmt_info(f: &[u8; 4], sizes: Vec<SizeRange>) -> FormatInfo {
        FormatInfo {
            fourcc: *f,
            description: String::new(),
            sizes,
        }
    }

    #[test]
    fn offered_sizes_honour_the_users_choice() {
        let d = |w, h| SizeRange::Discrete {
            width: w,
            height: h,
        };
        let formats = [
            fmt_info(b"YUYV", vec![d(640, 480), d(1280, 720)]),
            fmt_info(b"MJPG", vec![d(1920, 1080)]),
            fmt_info(b"pRCC", vec![]),
            fmt_info(
                b"RG12",
                vec![SizeRange::Stepwise {
                    min: (16, 16),
                    max: (4056, 3040),
                    step: (2, 2),
                }],
            ),
        ];
        let all = offered(&formats, (4056, 3040), None, None);
        assert_eq!(all.len(), 5);
        assert!(all.contains(&Offered {
            fourcc: *b"pRCC",
            width: 4056,
            height: 3040
        }));
        let c = formats::choose_format(&all).unwrap();
        assert_eq!((&c.fourcc, c.width), (b"pRCC", 4056));
        let yuyv = offered(&formats, (0, 0), Some(*b"YUYV"), None);
        assert_eq!(formats::choose_format(&yuyv).unwrap().width, 1280);
        let sized = offered(&formats, (4056, 3040), None, Some((2028, 1520)));
        assert_eq!(
            sized,
            [Offered {
                fourcc: *b"RG12",
                width: 2028,
                height: 1520
            }]
        );
        assert!(offered(&formats, (0, 0), Some(*b"GREY"), None).is_empty());
    }

    #[test]
    fn interval_fits_the_exposure() {
        let c = [(1, 30), (1, 15), (1, 5), (1, 1)];
        assert_eq!(
            pick_interval(&c, 100_000),
            Some((1, 5)),
            "shortest that fits 100 ms"
        );
        assert_eq!(pick_interval(&c, 30_000), Some((1, 30)));
        assert_eq!(
            pick_interval(&c, 5_000_000),
            Some((1, 1)),
            "longest when none fits"
        );
        assert_eq!(pick_interval(&[], 1000), None);
        assert_eq!(pick_interval(&[(1, 0)], 1000), None);
    }

    fn raw_format() -> PixelFormat {
        // 8 px of RAW10 = 10 bytes per line, padded to 16.
        PixelFormat {
            fourcc: *b"pRAA",
            width: 8,
            height: 2,
            stride: 16,
            bit_depth: 10,
            cfa: Cfa::Rggb,
            packing: Packing::Csi2P10,
        }
    }

    #[test]
    fn buffers_are_cut_to_the_frame_or_rejected() {
        let f = raw_format();
        let data: Vec<u8> = (0..40).collect(); // mapped buffer larger than the frame
        let mut out = vec![9; 3];
        accept_buffer(&f, &data, 32, 0x2000, 7, &mut out).unwrap();
        assert_eq!(out, (0..32).collect::<Vec<u8>>());
        // sizeimage rounding: bytesused beyond the frame is not part of it.
        accept_buffer(&f, &data, 40, 0, 7, &mut out).unwrap();
        assert_eq!(out.len(), 32);
        // Short transfer and error flag are corrupt frames naming the driver sequence.
        let short = accept_buffer(&f, &data, 31, 0, 8, &mut out).unwrap_err();
        assert!(matches!(
            short,
            SourceError::CorruptBuffer { driver_seq: 8 }
        ));
        let flagged = accept_buffer(&f, &data, 32, 0x2040, 9, &mut out).unwrap_err();
        assert!(matches!(
            flagged,
            SourceError::CorruptBuffer { driver_seq: 9 }
        ));
        // A payload claimed larger than the mapping is cut to the mapping, then short.
        assert!(accept_buffer(&f, &data[..20], 32, 0, 1, &mut out).is_err());
    }

    #[test]
    fn mjpeg_frames_keep_their_own_length() {
        let f = formats::pixel_format(*b"MJPG", 4, 2, 0).unwrap(); // up to 24 bytes
        let data = [0xffu8; 64];
        let mut out = Vec::new();
        accept_buffer(&f, &data, 13, 0, 1, &mut out).unwrap();
        assert_eq!(out.len(), 13);
        assert!(
            accept_buffer(&f, &data, 0, 0, 2, &mut out).is_err(),
            "empty"
        );
        assert!(
            accept_buffer(&f, &data, 25, 0, 3, &mut out).is_err(),
            "over the cap"
        );
    }

    #[test]
    fn meta_from_monotonic_and_other_stamps() {
        let offset = ClockOffset::from_pair(100_000_000_000, 1_588_037_400_000_000_000);
        // Monotonic stamp 120 s = 20 s after the pair: end of a 5 s exposure.
        let m = frame_meta(&offset, (120, 0), 0x2000, 42, 5_000_000, 4000, 0);
        assert_eq!(m.time_utc_ns, 1_588_037_415_000_000_000);
        assert_eq!(
            (m.exposure_us, m.gain_milli, m.driver_seq),
            (5_000_000, 4000, 42)
        );
        assert_eq!(m.driver_ts_ns, 120_000_000_000);
        assert_eq!(m.end_utc_ns(), 1_588_037_420_000_000_000);
        // Start-of-exposure stamps are the start.
        let m = frame_meta(&offset, (120, 0), 0x1_2000, 43, 5_000_000, 0, 0);
        assert_eq!(m.time_utc_ns, 1_588_037_420_000_000_000);
        // A non-monotonic stamp falls back to the dequeue time minus the exposure.
        let m = frame_meta(&offset, (7, 0), 0x4000, 44, 1_000_000, 0, 2_000_000_000);
        assert_eq!(m.time_utc_ns, 1_000_000_000);
    }

    #[test]
    fn opening_a_missing_camera_says_how_to_find_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = V4l2Config::new(dir.path().join("video0"), 5_000_000);
        let Err(SourceError::Unsupported(msg)) = V4l2Source::open(&config) else {
            panic!("expected Unsupported")
        };
        assert!(
            msg.contains("video0") && msg.contains("nightcap devices"),
            "{msg}"
        );
        // A regular file is not a V4L2 device: a clear error, not a panic.
        std::fs::write(dir.path().join("video1"), b"not a device").unwrap();
        let config = V4l2Config::new(dir.path().join("video1"), 5_000_000);
        assert!(matches!(
            V4l2Source::open(&config),
            Err(SourceError::Unsupported(_))
        ));
    }

    #[test]
    fn stream_errors_are_classified() {
        let p = Path::new("/dev/video0");
        let f = raw_format();
        let w = Duration::from_millis(1500);
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "VIDIOC_DQBUF");
        assert!(matches!(
            stream_error(p, &f, timed_out, w),
            SourceError::Timeout { timeout_ms: 1500 }
        ));
        let eintr = io::Error::from_raw_os_error(4);
        assert!(stream_error(p, &f, eintr, w).is_transient());
        let enodev = io::Error::from_raw_os_error(19);
        let SourceError::DeviceGone { device, .. } = stream_error(p, &f, enodev, w) else {
            panic!("ENODEV means the camera is gone")
        };
        assert_eq!(device, "/dev/video0");
        let epipe = io::Error::from_raw_os_error(32);
        let msg = stream_error(p, &f, epipe, w).to_string();
        assert!(msg.contains("media-ctl") && msg.contains("pRAA"), "{msg}");
        let einval = io::Error::from_raw_os_error(22);
        assert!(matches!(
            stream_error(p, &f, einval, w),
            SourceError::Io { .. }
        ));
        // EIO from a dequeue is a queue in error, which a stream restart clears.
        let eio = io::Error::from_raw_os_error(5);
        assert!(matches!(
            stream_error(p, &f, eio, w),
            SourceError::Io { .. }
        ));
    }
}
