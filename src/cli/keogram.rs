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
    /// auto` does (costs one more decode of every frame).
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
    let meta = product_meta("keogram", &frames, img.width);
    let mut cfg = StackConfig::new(".");
    cfg.format = format;
    cfg.render = args.look.settings_for(&journal);
    write_stack(&args.out, &img, &cfg, &meta)?;
    ui.say(format!(
        "wrote {} ({} columns)",
        args.out.display(),
        img.width
    ));
    Ok(ExitCode::SUCCESS)
}
