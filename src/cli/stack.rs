//! `nightcap stack JOURNAL`: one stacked image per time window, plus an ffmpeg concat
//! list. Also the options shared by the other night products (`trails`, `timelapse`,
//! `keogram`): time range, look (stretch, DRC) and calibration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};

use super::ui::Ui;
use nightcap_frame::time::{parse_duration, parse_time_arg, TimeArg};
use nightcap_journal::Journal;
use nightcap_stack::calib::Calibration;
use nightcap_stack::calibrate::{find_hot_pixels, master_dark};
use nightcap_stack::night::{Pace, StackConfig, StackEvent};
use nightcap_stack::output::image::OutputFormat;
use nightcap_stack::reduce::{Mode, DEFAULT_SIGMA_K};
use nightcap_stack::select::SelectError;
use nightcap_stack::tone::{Drc, RenderSettings, Stretch};
use nightcap_stack::window::{Align, WindowSpec};

/// `--every`: a window length in ns, or `None` for one window over the whole range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(pub Option<i64>);

/// Parses `--every`: a positive duration, or `all` for one window over the whole range.
pub fn parse_every(text: &str) -> Result<Every, String> {
    if text.eq_ignore_ascii_case("all") {
        return Ok(Every(None));
    }
    let ns = parse_duration(text).map_err(|e| e.to_string())?;
    if ns <= 0 {
        return Err(format!(
            "'{text}' is not a window length: give a positive duration such as 60s or 5m, or `all` for one image of the whole range"
        ));
    }
    Ok(Every(Some(ns)))
}

fn parse_format(text: &str) -> Result<OutputFormat, String> {
    OutputFormat::from_name(text).ok_or_else(|| format!("'{text}' is not jpg, png, tiff or fits"))
}

fn parse_drc(text: &str) -> Result<Drc, String> {
    Drc::from_name(text).ok_or_else(|| format!("'{text}' is not off, low, medium or high"))
}

/// Stacking modes on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Per-pixel maximum: star trails, like the original program.
    Max,
    /// Per-pixel mean: less noise; moving stars leave faint trails.
    Mean,
    /// Per-pixel sum: the pedestal of all frames but one removed, scaled down by a power
    /// of two when it needs more than 16 bits (the factor is written with the image).
    Sum,
    /// Sigma-clipped mean: planes, satellites and meteors vanish.
    Sigma,
}

/// Display stretch on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StretchArg {
    Linear,
    /// Gamma 2.2.
    Gamma,
    /// asinh (strong shadow stretch, keeps star colour).
    Asinh,
}

/// `--reject` for trails, timelapse and keogram: leaves out cloudy or bright frames of
/// `frames` (judged against the night, as `stack --reject auto` does) and says how many.
pub fn reject_for_product(
    journal: &Journal,
    frames: Vec<nightcap_journal::FrameRef>,
    reject: RejectArg,
    calibration: &Calibration,
    ui: &Ui,
) -> anyhow::Result<Vec<nightcap_journal::FrameRef>> {
    if reject == RejectArg::Off {
        return Ok(frames);
    }
    let bar = ui.bar(frames.len() as u64, "judge");
    let progress = |ev: StackEvent<'_>| match ev {
        StackEvent::Frame => bar.inc(1),
        StackEvent::Rejected {
            seq,
            time_ns,
            reason,
        } if ui.verbose => bar.suspend(|| {
            eprintln!(
                "rejected frame seq {seq} at {} UTC: {reason}",
                nightcap_frame::time::utc_short(time_ns)
            )
        }),
        _ => {}
    };
    let total = frames.len();
    let (kept, rejected) =
        nightcap_stack::night::reject_run(journal, &frames, calibration, &progress);
    bar.finish_and_clear();
    ui.say(format!(
        "rejected {} of {total} as cloudy or bright (-v lists them)",
        super::ui::count(rejected as u64, "frame")
    ));
    if kept.is_empty() {
        bail!("every frame was rejected as cloudy or bright; run again with --reject off");
    }
    Ok(kept)
}

/// Frame rejection on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RejectArg {
    /// Stack every frame (the original program's behaviour).
    Off,
    /// Reject frames whose sky, star count or bright area is far off the night's.
    Auto,
}

/// Where windows start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlignArg {
    /// At multiples of the window length on the clock (60 s windows start at :00).
    Clock,
    /// At the first frame.
    First,
}

/// `--from` / `--to`.
#[derive(Debug, Clone, clap::Args)]
pub struct RangeArgs {
    /// Only frames whose exposure starts at or after this time: `21:40` (local clock time
    /// on the journal's night), `2026-08-12T21:40` (local), `...T19:40Z` (UTC) or
    /// `...T21:40+02:00`.
    #[arg(long, value_parser = parse_time_arg)]
    pub from: Option<TimeArg>,
    /// Only frames whose exposure starts before this time (written as for --from).
    #[arg(long, value_parser = parse_time_arg)]
    pub to: Option<TimeArg>,
}

impl RangeArgs {
    /// The range as UTC instants, clock times placed on the night of `journal` (its
    /// first frame).
    pub fn resolve(&self, journal: &Journal) -> (Option<i64>, Option<i64>) {
        let start = journal
            .frames()
            .iter()
            .map(|r| r.time_ns)
            .min()
            .unwrap_or(0);
        (
            self.from.map(|t| t.resolve(start)),
            self.to.map(|t| t.resolve(start)),
        )
    }
}

/// How images look.
#[derive(Debug, Clone, clap::Args)]
pub struct LookArgs {
    /// Dynamic range compression: off, low, medium, high.
    #[arg(long, value_parser = parse_drc, default_value = "off")]
    pub drc: Drc,
    /// How values become display values (default: gamma for a camera's linear frames;
    /// none for frames that are display images already, such as imported JPEGs).
    #[arg(long, value_enum)]
    pub stretch: Option<StretchArg>,
    /// JPEG only: a caption in the corner: local date and time, frames and exposure, and
    /// SITE if given (`--caption "garden-pi"`); keograms also get hour ticks.
    #[arg(long, value_name = "SITE", num_args = 0..=1, default_missing_value = "")]
    pub caption: Option<String>,
}

impl LookArgs {
    /// The render settings for the frames of `journal`. Frames that are display images
    /// already (8- or 16-bit RGB, YUYV or MJPEG: imported JPEGs and TIFFs, webcams) are
    /// shown as they are unless a stretch is asked for: stretching them again would
    /// brighten and grey a picture that was finished.
    pub fn settings_for(&self, journal: &Journal) -> RenderSettings {
        use nightcap_frame::Packing;
        let display = !journal.segments.is_empty()
            && journal.segments.iter().all(|s| {
                matches!(
                    s.header.format.packing,
                    Packing::Rgb24 | Packing::Yuyv | Packing::Mjpeg | Packing::Rgb48
                )
            });
        let stretch = match self.stretch {
            Some(StretchArg::Linear) => Stretch::Linear,
            Some(StretchArg::Gamma) => Stretch::Gamma(2.2),
            Some(StretchArg::Asinh) => Stretch::Asinh(20.0),
            None if display => {
                return RenderSettings {
                    black_level: Some(0),
                    white_balance: nightcap_stack::tone::WhiteBalance::None,
                    stretch: Stretch::Linear,
                    drc: self.drc,
                }
            }
            None => Stretch::Gamma(2.2),
        };
        RenderSettings {
            drc: self.drc,
            stretch,
            ..RenderSettings::default()
        }
    }
}

/// Dark subtraction and hot-pixel repair.
#[derive(Debug, Clone, clap::Args)]
pub struct CalibArgs {
    /// Replace pixels that are far above their same-colour neighbours in most frames.
    #[arg(long)]
    pub hot_pixels: bool,
    /// A journal of dark frames (lens capped, same exposure): their mean is subtracted.
    #[arg(long, value_name = "JOURNAL")]
    pub dark: Option<PathBuf>,
    /// Use a --dark whose format, exposure or gain differs from the frames' (refused
    /// otherwise: such a dark makes the stack worse).
    #[arg(long, requires = "dark")]
    pub force_dark: bool,
}

impl CalibArgs {
    /// Builds the calibration for the frames of `journal`.
    pub fn build(&self, journal: &Journal, ui: &Ui) -> anyhow::Result<Calibration> {
        let mut cal = Calibration::default();
        if let Some(dir) = &self.dark {
            let dj = Journal::open(dir)
                .with_context(|| format!("cannot read dark journal {}", dir.display()))?;
            let differences = nightcap_stack::calib::DarkTarget::of_journal(journal)
                .map(|t| nightcap_stack::calib::dark_mismatch(&dj, &t))
                .unwrap_or_default();
            if !differences.is_empty() {
                let what = differences.join(", ");
                if !self.force_dark {
                    bail!(
                        "the dark journal {} does not match these frames ({what}): take darks with the same camera settings, or pass --force-dark to use it anyway",
                        dir.display()
                    );
                }
                eprintln!(
                    "nightcap: warning: using the dark journal {} although it does not match ({what})",
                    dir.display()
                );
            }
            let dark = master_dark(&dj)?;
            ui.detail(format!(
                "master dark from {} frames of {}",
                dj.frames().len(),
                dir.display()
            ));
            cal.dark = Some(Arc::new(dark));
        }
        if let Some(seg) = journal.segments.first() {
            let f = seg.header.format;
            cal.check(f.width, f.height)?;
        }
        if self.hot_pixels {
            let hot = find_hot_pixels(journal, &journal.frames());
            ui.say(format!("{} hot pixels will be repaired", hot.len()));
            cal.hot_pixels = Arc::new(hot);
        }
        Ok(cal)
    }
}

/// Stack a night into one image per time window (default: a max-stack every minute).
#[derive(Debug, clap::Args)]
pub struct StackArgs {
    /// The journal directory.
    pub journal: PathBuf,
    /// Window length (30s, 5m, 1h), or `all` for one stack of the whole range.
    #[arg(long, value_parser = parse_every, default_value = "60s")]
    pub every: Every,
    #[arg(long, value_enum, default_value_t = AlignArg::Clock)]
    pub align: AlignArg,
    #[command(flatten)]
    pub range: RangeArgs,
    #[arg(long, value_enum, default_value_t = ModeArg::Max)]
    pub mode: ModeArg,
    /// Clipping threshold of `--mode sigma`, in standard deviations.
    #[arg(long, default_value_t = DEFAULT_SIGMA_K, value_name = "K")]
    pub sigma: f32,
    /// Output directory (created if missing).
    #[arg(long, default_value = "stacks")]
    pub out: PathBuf,
    /// jpg, png, tiff (display-rendered) or fits (raw stacked values).
    #[arg(long, value_parser = parse_format, default_value = "jpg")]
    pub format: OutputFormat,
    /// File name prefix: files are `{prefix}YYYYmmdd-HHMMSS.{ext}` (window start, UTC).
    #[arg(long, default_value = "img")]
    pub prefix: String,
    #[command(flatten)]
    pub look: LookArgs,
    /// FITS only: write debayered RGB instead of the CFA mosaic.
    #[arg(long)]
    pub debayer: bool,
    /// Frame rate of the concat list (default: windows shown at 600x real time).
    #[arg(long, conflicts_with = "speed")]
    pub fps: Option<f64>,
    /// Speed-up over real time in the concat list.
    #[arg(long, default_value_t = 600.0)]
    pub speed: f64,
    /// Do not write `<file>.json` metadata next to each image.
    #[arg(long)]
    pub no_sidecar: bool,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Leave out cloudy or bright frames, judged against the night (from the statistics
    /// the capture stored with each frame; frames without them, and a dark or flat, cost
    /// one more decode each).
    #[arg(long, value_enum, default_value_t = RejectArg::Off)]
    pub reject: RejectArg,
    /// Keep stacking as the journal grows, writing each window once complete, until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub clean: super::clean::CleanArgs,
}

impl StackArgs {
    fn config(&self, journal: &Journal, calibration: Calibration) -> anyhow::Result<StackConfig> {
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            bail!("--sigma must be a positive number of standard deviations");
        }
        if self.prefix.contains('/') {
            bail!("--prefix must not contain '/'; use --out for the directory");
        }
        let mut cfg = StackConfig::new(&self.out);
        let range = self.range.resolve(journal);
        cfg.windows = WindowSpec {
            every_ns: self.every.0,
            align: match self.align {
                AlignArg::Clock => Align::Clock,
                AlignArg::First => Align::First,
            },
            from_ns: range.0,
            to_ns: range.1,
        };
        cfg.mode = match self.mode {
            ModeArg::Max => Mode::Max,
            ModeArg::Mean => Mode::Mean,
            ModeArg::Sum => Mode::Sum,
            ModeArg::Sigma => Mode::Sigma { k: self.sigma },
        };
        cfg.format = self.format;
        cfg.prefix = self.prefix.clone();
        cfg.render = self.look.settings_for(journal);
        cfg.caption = self.look.caption.clone();
        cfg.debayer_fits = self.debayer;
        cfg.pace = match self.fps {
            Some(f) if f > 0.0 => Pace::Fps(f),
            Some(_) => bail!("--fps must be positive"),
            None if self.speed > 0.0 => Pace::Speed(self.speed),
            None => bail!("--speed must be positive"),
        };
        cfg.sidecar = !self.no_sidecar;
        cfg.calibration = calibration;
        cfg.reject = self.reject == RejectArg::Auto;
        Ok(cfg)
    }
}

pub fn run(args: StackArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    args.clean.check()?;
    if args.follow && args.clean.clean {
        crate::usage!("--clean needs the night's frames to detect streaks in: stack without --follow once the night is captured");
    }
    let journal = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let calibration = args.calib.build(&journal, &ui)?;
    let mut cfg = args.config(&journal, calibration)?;
    if args.clean.clean {
        let (from, to) = args.range.resolve(&journal);
        cfg.masks = args
            .clean
            .masks(&journal, &journal.frames_in(from, to), &ui)?
            .map(Arc::new);
    }
    let bar = Mutex::new(None::<indicatif::ProgressBar>);
    let skipped = std::sync::atomic::AtomicUsize::new(0);
    let progress = |ev: StackEvent<'_>| match ev {
        StackEvent::Planned {
            windows,
            frames,
            passes,
        } => {
            ui.detail(format!("{windows} windows, {frames} frames"));
            let b = ui.bar(frames as u64 * u64::from(passes), "stack");
            if let Ok(mut g) = bar.lock() {
                if let Some(old) = g.replace(b) {
                    old.finish_and_clear();
                }
            }
        }
        StackEvent::Frame => {
            if let Ok(g) = bar.lock() {
                if let Some(b) = g.as_ref() {
                    b.inc(1);
                }
            }
        }
        StackEvent::Skipped(d) => {
            skipped.fetch_add(1, Ordering::Relaxed);
            let line = format!("nightcap: skipped damaged frame: {d}");
            match bar.lock().ok().and_then(|g| g.clone()) {
                Some(b) => b.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
        StackEvent::Rejected { .. } if ui.quiet => {}
        StackEvent::Rejected {
            seq,
            time_ns,
            reason,
        } => {
            let line = format!(
                "nightcap: rejected frame seq {seq} at {}: {reason}",
                nightcap_frame::time::utc_iso(time_ns)
            );
            match bar.lock().ok().and_then(|g| g.clone()) {
                Some(b) => b.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
        StackEvent::Written(o) => ui.detail(format!(
            "wrote {} ({}{})",
            o.path.display(),
            super::ui::count(u64::from(o.meta.frames), "frame"),
            if o.meta.partial { ", partial" } else { "" }
        )),
        // `stack` sets no budget: only live stacks beside a capture are pruned.
        StackEvent::Pruned(_) | StackEvent::PruneFailed(_) => {}
    };
    let outputs = if args.follow {
        let stop = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))
            .context("cannot install the Ctrl-C handler")?;
        signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))
            .context("cannot install the SIGTERM handler")?;
        nightcap_stack::follow::follow_stack(&args.journal, &cfg, &stop, &progress)?
    } else {
        nightcap_stack::run_stack(&journal, &cfg, &progress)?
    };
    if let Ok(g) = bar.lock() {
        if let Some(b) = g.as_ref() {
            b.finish_and_clear();
        }
    }
    let scaled: Vec<u8> = outputs
        .iter()
        .filter_map(|o| o.meta.sum_fit.map(|f| f.shift))
        .filter(|&s| s > 0)
        .collect();
    if let Some(&most) = scaled.iter().max() {
        eprintln!(
            "nightcap: warning: {} of the sums needed more than 16 bits and {} scaled down by up to 2^{most} to fit (nothing clipped; the factor is in each sidecar's sum_fit, and in FITS as SUMSHIFT and PEDESTAL)",
            scaled.len(),
            if scaled.len() == 1 { "was" } else { "were" }
        );
    }
    let partial = outputs.iter().filter(|o| o.meta.partial).count();
    ui.say(format!(
        "wrote {} ({} partial) to {}, list {}{}",
        super::ui::count(outputs.len() as u64, "stack"),
        partial,
        cfg.out_dir.display(),
        cfg.concat_path().display(),
        match skipped.load(Ordering::Relaxed) {
            0 => String::new(),
            n => format!("; {} skipped", super::ui::count(n as u64, "damaged frame")),
        }
    ));
    Ok(ExitCode::SUCCESS)
}

/// The frames of `journal` in `range`, in time order; an error naming the range and
/// what to do if there are none, or frames of two formats.
pub fn select_frames(
    journal: &Journal,
    range: &RangeArgs,
) -> anyhow::Result<Vec<nightcap_journal::FrameRef>> {
    let (from, to) = range.resolve(journal);
    nightcap_stack::select::select_frames(journal, from, to).map_err(|e| match e {
        SelectError::Empty { .. } => {
            anyhow::anyhow!("{e}; check --from/--to against `nightcap info`")
        }
        SelectError::MixedFormats { .. } => anyhow::anyhow!(
            "{e}: choose one with --from/--to (`nightcap stack` stacks each format on its own)"
        ),
    })
}

/// The one-line report of a skipped damaged frame.
pub fn report_skip(d: &nightcap_journal::Damage) {
    eprintln!("nightcap: skipped damaged frame: {d}");
}

/// The output format of a file, from its extension.
pub fn format_of(path: &std::path::Path) -> anyhow::Result<OutputFormat> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    OutputFormat::from_name(&ext).with_context(|| {
        format!(
            "cannot tell the format of {}: end it in .jpg, .png, .tiff or .fits",
            path.display()
        )
    })
}
