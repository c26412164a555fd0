//! `nightcap capture` and `nightcap import`: frames from a camera, the simulated sky or a
//! folder of images into a journal.
//!
//! The original program's flags keep their meaning: `-e/--exposure` ms, `-d/--duration` s
//! (a stacked JPEG every so often, written by the stacker following the journal),
//! `-f/--fileprefix`, `-drc` (also spelled `--drc`), `-v`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::args::{parse_bytes, parse_fourcc, parse_size, parse_source, SourceSpec};
use super::ui::{count, Ui};
use crate::capture::pipeline::CameraLost;
use crate::capture::pipeline::StopReason;
use crate::capture::{self, CaptureConfig, CaptureError, CaptureSummary, Counters};
use crate::status::board::{Board, NightWindow};
use crate::status::health::OnAlarm;
use crate::status::server::{Areas, StatusServer};
use crate::status::watch::WatchConfig;
use nightcap_frame::sun::{self, Place};
use nightcap_frame::time::{human_duration, parse_duration, parse_utc};
use nightcap_journal::ring::Budget;
use nightcap_journal::WriterConfig;
use nightcap_source::images::ImageFolder;
use nightcap_source::sim::{FaultPlan, Rates, SensorPreset, SimConfig, SimSky};
use nightcap_source::v4l2::{V4l2Config, V4l2Source};
use nightcap_source::FrameSource;
use nightcap_stack::follow::follow_stack_beside_capture;
use nightcap_stack::tone::Drc;
use nightcap_stack::StackConfig;
use std::time::Instant;

/// Capture frames into a journal: from a V4L2 camera, the simulated sky, or a folder of
/// images. Stops at --frames, --for, the end of the source, or Ctrl-C (everything sealed).
#[derive(Debug, Clone, clap::Args)]
pub struct CaptureArgs {
    /// Where frames come from: `camera` (the first V4L2 camera that streams a format
    /// nightcap can store; see `nightcap devices`), `v4l2:/dev/video0`, `sim` (the
    /// simulated sky, for a demo) or `images:DIR`.
    #[arg(long, default_value = "camera", value_parser = parse_source)]
    pub source: SourceSpec,
    /// Exposure time in milliseconds (as the original program's -e).
    #[arg(short = 'e', long, default_value_t = 5000)]
    pub exposure: u32,
    /// Write a stacked image every this many seconds while capturing (as the original
    /// program's -d); 0 turns live stacks off. Any duration can be stacked later with
    /// `nightcap stack`.
    #[arg(short = 'd', long = "duration", default_value_t = 60)]
    pub live_every_s: u32,
    /// Prefix of the live stacked images (as the original program's -f).
    #[arg(short = 'f', long, default_value = "./img")]
    pub fileprefix: String,
    /// Bytes the live stacks may take on disk (e.g. 4G; 0 for no limit): past it the
    /// oldest are deleted, so weeks of unattended nights cannot fill the card. Only files
    /// named as the live stacker names them (prefix + stamp) count or go.
    #[arg(long, default_value = "4G", value_parser = parse_bytes)]
    pub live_budget: u64,
    /// A caption on each live stack: local date and time, frames and exposure, and SITE
    /// if given (`--caption garden-pi`).
    #[arg(long, value_name = "SITE", num_args = 0..=1, default_missing_value = "")]
    pub caption: Option<String>,
    /// Name live stacks in UTC instead of local time (`img20260812193000.jpg`).
    #[arg(long)]
    pub utc: bool,
    /// Live stacks: repair hot pixels (found from the first minute's frames).
    #[arg(long)]
    pub hot_pixels: bool,
    /// Live stacks: subtract the mean of this journal of dark frames (lens capped, same
    /// exposure and gain; checked before capture starts).
    #[arg(long, value_name = "JOURNAL")]
    pub dark: Option<PathBuf>,
    /// Detect meteors, satellites and planes while capturing, at a low priority beside
    /// it (never delaying a frame): each event is appended to DIR/events.jsonl and
    /// events.csv as it is found, with a crop per meteor, and said (default DIR:
    /// ./detections).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "detections")]
    pub detect: Option<PathBuf>,
    /// Dynamic range compression of the live stacks (as the original program's -drc).
    #[arg(long, default_value = "off", value_parser = ["off", "low", "medium", "high"])]
    pub drc: String,
    /// Sensor gain (1.0 = unity); the camera's own setting when omitted.
    #[arg(long)]
    pub gain: Option<f64>,
    /// The camera's pixel format, as its V4L2 fourcc (`RG12`, `pRCC`, `YUYV`, `GREY`); the
    /// best raw format it offers when omitted (`nightcap devices` lists them).
    #[arg(long, value_name = "FOURCC", value_parser = parse_fourcc)]
    pub pixel_format: Option<[u8; 4]>,
    /// The camera's frame size, `WIDTHxHEIGHT`; the largest it offers when omitted. With
    /// `--source sim`, one of the simulated sensor's modes (`imx477`: 2028x1520 binned).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// When the camera disappears (unplugged, driver reset): `wait` keeps trying to open
    /// it again and carries on when it is back; `stop` seals the journal and exits 1.
    #[arg(long, value_name = "WHAT", default_value = "wait", value_parser = ["wait", "stop"])]
    pub camera_lost: String,
    /// The journal directory.
    #[arg(long, default_value = "./journal")]
    pub journal: PathBuf,
    /// Byte budget of the journal ring (e.g. 8G); oldest sealed segments are deleted to stay within it.
    #[arg(long, value_parser = parse_bytes)]
    pub ring_size: Option<u64>,
    /// Free space to keep on the disk (e.g. 512M).
    #[arg(long, value_parser = parse_bytes, default_value = "256M")]
    pub reserve: u64,
    /// Size of each segment file (e.g. 256M).
    #[arg(long, value_parser = parse_bytes, default_value = "256M")]
    pub segment_size: u64,
    /// Seal a segment once it spans this much time (e.g. 15m), so rsync can ship a night piece by piece.
    #[arg(long, value_parser = parse_duration, default_value = "15m")]
    pub segment_time: i64,
    /// zstd level (0 stores frames uncompressed; the pipeline lowers it when it falls behind).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub zstd_level: i32,
    /// Compression threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Frames in flight between camera and journal (default: workers + 1, at least 3; the
    /// minimum is 2). Each holds one raw frame: 3 keeps a 12 MP capture under 128 MiB; more
    /// gives the pipeline slack to lower the zstd level before it has to drop a frame.
    #[arg(long)]
    pub buffers: Option<usize>,
    /// Stop after this many frames.
    #[arg(long)]
    pub frames: Option<u64>,
    /// Stop once frames span this long (by their timestamps, e.g. 1h).
    #[arg(long = "for", value_parser = parse_duration)]
    pub run_for: Option<i64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// The simulated sensor: imx477, imx219, ov5647, webcam, small, tiny.
    #[arg(long, default_value = "imx477")]
    pub sim_sensor: String,
    /// Speed of the simulated clock: 1 = real time, 720 = an hour in 5 s, 0 = as fast as possible.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub sim_speed: f64,
    /// Seed of the simulated sky (same seed, same sky, same frames).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// UTC time of the first simulated exposure (default: a night in August 2026).
    #[arg(long, value_parser = parse_utc)]
    pub sim_start: Option<i64>,
    /// Drifting clouds in the simulated sky.
    #[arg(long)]
    pub sim_clouds: bool,
    /// Faults to inject into the simulated camera, e.g. "timeout@10,skip@20:3,error@30,gone@40:5".
    #[arg(long)]
    pub sim_faults: Option<String>,
    /// Meteors, satellites, planes and (optionally) other things (insects and birds
    /// near the lens) per hour in the simulated sky, e.g. `60,20,5` or `60,20,5,2`
    /// (default 6,3.6,0.7,1). What crossed is written to `sim-truth.jsonl` in the journal.
    #[arg(long, value_name = "M,S,P[,O]", value_parser = parse_rates)]
    pub sim_rates: Option<Rates>,
    /// UTC offset (hours) of times in image file names without a zone (images: source).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub utc_offset: f64,
    /// Serve the status page (with /api/status and /metrics) while capturing, at PORT or
    /// ADDRESS:PORT (default 127.0.0.1:8080: this machine only; 0.0.0.0:8080 for the
    /// network). It never delays a frame: its threads run at low priority.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080", value_parser = super::serve::parse_listen)]
    pub status: Option<String>,
    /// Capture only while it is dark at this place (LAT,LON, degrees north and east):
    /// wait for dusk, capture until dawn (sealing the night's segments), every night,
    /// until stopped. `nightcap night LAT,LON` prints tonight's window.
    #[arg(long, value_name = "LAT,LON", value_parser = super::night::parse_place, allow_hyphen_values = true)]
    pub night: Option<Place>,
    /// With --night: how dark: `civil` (sun below −6°), `nautical` (−12°),
    /// `astronomical` (−18°) or degrees.
    #[arg(long, default_value = "nautical", value_parser = super::night::parse_altitude, allow_hyphen_values = true)]
    pub dark_below: f64,
    /// When stderr is not a terminal (a service under systemd), log a status line this
    /// often (frames, drops, dead time, sky, disk); 0 for never.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub health_every: i64,
    /// What an alarm (capture stalled, camera error, disk low) does: `warn` logs it,
    /// `exit` also stops the capture with a failure status, for a service to restart.
    #[arg(long, default_value = "warn", value_parser = ["warn", "exit"])]
    pub on_alarm: String,
    /// The disk counts as low (an alarm) below this many hours of runway at tonight's
    /// write rate.
    #[arg(long, default_value_t = 2.0, value_name = "HOURS")]
    pub min_runway: f64,
    /// Testing aid: delay the journal writer by this many ms per record (simulates a slow disk).
    #[arg(long, hide = true)]
    pub debug_slow_writer: Option<u64>,
}

/// Import a folder of JPEG/PNG/TIFF frames (such as the original program's) or raw FITS
/// frames into a journal, ordered and timestamped from FITS DATE-OBS, EXIF, file names or
/// modification times.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The folder of images.
    pub dir: PathBuf,
    /// The journal directory to write (created if missing).
    pub journal: PathBuf,
    /// UTC offset (hours) of times in file names and EXIF without a zone.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub utc_offset: f64,
}

pub fn run(args: CaptureArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    check_args(&args)?;
    preflight(&args.journal)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    let board = Board::new("capture", &args.journal, args.min_runway);
    let beside = Beside::start(&args, &board, &stop, ui)?;
    let result = match args.night {
        None => capture_session(&args, &board, &stop, None, ui),
        Some(place) => capture_nights(&args, place, &board, &stop, ui),
    };
    board.stopped();
    let alarm = beside.stop();
    let summary = result?;
    if let Some(why) = alarm {
        bail!(
            "capture into {} stopped by an alarm: {why}; every frame before is sealed (--on-alarm exit asked for this)",
            args.journal.display()
        );
    }
    if let Some(summary) = summary {
        if args.source == SourceSpec::Sim && args.night.is_none() {
            // A side file for measuring detectors: failing to write it (a full disk the
            // ring kept capturing on) is worth a warning, not the capture's failure.
            match write_sim_truth(&sim_config(&args)?, &args.journal) {
                Ok(n) => ui.detail(format!(
                    "{n} simulated meteors, satellites and planes: {}",
                    args.journal.join("sim-truth.jsonl").display()
                )),
                Err(e) => eprintln!(
                    "nightcap: warning: {}; every frame is in the journal, only the list of simulated events is missing",
                    super::one_line(&e)
                ),
            }
        }
        if args.night.is_none() {
            print_summary(&summary, &args.journal, args.json, ui)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The status server, the journal watcher and the health thread, beside a capture.
struct Beside {
    server: Option<StatusServer>,
    threads: Vec<std::thread::JoinHandle<()>>,
    done: Arc<AtomicBool>,
    alarm: Option<crate::status::health::AlarmStop>,
}

impl Beside {
    fn start(
        args: &CaptureArgs,
        board: &Board,
        stop: &Arc<AtomicBool>,
        ui: Ui,
    ) -> anyhow::Result<Beside> {
        use std::io::IsTerminal;
        let done = Arc::new(AtomicBool::new(false));
        let on_alarm = OnAlarm::from_name(&args.on_alarm).unwrap_or_default();
        // The log line a minute is for journald: not on a terminal, which has the
        // status line already.
        let every = if std::io::stderr().is_terminal() || ui.quiet {
            Duration::ZERO
        } else {
            Duration::from_nanos(args.health_every.max(0) as u64)
        };
        let live = (args.live_every_s > 0).then(|| super::serve::live_parts(&args.fileprefix));
        let mut beside = Beside {
            server: None,
            threads: Vec::new(),
            done: Arc::clone(&done),
            alarm: None,
        };
        if let Some(addr) = &args.status {
            let areas = Areas {
                journal: args.journal.clone(),
                live: live.clone(),
                detections: args.detect.clone(),
            };
            let server = StatusServer::start(addr, board.clone(), areas).context(
                "the status page cannot start (is the port in use? choose another with --status ADDRESS:PORT)",
            )?;
            ui.say(format!("status page: http://{}/", server.addr));
            beside.server = Some(server);
        }
        let watching = args.status.is_some() || !every.is_zero() || on_alarm == OnAlarm::Exit;
        if watching {
            beside.threads.push(crate::status::watch::spawn(
                WatchConfig {
                    journal: args.journal.clone(),
                    live,
                    detections: args.detect.clone(),
                    ring_bytes: args.ring_size,
                    reserve_bytes: Some(args.reserve),
                    every: if args.status.is_some() {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_secs(10)
                    },
                    // Decoding every frame is for the page's charts and pictures.
                    decode: args.status.is_some(),
                },
                board.clone(),
                Arc::clone(&done),
            ));
            let (t, why) = crate::status::health::spawn(
                board.clone(),
                every,
                on_alarm,
                Arc::clone(stop),
                Arc::clone(&done),
            );
            beside.threads.push(t);
            beside.alarm = Some(why);
        }
        Ok(beside)
    }

    /// Stops everything; returns why an alarm stopped the capture, if one did.
    fn stop(self) -> Option<String> {
        self.done.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(s) = self.server {
            s.stop();
        }
        self.alarm
            .and_then(|a| a.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The sky's clock for `--night`: the wall clock for a camera; for the simulated sky its
/// own virtual clock (its start time, sped up by --sim-speed; at speed 0 waiting takes
/// no time at all).
struct SkyClock {
    sim: Option<(Instant, i64, f64)>,
}

impl SkyClock {
    fn for_args(args: &CaptureArgs) -> SkyClock {
        SkyClock {
            sim: (args.source == SourceSpec::Sim).then(|| {
                (
                    Instant::now(),
                    args.sim_start.unwrap_or(SimConfig::default().start_utc_ns),
                    args.sim_speed,
                )
            }),
        }
    }

    fn now(&self) -> i64 {
        match self.sim {
            None => nightcap_frame::time::now_utc_ns(),
            Some((anchor, at, speed)) => at + (anchor.elapsed().as_secs_f64() * speed * 1e9) as i64,
        }
    }

    /// The simulated clock reads `t` now (after a night's frames, or a wait at speed 0).
    fn set(&mut self, t: i64) {
        if let Some((_, _, speed)) = self.sim {
            self.sim = Some((Instant::now(), t, speed));
        }
    }

    /// Waits until the clock reads `t` or `stop` is set.
    fn wait_until(&mut self, t: i64, stop: &AtomicBool) {
        if matches!(self.sim, Some((_, _, speed)) if speed == 0.0) {
            self.set(t);
            return;
        }
        while !stop.load(Ordering::Relaxed) && self.now() < t {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `capture --night`: every night, wait for dusk, capture until dawn (each night's
/// segments sealed at dawn), until stopped or a limit ends a night early.
fn capture_nights(
    args: &CaptureArgs,
    place: Place,
    board: &Board,
    stop: &Arc<AtomicBool>,
    ui: Ui,
) -> anyhow::Result<Option<CaptureSummary>> {
    let mut clock = SkyClock::for_args(args);
    let alt = args.dark_below;
    let window = |start: i64, end: Option<i64>| NightWindow {
        place: place.to_string(),
        dark_below_deg: alt,
        start_utc: Some(nightcap_frame::time::utc_iso(start)),
        end_utc: end.map(nightcap_frame::time::utc_iso),
    };
    let mut last = None;
    while !stop.load(Ordering::Relaxed) {
        match sun::schedule(place, alt, clock.now()) {
            sun::Schedule::NeverDark => bail!(
                "the sun does not sink below {alt}° at {place} for a year: nothing to capture (a higher --dark-below such as civil, -6°, may have nights)"
            ),
            sun::Schedule::LightUntil(dusk) => {
                let dawn = match sun::schedule(place, alt, dusk + 1_000_000_000) {
                    sun::Schedule::DarkUntil(d) => Some(d),
                    _ => None,
                };
                board.set_night(window(dusk, dawn));
                board.waiting_for_night(Some(dusk));
                ui.say(format!(
                    "waiting for night: the sun sinks below {alt}° at {place} at {}; capture starts then",
                    super::night::clock(dusk, args.utc)
                ));
                clock.wait_until(dusk, stop);
                board.waiting_for_night(None);
            }
            sun::Schedule::DarkUntil(dawn) => {
                let now = clock.now();
                board.set_night(window(now, Some(dawn)));
                ui.say(format!(
                    "night at {place}: capturing until the sun rises above {alt}° at {}",
                    super::night::clock(dawn, args.utc)
                ));
                let mut night = args.clone();
                if clock.sim.is_some() {
                    night.sim_start = Some(now);
                }
                let summary = capture_session(&night, board, stop, Some(dawn), ui)?;
                if let Some(s) = &summary {
                    print_summary(s, &args.journal, args.json, ui)?;
                    if s.stop != StopReason::Dawn {
                        return Ok(summary);
                    }
                }
                clock.set(dawn.max(clock.now()));
                last = summary;
            }
        }
    }
    Ok(last)
}

/// One capture from start to a stop: the source opened, the pipeline run, live stacks
/// and detection beside it. `None` when stopped before the source was opened.
fn capture_session(
    args: &CaptureArgs,
    board: &Board,
    stop: &Arc<AtomicBool>,
    until_ns: Option<i64>,
    ui: Ui,
) -> anyhow::Result<Option<CaptureSummary>> {
    if stop.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let source = open_source(args)?;
    if let Some(warning) = night_warning(args, &source.format()) {
        eprintln!("nightcap: warning: {warning}");
    }
    board.set_source(source.describe(), source.format().to_string());
    let mut cfg = CaptureConfig::new(writer_config(args));
    if let Some(w) = args.workers {
        cfg.workers = w;
        cfg.buffers = crate::capture::pipeline::default_buffers(w);
    }
    if let Some(b) = args.buffers {
        cfg.buffers = b;
    }
    cfg.frames = args.frames;
    cfg.run_for_ns = args.run_for;
    cfg.until_ns = until_ns;
    cfg.camera_lost = CameraLost::from_name(&args.camera_lost).unwrap_or_default();
    // Each stall, restart, corrupt buffer or lost camera is a line in the log (journald
    // keeps stderr), as it happens; the journal's GAP records keep them too.
    let errors = board.clone();
    cfg.on_source_error = Some(Arc::new(move |e: &nightcap_source::SourceError| {
        eprintln!("nightcap: warning: camera: {e}");
        let timeout = matches!(e, nightcap_source::SourceError::Timeout { .. });
        errors.camera_error(format!("camera: {e}"), timeout);
    }));
    cfg.throttle = args.debug_slow_writer.map(Duration::from_millis);
    let verbose = ui.verbose;
    let taken = board.clone();
    // As the original printed each frame's time with -v: one line per exposure.
    cfg.on_frame = Some(Arc::new(
        move |m: &nightcap_frame::FrameMeta, dead: Option<i64>| {
            taken.frame_taken();
            if verbose {
                eprintln!(
                    "frame {} UTC: exposure {:.3} s{}",
                    nightcap_frame::time::utc_iso(m.time_utc_ns).replace('T', " "),
                    f64::from(m.exposure_us) / 1e6,
                    dead.map(|d| format!(
                        ", {:.0} ms after the previous one ended",
                        d as f64 / 1e6
                    ))
                    .unwrap_or_default()
                );
            }
        },
    ));
    let calibration = match (&args.dark, args.live_every_s > 0) {
        (Some(dark), true) => live_dark(dark, &source.format(), args.exposure, gain_milli(args))?,
        _ => Default::default(),
    };
    let live = (args.live_every_s > 0).then(|| LiveStacks {
        every_s: args.live_every_s,
        prefix: args.fileprefix.clone(),
        drc: Drc::from_name(&args.drc).unwrap_or(Drc::Off),
        utc: args.utc,
        hot_pixels: args.hot_pixels,
        calibration,
        budget: args.live_budget,
        caption: args.caption.clone(),
    });
    let detect = args.detect.clone().map(|out| super::detect_live::Follow {
        out,
        cfg: nightcap_detect::DetectConfig::default(),
        from_ns: None,
        from_seq: None,
        fresh: false,
        search_rest: true,
    });
    run_pipeline(
        source,
        cfg,
        &args.journal,
        live,
        detect,
        Arc::clone(stop),
        ui,
    )
    .map(Some)
}

fn print_summary(s: &CaptureSummary, journal: &Path, json: bool, ui: Ui) -> anyhow::Result<()> {
    if json {
        super::ui::outln(serde_json::to_string_pretty(s)?)?;
    } else {
        ui.say(summary_text(s, journal));
    }
    Ok(())
}

pub fn run_import(args: ImportArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let offset = (args.utc_offset * 3600.0).round() as i32;
    let mut source = ImageFolder::open(&args.dir, offset)
        .with_context(|| format!("cannot import {}", args.dir.display()))?;
    for s in source.skipped() {
        ui.say(format!("skipped {}: {}", s.path.display(), s.reason));
    }
    // Frames the journal holds already (an import run twice, or resumed after a kill)
    // are left out, so each frame is imported once.
    let already = imported_times(&args.journal)?;
    let present = source.skip_times(&already);
    let wanted = source.entries().len() as u64;
    let log = source.skip_log();
    let listed_skips = log.list().len();
    if wanted == 0 {
        ui.say(format!(
            "nothing to import: all {present} frames of {} are in {} already",
            args.dir.display(),
            args.journal.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut w = WriterConfig::new(&args.journal);
    w.budget.reserve_bytes = 0;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    let summary = run_pipeline(
        Box::new(source),
        CaptureConfig::new(w),
        &args.journal,
        None,
        None,
        stop,
        ui,
    )?;
    print_summary(&summary, &args.journal, false, ui)?;
    if present > 0 {
        ui.say(format!(
            "{} already in the journal, left out",
            count(present as u64, "frame")
        ));
    }
    if summary.written < wanted {
        let failed = log.list().split_off(listed_skips);
        let first = failed
            .first()
            .map(|s| format!(" (first: {}: {})", s.path.display(), s.reason))
            .unwrap_or_default();
        bail!(
            "imported {} of {} frames: {} not imported{first}; fix or remove those files and run the import again (frames already imported are left out)",
            summary.written,
            wanted,
            wanted - summary.written
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Exposure start times of the frames a journal holds (none if it does not exist yet).
fn imported_times(journal: &Path) -> anyhow::Result<std::collections::HashSet<i64>> {
    if !journal.exists() {
        return Ok(Default::default());
    }
    let j = nightcap_journal::Journal::open(journal)
        .with_context(|| format!("cannot read the journal {}", journal.display()))?;
    Ok(j.frames().iter().map(|r| r.entry.time_ns).collect())
}

/// The first simulated-sky flag given on the command line while the source is not the
/// simulated sky: the simulation is always asked for by name, so a stray `--sim-speed`
/// must not pass unnoticed (nor silently turn a camera capture into a simulated one).
pub fn misplaced_sim_flag(args: &CaptureArgs, m: &clap::ArgMatches) -> Option<&'static str> {
    const SIM_FLAGS: [(&str, &str); 7] = [
        ("sim_sensor", "--sim-sensor"),
        ("sim_speed", "--sim-speed"),
        ("sim_start", "--sim-start"),
        ("sim_clouds", "--sim-clouds"),
        ("sim_faults", "--sim-faults"),
        ("sim_rates", "--sim-rates"),
        ("seed", "--seed"),
    ];
    if args.source == SourceSpec::Sim {
        return None;
    }
    SIM_FLAGS
        .iter()
        .find(|(id, _)| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .map(|&(_, flag)| flag)
}

/// Option values that cannot work, refused before anything is opened or created (exit
/// 2: they come from the command line or the config file, which `check_args` sees after
/// the file was applied).
fn check_args(args: &CaptureArgs) -> anyhow::Result<()> {
    use crate::usage;
    if args.exposure == 0 {
        usage!("--exposure must be at least 1 ms");
    }
    if let Some(w) = args.workers {
        if !(1..=MAX_WORKERS).contains(&w) {
            usage!("--workers {w} is out of range: use 1 to {MAX_WORKERS} (default: one per core)");
        }
    }
    if let Some(b) = args.buffers {
        if !(2..=MAX_BUFFERS).contains(&b) {
            usage!("--buffers {b} is out of range: use 2 (one frame being captured, one being compressed) to {MAX_BUFFERS}");
        }
    }
    if !(-7..=22).contains(&args.zstd_level) {
        usage!(
            "--zstd-level {} is out of range: use 1 (the default) up to 22, 0 to store frames uncompressed, or -7..-1 for faster",
            args.zstd_level
        );
    }
    let camera = matches!(args.source, SourceSpec::Camera | SourceSpec::V4l2(_));
    let sim = matches!(args.source, SourceSpec::Sim);
    if !camera && args.pixel_format.is_some() {
        usage!("--pixel-format chooses a camera's format: use it with --source camera or v4l2:/dev/videoN");
    }
    if !camera && !sim && args.size.is_some() {
        usage!("--size chooses a camera's frame size: use it with --source camera, v4l2:/dev/videoN or sim");
    }
    if let (true, Some(size)) = (sim, args.size) {
        if let Some(sensor) = SensorPreset::from_name(&args.sim_sensor) {
            if sensor.format_at(size).is_none() {
                let sizes: Vec<String> = sensor
                    .sizes()
                    .iter()
                    .map(|(w, h)| format!("{w}x{h}"))
                    .collect();
                usage!(
                    "--size {}x{}: the simulated {} has no such mode: use one of {}",
                    size.0,
                    size.1,
                    sensor.name(),
                    sizes.join(", ")
                );
            }
        }
    }
    if args.night.is_some() && matches!(args.source, SourceSpec::Images(_)) {
        usage!("--night schedules a camera by the sun: use it with --source camera, v4l2:/dev/videoN or sim, not with images:");
    }
    if !(args.min_runway.is_finite() && args.min_runway >= 0.0) {
        usage!(
            "--min-runway {} is out of range: give hours, 0 or more (default 2)",
            args.min_runway
        );
    }
    if args.frames == Some(0) {
        usage!("--frames 0 would capture nothing: give at least 1, or leave it out to capture until stopped");
    }
    if args.run_for.is_some_and(|d| d <= 0) {
        usage!("--for must be longer than 0 (e.g. 8h), or left out to capture until stopped");
    }
    if args.segment_time <= 0 {
        usage!("--segment-time must be longer than 0 (default 15m)");
    }
    if let Some(g) = args.gain {
        if !(g.is_finite() && g > 0.0 && g <= MAX_GAIN) {
            usage!(
                "--gain {g} is out of range: use a number above 0 up to {MAX_GAIN} (1.0 = unity)"
            );
        }
    }
    if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&args.segment_size) {
        usage!(
            "--segment-size {} is out of range: use 16K to 64G (default 256M)",
            args.segment_size
        );
    }
    if !args.sim_speed.is_finite() || args.sim_speed < 0.0 {
        usage!(
            "--sim-speed {} is out of range: use 0 for as fast as possible, 1 for real time, or more",
            args.sim_speed
        );
    }
    if let Some(ring) = args.ring_size {
        if ring < args.segment_size {
            usage!(
                "--ring-size {ring} is smaller than one segment (--segment-size {}): raise --ring-size or lower --segment-size",
                args.segment_size
            );
        }
    }
    Ok(())
}

/// Most compression threads (`--workers`): more than any board has cores.
const MAX_WORKERS: usize = 256;
/// Most frames in flight (`--buffers`): each holds a raw frame.
const MAX_BUFFERS: usize = 256;
/// Highest `--gain`: far above any sensor's analogue plus digital gain.
const MAX_GAIN: f64 = 1000.0;
/// Smallest and largest `--segment-size`.
const MIN_SEGMENT: u64 = 16 << 10;
const MAX_SEGMENT: u64 = 64 << 30;

/// Checks, without creating or changing anything, that the journal can be written: the
/// path is a directory (or does not exist yet), holds no segment of a newer format and no
/// other nightcap holds its lock. The
/// writer checks again when it opens; this is so the failure is one clear line up front.
fn preflight(journal: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(journal) {
        Ok(m) if !m.is_dir() => bail!(
            "--journal {} is a file, not a directory: give a directory (it is created if missing)",
            journal.display()
        ),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => bail!("cannot use --journal {}: {e}", journal.display()),
    }
    nightcap_journal::writer::refuse_newer_segments(journal)?;
    nightcap_journal::lock::check_free(journal)?;
    Ok(())
}

/// A warning when the ring (or the free disk) cannot hold the night asked for: `--for`
/// (or `--frames`) of frames at about 2:1 compression. Capture still runs: the ring then
/// deletes the oldest segments, or capture stops when the disk is full.
fn night_warning(args: &CaptureArgs, format: &nightcap_frame::PixelFormat) -> Option<String> {
    let period_ns = i64::from(args.exposure.max(1)) * 1_000_000;
    let frames = match (args.run_for, args.frames) {
        (Some(d), n) => {
            let by_time = (d / period_ns).max(1) as u64;
            n.map_or(by_time, |n| n.min(by_time))
        }
        (None, Some(n)) => n,
        (None, None) => return None,
    };
    let needed = frames.saturating_mul(format.max_frame_bytes() / 2);
    // The free space of the journal's file system (of its nearest existing ancestor).
    let mut probe = args.journal.as_path();
    let free = loop {
        if let Ok(f) = nightcap_journal::writer::free_bytes(probe) {
            break Some(f);
        }
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p,
            _ => break nightcap_journal::writer::free_bytes(Path::new(".")).ok(),
        }
    };
    let disk = free.map(|f| f.saturating_sub(args.reserve));
    let (room, what) = match (args.ring_size, disk) {
        (Some(r), Some(d)) if d < r => (d, "free disk space (less --reserve)"),
        (Some(r), _) => (r, "--ring-size"),
        (None, Some(d)) => (d, "free disk space (less --reserve)"),
        (None, None) => return None,
    };
    (needed > room).then(|| {
        format!(
            "{frames} frames of {} need about {} at 2:1 compression, but {what} holds {}: the oldest segments will be deleted, or capture stops when the disk is full (raise --ring-size, free space, or capture less)",
            human_bytes(format.max_frame_bytes()),
            human_bytes(needed),
            human_bytes(room)
        )
    })
}

/// `1.5 GiB`-style text for a byte count.
fn human_bytes(b: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn writer_config(args: &CaptureArgs) -> WriterConfig {
    let mut w = WriterConfig::new(&args.journal);
    w.segment_bytes = args.segment_size;
    w.segment_duration_ns = args.segment_time;
    w.zstd_level = args.zstd_level;
    w.budget = Budget {
        ring_bytes: args.ring_size,
        reserve_bytes: args.reserve,
    };
    w
}

/// The simulated sky the flags describe.
fn sim_config(args: &CaptureArgs) -> anyhow::Result<SimConfig> {
    let sensor = SensorPreset::from_name(&args.sim_sensor).with_context(|| {
        format!(
            "unknown --sim-sensor '{}': use one of {}",
            args.sim_sensor,
            SensorPreset::names().join(", ")
        )
    })?;
    let faults = match &args.sim_faults {
        Some(spec) => FaultPlan::parse(spec).context("bad --sim-faults")?,
        None => FaultPlan::none(),
    };
    let defaults = SimConfig::default();
    Ok(SimConfig {
        sensor,
        seed: args.seed,
        exposure_us: args.exposure.saturating_mul(1000),
        gain_milli: gain_milli(args).unwrap_or(defaults.gain_milli),
        start_utc_ns: args.sim_start.unwrap_or(defaults.start_utc_ns),
        speed: args.sim_speed,
        clouds: args.sim_clouds,
        rates: args.sim_rates.unwrap_or_default(),
        faults,
        size: args.size,
        ..defaults
    })
}

/// `--sim-rates M,S,P[,O]`: meteors, satellites, planes and other things (insects,
/// birds near the lens) per hour; without O, the default rate of others.
pub fn parse_rates(text: &str) -> Result<Rates, String> {
    let usage = "use METEORS,SATELLITES,PLANES[,OTHERS] per hour, each from 0 to 3600, e.g. 60,20,5 or 60,20,5,2";
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("'{text}' is not three or four numbers: {usage}"))?;
    let sane = v
        .iter()
        .all(|r| r.is_finite() && (0.0..=3600.0).contains(r));
    match v[..] {
        [m, s, p] | [m, s, p, _] if sane => Ok(Rates {
            meteors_per_hour: m,
            satellites_per_hour: s,
            planes_per_hour: p,
            others_per_hour: v
                .get(3)
                .copied()
                .unwrap_or(Rates::default().others_per_hour),
        }),
        _ => Err(format!("'{text}' is not three or four rates: {usage}")),
    }
}

/// Writes what crossed the simulated sky during the frames of `journal` from this
/// simulation (`sim-truth.jsonl`, one event per line) for detectors to be measured
/// against. Returns the events written.
fn write_sim_truth(config: &SimConfig, journal: &Path) -> anyhow::Result<usize> {
    let j = nightcap_journal::Journal::open(journal)
        .with_context(|| format!("cannot read the journal {}", journal.display()))?;
    let period = config.period_ns().max(1);
    let last = j
        .frames()
        .iter()
        .map(|r| r.entry.time_ns)
        .filter(|&t| t >= config.start_utc_ns)
        .max();
    let Some(last) = last else { return Ok(0) };
    let slots = ((last - config.start_utc_ns) / period) as u64 + 1;
    let labels = SimSky::labels(config, 0..slots);
    let mut text = String::new();
    for l in &labels {
        text.push_str(&serde_json::to_string(l)?);
        text.push('\n');
    }
    let path = journal.join("sim-truth.jsonl");
    nightcap_stack::output::write_bytes_atomic(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(labels.len())
}

fn open_source(args: &CaptureArgs) -> anyhow::Result<Box<dyn FrameSource>> {
    let gain_milli = gain_milli(args);
    Ok(match &args.source {
        SourceSpec::Sim => {
            let config = sim_config(args)?;
            Box::new(SimSky::new(config).context("cannot start the simulated sky")?)
        }
        SourceSpec::Camera => {
            let (found, _) = nightcap_source::v4l2::devices::discover(Path::new("/dev"));
            let path = match nightcap_source::v4l2::devices::pick_camera(&found) {
                Ok(d) => d.path.clone(),
                Err(why) => bail!(
                    "{why}: connect and enable a camera (`nightcap devices` lists what is there), name one with --source v4l2:/dev/videoN, or try the simulated sky with --source sim"
                ),
            };
            open_camera(path, args, gain_milli)?
        }
        SourceSpec::V4l2(path) => open_camera(path.clone(), args, gain_milli)?,
        SourceSpec::Images(dir) => {
            let offset = (args.utc_offset * 3600.0).round() as i32;
            Box::new(
                ImageFolder::open(dir, offset)
                    .with_context(|| format!("cannot read images from {}", dir.display()))?,
            )
        }
    })
}

/// Opens the V4L2 camera at `path` for `exposure_ms`, and says what the device could not
/// do as asked (an exposure clamped to its range, no exposure control, a gain it cannot
/// set): never a silent default.
fn open_camera(
    path: PathBuf,
    args: &CaptureArgs,
    gain_milli: Option<u32>,
) -> anyhow::Result<Box<dyn FrameSource>> {
    let mut c = V4l2Config::new(path, args.exposure.saturating_mul(1000));
    c.gain_milli = gain_milli;
    c.fourcc = args.pixel_format;
    c.size = args.size;
    let source = V4l2Source::open(&c).context("cannot open the camera")?;
    for note in source.notes() {
        eprintln!("nightcap: warning: {}: {note}", c.device.display());
    }
    Ok(Box::new(source))
}

/// Settings of the live stacks written while capturing (`-d`).
struct LiveStacks {
    every_s: u32,
    prefix: String,
    drc: Drc,
    /// Names in UTC instead of local time.
    utc: bool,
    /// Hot pixels found from the first frames and repaired.
    hot_pixels: bool,
    /// The master dark (`--dark`), if any.
    calibration: nightcap_stack::calib::Calibration,
    /// Bytes the live stacks may take (0: no limit).
    budget: u64,
    /// Caption with this site line (`--caption`).
    caption: Option<String>,
}

/// The gain asked for, in thousandths.
fn gain_milli(args: &CaptureArgs) -> Option<u32> {
    args.gain
        .map(|g| (g * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32)
}

/// The master dark for live stacks from the dark journal `dir`, refused unless its
/// frames fit the stream (`format`), the exposure (10 %) and the gain (5 %, when both are
/// known): a dark of other settings makes every stack worse.
fn live_dark(
    dir: &Path,
    format: &nightcap_frame::PixelFormat,
    exposure_ms: u32,
    gain_milli: Option<u32>,
) -> anyhow::Result<nightcap_stack::calib::Calibration> {
    let dj = nightcap_journal::Journal::open(dir)
        .with_context(|| format!("cannot read the dark journal {}", dir.display()))?;
    let target = nightcap_stack::calib::DarkTarget {
        format: *format,
        format_label: format!("the camera's {format}"),
        exposure_us: Some(exposure_ms.saturating_mul(1000)),
        exposure_label: format!("-e {exposure_ms} ms"),
        gain_milli,
        gain_label: gain_milli.map_or(String::new(), |g| {
            format!("--gain {}", f64::from(g) / 1000.0)
        }),
    };
    let problems = nightcap_stack::calib::dark_mismatch(&dj, &target);
    if !problems.is_empty() {
        bail!(
            "the dark journal {} does not match this capture ({}): take darks with the same settings",
            dir.display(),
            problems.join(", ")
        );
    }
    let dark = nightcap_stack::calibrate::master_dark(&dj)
        .with_context(|| format!("cannot make a master dark from {}", dir.display()))?;
    Ok(nightcap_stack::calib::Calibration {
        dark: Some(std::sync::Arc::new(dark)),
        ..Default::default()
    })
}

fn run_pipeline(
    source: Box<dyn FrameSource>,
    cfg: CaptureConfig,
    journal: &std::path::Path,
    live: Option<LiveStacks>,
    detect: Option<super::detect_live::Follow>,
    stop: Arc<AtomicBool>,
    ui: Ui,
) -> anyhow::Result<CaptureSummary> {
    let camera_lost = cfg.camera_lost;
    // The status thread stops with this session; `stop` (Ctrl-C) ends the whole run.
    let session_done = Arc::new(AtomicBool::new(false));
    ui.say(format!(
        "capturing from {} into {}",
        source.describe(),
        journal.display()
    ));
    let counters = Arc::new(Counters::default());
    let status = spawn_status(ui, Arc::clone(&counters), Arc::clone(&session_done));
    // Live stacks stop only after capture has sealed its last frames, so the last
    // (partial) window is complete.
    let live_stop = Arc::new(AtomicBool::new(false));
    let live_thread =
        live.map(|l| spawn_live_stacks(l, journal.to_path_buf(), Arc::clone(&live_stop), ui));
    // Only frames captured now are searched: older ones belong to an earlier night.
    let detect_thread = detect.map(|mut d| {
        d.from_seq = next_seq_of(journal);
        super::detect_live::spawn_beside_capture(
            journal.to_path_buf(),
            d,
            Arc::clone(&live_stop),
            ui,
        )
    });
    // The pipeline raises its stop flag when it ends; a night ending at dawn must not
    // end the whole run, so it gets a flag of its own that Ctrl-C (or an alarm) raises.
    let session_stop = Arc::new(AtomicBool::new(stop.load(Ordering::Relaxed)));
    let forward = {
        let (stop, session_stop, done) = (
            Arc::clone(&stop),
            Arc::clone(&session_stop),
            Arc::clone(&session_done),
        );
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    session_stop.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let result = capture::run(source, cfg, session_stop, Arc::clone(&counters));
    session_done.store(true, Ordering::Relaxed);
    let _ = forward.join();
    live_stop.store(true, Ordering::Relaxed);
    let _ = status.join();
    if let Some(t) = live_thread {
        let _ = t.join();
    }
    if let Some(t) = detect_thread {
        let _ = t.join();
    }
    match result {
        Err(CaptureError::Source(e @ nightcap_source::SourceError::DeviceGone { .. }))
            if camera_lost == CameraLost::Stop =>
        {
            bail!(
                "capture into {} stopped: {e}; every frame before is sealed (--camera-lost stop \
                 asked for this; --camera-lost wait keeps trying to open the camera again)",
                journal.display()
            )
        }
        r => r.with_context(|| format!("capture into {} stopped", journal.display())),
    }
}

fn spawn_status(ui: Ui, c: Arc<Counters>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let bar = ui.status();
        let started = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let written = c.written.load(Ordering::Relaxed);
            let rate = written as f64 / started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{written} frames ({rate:.1}/s), queue {}, ratio {:.2}:1, level {}, dropped {}, gaps {}, journal {:.0} MiB",
                c.in_flight.load(Ordering::Relaxed),
                c.ratio(),
                c.level.load(Ordering::Relaxed),
                c.dropped.load(Ordering::Relaxed),
                c.gaps.load(Ordering::Relaxed),
                c.journal_bytes.load(Ordering::Relaxed) as f64 / 1048576.0,
            ));
            std::thread::sleep(Duration::from_millis(250));
        }
        bar.finish_and_clear();
    })
}

/// The seq the next frame written to `journal` gets (one past its last frame); `None`
/// for a journal without frames (every frame is new).
fn next_seq_of(journal: &std::path::Path) -> Option<u64> {
    nightcap_journal::Journal::open(journal)
        .ok()
        .and_then(|j| j.frames().last().map(|r| r.entry.seq + 1))
}

/// The stacker following the journal (`stack --follow`) with the original program's
/// naming: `-f ./img -d 60` writes `./img20260812213000.jpg` every minute, named in local
/// time (`--utc`: UTC); an existing file is never replaced (a restart inside a window
/// writes `...-2.jpg`). Each file written is printed, as the original did. Only frames
/// captured now are stacked: older ones in the journal belong to an earlier night.
fn spawn_live_stacks(
    live: LiveStacks,
    journal: PathBuf,
    stop: Arc<AtomicBool>,
    ui: Ui,
) -> std::thread::JoinHandle<()> {
    let (dir, name) = super::serve::live_parts(&live.prefix);
    let mut cfg = StackConfig::new(dir);
    cfg.prefix = name;
    cfg.windows.every_ns = Some(i64::from(live.every_s) * 1_000_000_000);
    // The frames captured now: by seq, not time (a clock stepped back at boot, or a
    // simulated night replayed, gives them times before the journal's last frame).
    cfg.from_seq = next_seq_of(&journal);
    cfg.render.drc = live.drc;
    cfg.sidecar = false;
    cfg.names = nightcap_stack::night::Names::Original { utc: live.utc };
    cfg.keep_existing = true;
    cfg.hot_pixels_from_first_frames = live.hot_pixels;
    cfg.calibration = live.calibration;
    cfg.budget_bytes = (live.budget > 0).then_some(live.budget);
    cfg.caption = live.caption;
    // Beside a capture memory counts more than a window's few percent of speed.
    cfg.writes_in_flight = 1;
    std::thread::spawn(move || {
        let first_prune = AtomicBool::new(true);
        let said = |e: nightcap_stack::night::StackEvent<'_>| {
            match e {
            nightcap_stack::night::StackEvent::Written(out) => ui.say(format!(
                "{} ({})",
                out.path.display(),
                count(u64::from(out.meta.frames), "frame")
            )),
            nightcap_stack::night::StackEvent::Pruned(p) => {
                let text = format!(
                    "deleted {} ({:.1} MiB) to keep the live stacks within --live-budget",
                    count(p.deleted.len() as u64, "old live stack"),
                    p.freed as f64 / 1048576.0
                );
                if first_prune.swap(false, Ordering::Relaxed) {
                    ui.say(format!(
                        "{text}; from now on the oldest go as new ones come (each said with -v)"
                    ));
                } else {
                    ui.detail(text);
                }
            }
            nightcap_stack::night::StackEvent::PruneFailed(e) => eprintln!(
                "nightcap: warning: cannot keep the live stacks within --live-budget: {e} (check the folder's permissions)"
            ),
            _ => {}
        }
        };
        if let Err(e) = follow_stack_beside_capture(&journal, &cfg, &stop, &said) {
            // An error, so shown even with --quiet; capture itself goes on.
            eprintln!(
                "nightcap: live stacks stopped: {e} (capture goes on; stack the journal later with `nightcap stack`)"
            );
        }
    })
}

fn summary_text(s: &CaptureSummary, journal: &std::path::Path) -> String {
    let w = &s.writer;
    let ratio = if w.stored_bytes > 0 {
        w.raw_bytes as f64 / w.stored_bytes as f64
    } else {
        0.0
    };
    let mut t = format!(
        "{}: {} captured, {} written, {} dropped, {} ({} missed) in {}; compression {:.2}:1; {} sealed{}",
        s.stop.describe(),
        count(s.captured, "frame"),
        s.written,
        s.dropped,
        count(w.gaps, "gap"),
        count(w.missed_frames, "frame"),
        human_duration((s.elapsed_s * 1e9) as i64),
        ratio,
        count(w.segments_sealed, "segment"),
        if w.segments_deleted > 0 {
            format!(", {} deleted by the ring", count(w.segments_deleted, "old segment"))
        } else {
            String::new()
        },
    );
    if s.written > 1 {
        t.push_str(&format!(
            "\ndead time between exposures: median {:.0} ms, max {:.0} ms",
            s.dead_time_p50_ms, s.dead_time_max_ms
        ));
    }
    if s.restarts > 0 {
        t.push_str(&format!(
            "\nthe camera stalled or failed and was restarted {} (each is a GAP: nightcap info {})",
            count(s.restarts, "time"),
            journal.display()
        ));
    }
    for r in &w.recovered {
        t.push_str(&format!("\nrecovered: {r}"));
    }
    t.push_str(&format!(
        "\njournal: {} (nightcap info {0})",
        journal.display()
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> CaptureArgs {
        let mut argv = vec!["nightcap", "capture"];
        argv.extend_from_slice(extra);
        match super::super::Cli::try_parse_from(argv).unwrap().command {
            super::super::Command::Capture(a) => a,
            _ => unreachable!("parsed as capture"),
        }
    }

    #[test]
    fn impossible_options_are_refused_before_anything_runs() {
        let e = check_args(&args(&["--ring-size", "1M", "--segment-size", "4M"])).unwrap_err();
        assert!(e.to_string().contains("smaller than one segment"), "{e}");
        assert!(check_args(&args(&["--zstd-level", "23"])).is_err());
        assert!(check_args(&args(&["--workers", "0"])).is_err());
        assert!(check_args(&args(&["--buffers", "1"])).is_err());
        assert!(check_args(&args(&["--buffers", "3"])).is_ok());
        assert!(check_args(&args(&["--ring-size", "4M", "--segment-size", "4M"])).is_ok());
    }

    #[test]
    fn the_night_warning_compares_the_night_with_the_ring() {
        let imx477 = SensorPreset::Imx477.format(); // 18.6 MB a frame
                                                    // 8 h of 5 s frames at about 9.3 MB stored: about 54 GB.
        let short = args(&["--for", "8h", "--ring-size", "20G", "--reserve", "0"]);
        let w = night_warning(&short, &imx477).expect("20G cannot hold 8 h of IMX477");
        assert!(
            w.contains("5760 frames") && w.contains("--ring-size"),
            "{w}"
        );
        let enough = args(&["--for", "1m", "--ring-size", "20G", "--reserve", "0"]);
        assert_eq!(night_warning(&enough, &imx477), None);
        // No length of night given: nothing to compare.
        assert_eq!(night_warning(&args(&["--ring-size", "1G"]), &imx477), None);
    }

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(20 << 30), "20.0 GiB");
    }
}
