//! `nightcap keogram JOURNAL`: one column of every frame, left to right in time.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::stack::{format_of, report_skip, select_frames, CalibArgs, LookArgs, RangeArgs};
use super::ui::Ui;
use nightcap_journal::Journal;
use nightcap_stack::night::{write_stack, StackConfig};
use nightcap_stack::products::keogram;
use nightcap_stack::select::product_meta;

/// Make a keogram: the centre column (or --column X) of every frame, side by side.
#[derive(Debug, clap::Args)]
pub struct KeogramArgs {
    /// The journal directory.
    pub journal: PathBuf,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Sensor column to take (default: the centre).
    #[arg(long, value_name = "X")]
    pub column: Option<u32>,
    /// Output file (.jpg, .png, .tiff or .fits).
    #[arg(long, default_value = "keogram.jpg")]
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
}

pub fn run(args: KeogramArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let format = format_of(&args.out)?;
    super::check_output_file(&args.out)?;
    let journal = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let frames = select_frames(&journal, &args.range)?;
    if let (Some(x), Some(seg)) = (args.column, journal.segments.first()) {
        if x >= seg.header.format.width {
            bail!(
                "--column {x} is outside the {}-pixel-wide frames",
                seg.header.format.width
            );
        }
    }
    let calibration = args.calib.build(&journal, &ui)?;
    let frames =
        super::stack::reject_for_product(&journal, frames, args.reject, &calibration, &ui)?;
    let bar = ui.bar(frames.len() as u64, "keogram");
    let img = keogram(
        &journal,
        &frames,
        args.column,
        &calibration,
        &mut |d| bar.suspend(|| report_skip(d)),
        &mut || bar.inc(1),
    );
    bar.finish_and_clear();
    let Some(img) = img else {
        bail!(
            "none of the {} frames could be read; run `nightcap verify`",
            frames.len()
        );
    };
    let mut meta = product_meta("keogram", &frames, img.width);
    meta.marks.ticks = hour_ticks(&frames, img.width);
    let mut cfg = StackConfig::new(".");
    cfg.format = format;
    cfg.render = args.look.settings_for(&journal);
    cfg.caption = args.look.caption.clone();
    write_stack(&args.out, &img, &cfg, &meta)?;
    ui.say(format!(
        "wrote {} ({} columns)",
        args.out.display(),
        img.width
    ));
    Ok(ExitCode::SUCCESS)
}

/// A tick at each column where the local clock passes a full hour, labelled with the
/// hour (`22`, `23`, `00`): the keogram's time axis. Column `i` is frame `i` when every
/// frame made a column; otherwise columns are spread evenly over the frames' times.
fn hour_ticks(frames: &[nightcap_journal::FrameRef], columns: u32) -> Vec<(u32, String)> {
    const HOUR_NS: i64 = 3_600_000_000_000;
    let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
        return Vec::new();
    };
    let local = |t: i64| t + i64::from(nightcap_frame::time::local_offset_s(t)) * 1_000_000_000;
    let span = (last.time_ns - first.time_ns).max(1);
    let column_of = |t: i64| -> u32 {
        if frames.len() as u32 == columns {
            frames.partition_point(|r| r.time_ns < t) as u32
        } else {
            ((t - first.time_ns) as f64 / span as f64 * f64::from(columns)) as u32
        }
    };
    let mut ticks = Vec::new();
    let mut hour = local(first.time_ns).div_euclid(HOUR_NS) + 1;
    loop {
        // The UTC instant the local clock reads `hour`:00 (the offset of the night).
        let t = hour * HOUR_NS - (local(first.time_ns) - first.time_ns);
        if t > last.time_ns {
            break;
        }
        let label = format!("{:02}", hour.rem_euclid(24));
        ticks.push((column_of(t).min(columns.saturating_sub(1)), label));
        hour += 1;
    }
    ticks
}
