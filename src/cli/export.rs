//! `nightcap export JOURNAL DIR`: every frame (or a time range) as its own file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use rayon::prelude::*;

use super::ui::Ui;
use crate::frame::Frame;
use crate::journal::codec::Decoder;
use crate::journal::Journal;
use crate::output::fits::{write_fits, FitsValue};
use crate::output::OutputMeta;
use crate::pixels::{to_image16, Image16};
use crate::time::utc_compact;

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
    let frames: Vec<_> = j
        .frames()
        .into_iter()
        .filter(|r| {
            from.is_none_or(|t| r.entry.time_ns >= t) && to.is_none_or(|t| r.entry.time_ns < t)
        })
        .collect();
    if frames.is_empty() {
        bail!(
            "no frames to export in {} (check --from/--to against `nightcap info`)",
            args.journal.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let bar = ui.bar(frames.len() as u64, "export");
    let failures: Vec<String> = frames
        .par_iter()
        .map_init(
            || (Decoder::new(), Vec::new()),
            |(dec, scratch), r| {
                let result = j
                    .read_frame(r, dec, scratch)
                    .map_err(|e| e.to_string())
                    .and_then(|f| {
                        write_frame(&args.out, &f, args.format).map_err(|e| format!("{e:#}"))
                    });
                bar.inc(1);
                result.err()
            },
        )
        .flatten()
        .collect();
    bar.finish_and_clear();
    for f in &failures {
        eprintln!("nightcap: skipped: {f}");
    }
    ui.say(format!(
        "exported {} frames to {}",
        frames.len() - failures.len(),
        args.out.display()
    ));
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_DAMAGED)
    })
}

/// `00000042-20261124-021500.raw`
pub fn file_name(frame: &Frame, ext: &str) -> String {
    format!(
        "{:08}-{}.{ext}",
        frame.meta.seq,
        utc_compact(frame.meta.time_utc_ns)
    )
}

fn write_frame(dir: &Path, frame: &Frame, format: ExportFormat) -> anyhow::Result<()> {
    match format {
        ExportFormat::Raw => {
            let path = dir.join(file_name(frame, "raw"));
            std::fs::write(&path, &frame.data)
                .with_context(|| format!("cannot write {}", path.display()))
        }
        ExportFormat::Png => {
            let img = to_image16(&frame.format, &frame.data)?;
            let path = dir.join(file_name(frame, "png"));
            write_png16(&path, &img)
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

/// A 16-bit PNG of the samples as they are (grey for one channel, RGB for three).
pub fn write_png16(path: &Path, img: &Image16) -> anyhow::Result<()> {
    let (w, h) = (img.width, img.height);
    let result = if img.channels == 1 {
        image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, img.data.clone())
            .map(|b| b.save(path))
    } else {
        image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(w, h, img.data.clone())
            .map(|b| b.save(path))
    };
    result
        .context("image size mismatch")?
        .with_context(|| format!("cannot write {}", path.display()))
}
