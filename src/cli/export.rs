//! `nightcap export JOURNAL DIR`: every frame (or a time range) as its own file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};
use rayon::prelude::*;

use super::ui::Ui;
use nightcap_frame::pixels::{to_image16, Image16};
use nightcap_frame::time::utc_dash_stamp;
use nightcap_frame::Frame;
use nightcap_journal::codec::Decoder;
use nightcap_journal::Journal;
use nightcap_stack::output::fits::{write_fits, FitsValue};
use nightcap_stack::output::OutputMeta;

/// What export writes for each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The exact bytes the camera delivered.
    Raw,
    /// 16-bit PNG in the sensor's own layout (CFA mosaic, not debayered).
    Png,
    /// 16-bit FITS in the sensor's own layout, with BAYERPAT, DATE-OBS and EXPTIME.
    Fits,
}

/// Write each frame of a journal as a file named by sequence number and exposure time.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The journal directory.
    pub journal: PathBuf,
    /// Directory to write the files to (created if missing).
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = ExportFormat::Raw)]
    pub format: ExportFormat,
    #[command(flatten)]
    pub range: super::stack::RangeArgs,
}

pub fn run(args: ExportArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    super::require_journal(&args.journal, false)?;
    let j = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let (from, to) = args.range.resolve(&j);
    let frames = j.frames_in(from, to);
    if frames.is_empty() {
        bail!(
            "no frames to export in {} (check --from/--to against `nightcap info`)",
            args.journal.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let bar = ui.bar(frames.len() as u64, "export");
    // A damaged frame is skipped (exit 3 at the end); a write error (full disk, read-only
    // folder) stops the export at once: every file is written under a temporary name and
    // renamed when complete, so nothing half-written is ever left under a final name.
    let stop = AtomicBool::new(false);
    let results: Vec<Outcome> = frames
        .par_iter()
        .map_init(
            || (Decoder::new(), Vec::new()),
            |(dec, scratch), r| {
                if stop.load(Ordering::Relaxed) {
                    return Outcome::NotTried;
                }
                let outcome = match j.read_frame(r, dec, scratch) {
                    Err(e) => Outcome::Damaged(e.to_string()),
                    Ok(f) => match write_frame(&args.out, &f, args.format) {
                        Ok(()) => Outcome::Written,
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            Outcome::WriteFailed(format!("{e:#}"))
                        }
                    },
                };
                bar.inc(1);
                outcome
            },
        )
        .collect();
    bar.finish_and_clear();
    let written = results
        .iter()
        .filter(|o| matches!(o, Outcome::Written))
        .count();
    if let Some(Outcome::WriteFailed(e)) = results
        .iter()
        .find(|o| matches!(o, Outcome::WriteFailed(_)))
    {
        bail!(
            "{e}; export stopped after {} of {} (complete files only; free space or choose another folder, then export again)",
            super::ui::count(written as u64, "frame"),
            frames.len()
        );
    }
    let damaged: Vec<&String> = results
        .iter()
        .filter_map(|o| match o {
            Outcome::Damaged(d) => Some(d),
            _ => None,
        })
        .collect();
    for d in &damaged {
        eprintln!("nightcap: skipped damaged frame: {d}");
    }
    ui.say(format!(
        "exported {} to {}",
        super::ui::count(written as u64, "frame"),
        args.out.display()
    ));
    Ok(if damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_DAMAGED)
    })
}

/// What became of one frame.
enum Outcome {
    Written,
    Damaged(String),
    WriteFailed(String),
    /// Not tried: an earlier write failed.
    NotTried,
}

/// `00000042-20261124-021500.raw`
pub fn file_name(frame: &Frame, ext: &str) -> String {
    format!(
        "{:08}-{}.{ext}",
        frame.meta.seq,
        utc_dash_stamp(frame.meta.time_utc_ns)
    )
}

fn write_frame(dir: &Path, frame: &Frame, format: ExportFormat) -> anyhow::Result<()> {
    match format {
        ExportFormat::Raw => {
            let path = dir.join(file_name(frame, "raw"));
            nightcap_stack::output::write_bytes_atomic(&path, &frame.data)
                .with_context(|| format!("cannot write {}", path.display()))
        }
        ExportFormat::Png => {
            let img = to_image16(&frame.format, &frame.data)?;
            let path = dir.join(file_name(frame, "png"));
            nightcap_stack::output::image::write_png_samples(&path, &img)
                .with_context(|| format!("cannot write {}", path.display()))
        }
        ExportFormat::Fits => {
            let img = to_image16(&frame.format, &frame.data)?;
            let path = dir.join(file_name(frame, "fits"));
            write_fits(&path, &img, &fits_meta(frame, &img), &fits_extra(frame))
                .with_context(|| format!("cannot write {}", path.display()))
        }
    }
}

/// The FITS metadata of one frame: its own exposure window, one frame combined.
fn fits_meta(frame: &Frame, img: &Image16) -> OutputMeta {
    let mut meta = OutputMeta::new("single");
    meta.start_utc_ns = frame.meta.time_utc_ns;
    meta.end_utc_ns = frame.meta.end_utc_ns();
    meta.frames = 1;
    meta.exposure_total_us = u64::from(frame.meta.exposure_us);
    meta.cfa = img.cfa.name().map(str::to_string);
    meta
}

/// Per-frame cards beyond the standard ones: gain and both sequence numbers.
fn fits_extra(frame: &Frame) -> [(&'static str, FitsValue); 3] {
    [
        (
            "GAIN",
            FitsValue::Float(f64::from(frame.meta.gain_milli) / 1000.0),
        ),
        ("FRAMESEQ", FitsValue::Int(frame.meta.seq as i64)),
        ("DRIVSEQ", FitsValue::Int(frame.meta.driver_seq.into())),
    ]
}
