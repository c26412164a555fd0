//! `nightcap timelapse JOURNAL`: every frame (or every window stack) as a display JPEG,
//! plus `timelapse.ffconcat`, optionally encoded with ffmpeg.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::stack::{
    parse_every, report_skip, select_frames, CalibArgs, Every, LookArgs, RangeArgs,
};
use super::ui::Ui;
use nightcap_journal::Journal;
use nightcap_stack::night::{frame_times, stack_windows, Pace, StackConfig};
use nightcap_stack::output::concat::{encode, write_concat, ConcatEntry, EncodeOutcome};
use nightcap_stack::timelapse::{write_frame_timelapse, FrameTimelapse};
use nightcap_stack::window::{plan, Align, WindowSpec};

/// Make timelapse frames (and a video with --encode) from a night.
#[derive(Debug, clap::Args)]
pub struct TimelapseArgs {
    /// The journal directory.
    pub journal: PathBuf,
    #[command(flatten)]
    pub range: RangeArgs,
    /// One max-stack per window of this length instead of one image per frame.
    #[arg(long, value_parser = parse_every)]
    pub every: Option<Every>,
    /// Output directory for the frames and `timelapse.ffconcat`.
    #[arg(long, default_value = "timelapse")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 25)]
    pub fps: u32,
    /// Encode `timelapse.mp4` with ffmpeg (prints the command if ffmpeg is missing).
    #[arg(long)]
    pub encode: bool,
    /// Half-size frames (2x2 binning of the CFA), much faster.
    #[arg(long)]
    pub half: bool,
    #[command(flatten)]
    pub look: LookArgs,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Leave out cloudy or bright frames, judged against the night as `stack --reject
    /// auto` does (from the statistics the capture stored with each frame; frames without
    /// them, and a dark or flat, cost one more decode each).
    #[arg(long, value_enum, default_value_t = super::stack::RejectArg::Off)]
    pub reject: super::stack::RejectArg,
}

pub fn run(args: TimelapseArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    if args.fps == 0 {
        crate::usage!("--fps must be at least 1");
    }
    let journal = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let frames = select_frames(&journal, &args.range)?;
    let calibration = args.calib.build(&journal, &ui)?;
    let frames =
        super::stack::reject_for_product(&journal, frames, args.reject, &calibration, &ui)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let duration_s = 1.0 / f64::from(args.fps);
    let entries: Vec<ConcatEntry> = match args.every.and_then(|e| e.0) {
        Some(every) => {
            let mut cfg = StackConfig::new(&args.out);
            cfg.windows = WindowSpec {
                every_ns: Some(every),
                align: Align::Clock,
                from_ns: None,
                to_ns: None,
            };
            cfg.prefix = "frame".into();
            cfg.render = args.look.settings_for(&journal);
            cfg.caption = args.look.caption.clone();
            cfg.pace = Pace::Fps(f64::from(args.fps));
            cfg.sidecar = false;
            cfg.calibration = calibration;
            let windows = plan(&frame_times(&frames), &cfg.windows);
            let bar = ui.bar(frames.len() as u64, "timelapse");
            let progress = |ev: nightcap_stack::StackEvent<'_>| match ev {
                nightcap_stack::StackEvent::Frame => bar.inc(1),
                nightcap_stack::StackEvent::Skipped(d) => bar.suspend(|| report_skip(d)),
                _ => {}
            };
            let outs = stack_windows(&journal, &frames, &windows, &cfg, &progress)?;
            bar.finish_and_clear();
            outs.into_iter()
                .map(|o| ConcatEntry {
                    path: o.path,
                    duration_s,
                })
                .collect()
        }
        None => {
            let cfg = FrameTimelapse {
                render: args.look.settings_for(&journal),
                half: args.half,
                calibration: &calibration,
                duration_s,
                caption: args.look.caption.clone(),
            };
            let bar = ui.bar(frames.len() as u64, "timelapse");
            let entries =
                write_frame_timelapse(&journal, &frames, &args.out, &cfg, &|| bar.inc(1), &|d| {
                    bar.suspend(|| report_skip(d))
                })?;
            bar.finish_and_clear();
            entries
        }
    };
    if entries.is_empty() {
        bail!(
            "none of the {} frames could be read; run `nightcap verify`",
            frames.len()
        );
    }
    let list = args.out.join("timelapse.ffconcat");
    write_concat(&list, &entries)?;
    ui.say(format!(
        "wrote {} frames and {}",
        entries.len(),
        list.display()
    ));
    if args.encode {
        match encode(&list, &args.out.join("timelapse.mp4"), args.fps)? {
            EncodeOutcome::Encoded { out } => ui.say(format!("encoded {}", out.display())),
            EncodeOutcome::NotInstalled { command } => ui.say(format!(
                "ffmpeg is not installed; to encode, run:\n{command}"
            )),
        }
    }
    Ok(ExitCode::SUCCESS)
}
