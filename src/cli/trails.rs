//! `nightcap trails JOURNAL`: one star-trail composite (optionally comet-style, gap-filled,
//! and as a progressive star-trail video).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::stack::{format_of, report_skip, select_frames, CalibArgs, LookArgs, RangeArgs};
use super::ui::Ui;
use nightcap_journal::Journal;
use nightcap_stack::night::{write_stack, StackConfig};
use nightcap_stack::products::{for_each_in_order, Trails, TrailsConfig};
use nightcap_stack::select::product_meta;
use nightcap_stack::trail_video::TrailVideo;

/// Make one star-trail image (a max composite) from a night.
#[derive(Debug, clap::Args)]
pub struct TrailsArgs {
    /// The journal directory.
    pub journal: PathBuf,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Comet trails: the composite fades by this factor (0 < F < 1) before each frame.
    #[arg(long, value_name = "F")]
    pub comet: Option<f32>,
    /// Draw the arc each star crossed while the shutter was closed between frames
    /// (dashed trails become continuous; the sky and hot pixels are left alone).
    #[arg(long)]
    pub fill_gaps: bool,
    /// Also write the growing composite every N frames as a star-trail video
    /// (`<out>-frames/` with `trails.ffconcat`).
    #[arg(long, value_name = "N")]
    pub timelapse: Option<usize>,
    /// Frame rate of the star-trail video.
    #[arg(long, default_value_t = 25)]
    pub fps: u32,
    /// Output file (.jpg, .png, .tiff or .fits).
    #[arg(long, default_value = "trails.jpg")]
    pub out: PathBuf,
    #[command(flatten)]
    pub look: LookArgs,
    #[command(flatten)]
    pub calib: CalibArgs,
    /// Leave out cloudy or bright frames, judged against the night as `stack --reject
    /// auto` does (from the statistics the capture stored with each frame; frames without
    /// them, and a dark or flat, cost one more decode each).
    #[arg(long, value_enum, default_value_t = super::stack::RejectArg::Off)]
    pub reject: super::stack::RejectArg,
    #[command(flatten)]
    pub clean: super::clean::CleanArgs,
}

pub fn run(args: TrailsArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    if let Some(f) = args.comet {
        if !(f > 0.0 && f < 1.0) {
            crate::usage!("--comet must be between 0 and 1 (e.g. 0.97)");
        }
    }
    if args.timelapse == Some(0) || args.fps == 0 {
        crate::usage!("--timelapse and --fps must be at least 1");
    }
    args.clean.check()?;
    let format = format_of(&args.out)?;
    super::check_output_file(&args.out)?;
    let journal = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let frames = select_frames(&journal, &args.range)?;
    let calibration = args.calib.build(&journal, &ui)?;
    let frames =
        super::stack::reject_for_product(&journal, frames, args.reject, &calibration, &ui)?;
    let masks = args.clean.masks(&journal, &frames, &ui)?;
    let cfg = TrailsConfig {
        comet: args.comet,
        fill_gaps: args.fill_gaps,
        calibration,
    };
    let mut trails = Trails::new(&cfg);
    let mut video = args
        .timelapse
        .map(|every| TrailVideo::new(&args.out, every, args.fps, args.look.settings_for(&journal)))
        .transpose()?;
    let bar = ui.bar(frames.len() as u64, "trails");
    let mut failure: Option<anyhow::Error> = None;
    for_each_in_order(
        &journal,
        &frames,
        &cfg.calibration,
        &mut |d| bar.suspend(|| report_skip(d)),
        &mut |i, img| {
            if let Some(m) = &masks {
                m.apply(frames[i].entry.seq, img);
            }
            trails.add_lent(img);
            bar.inc(1);
            if let (Some(v), Some(acc), None) = (video.as_mut(), trails.image(), &failure) {
                if let Err(e) = v.frame(acc, trails.frames) {
                    failure = Some(e.into());
                }
            }
        },
    );
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e);
    }
    let combined = trails.frames;
    let Some(img) = trails.into_image() else {
        bail!(
            "none of the {} frames could be read; run `nightcap verify`",
            frames.len()
        );
    };
    let mode = if args.comet.is_some() {
        "comet"
    } else {
        "trails"
    };
    let mut meta = product_meta(mode, &frames, combined);
    meta.cfa = img.cfa.name().map(str::to_string);
    let mut stack_cfg = StackConfig::new(".");
    stack_cfg.format = format;
    stack_cfg.render = args.look.settings_for(&journal);
    stack_cfg.caption = args.look.caption.clone();
    write_stack(&args.out, &img, &stack_cfg, &meta)?;
    if let Some(v) = video {
        let list = v.finish(&img, combined)?;
        ui.say(format!(
            "star-trail video frames listed in {}",
            list.display()
        ));
    }
    ui.say(format!(
        "wrote {} ({combined} of {} frames)",
        args.out.display(),
        frames.len()
    ));
    Ok(ExitCode::SUCCESS)
}
