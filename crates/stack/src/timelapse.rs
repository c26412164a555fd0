//! Timelapse frames: every journal frame as a display JPEG, for a video.
//!
//! Every frame is rendered with one tone map, estimated on the middle frame (or the first
//! readable one), so the video does not flicker. Frames are decoded and written in
//! parallel ([`crate::products::timelapse_frames`]) as `frame{i:06}.jpg`, `i` being the
//! frame's place in the selection, and listed for ffmpeg's concat demuxer. A window-stack
//! timelapse (one frame per window) is [`crate::night::stack_windows`] with
//! [`crate::night::Pace::Fps`].

use std::path::Path;

use crate::calib::Calibration;
use crate::debayer::superpixel;
use crate::night::{write_jpeg_with_map, JournalFrames};
use crate::output::concat::ConcatEntry;
use crate::output::image::OutputMeta;
use crate::output::OutputError;
use crate::products::timelapse_frames;
use crate::tone::{RenderSettings, ToneMap};
use nightcap_frame::pixels::Image16;
use nightcap_journal::{Damage, FrameRef, Journal};

/// How the frames of a per-frame timelapse are made.
pub struct FrameTimelapse<'a> {
    /// How frames look (the tone map is estimated with these once).
    pub render: RenderSettings,
    /// Half size: each 2x2 block of a mosaic becomes one RGB pixel (no demosaicing).
    pub half: bool,
    /// Applied to every frame before rendering.
    pub calibration: &'a Calibration,
    /// Seconds each frame is shown.
    pub duration_s: f64,
    /// A caption on every frame, with this site line (empty for none).
    pub caption: Option<String>,
}

/// Writes one display JPEG per readable frame of `frames` into `dir` (which must exist)
/// and returns their concat entries in order (empty if no frame could be read).
/// `on_written` is called after each file, `on_skip` for each damaged frame.
pub fn write_frame_timelapse(
    journal: &Journal,
    frames: &[FrameRef],
    dir: &Path,
    cfg: &FrameTimelapse<'_>,
    on_written: &(dyn Fn() + Sync),
    on_skip: &(dyn Fn(&Damage) + Sync),
) -> Result<Vec<ConcatEntry>, OutputError> {
    // One tone map for every frame (no flicker), from the middle frame (or the first
    // readable one); its buffers are freed before the frames are rendered.
    let map = {
        let mut buf = JournalFrames::buffers();
        let decoded = frames
            .iter()
            .skip(frames.len() / 2)
            .chain(frames.iter())
            .any(|r| JournalFrames::decode_into(journal, r, &mut buf).is_ok());
        if !decoded {
            return Ok(Vec::new());
        }
        let mid = buf.image_mut();
        cfg.calibration.apply(mid);
        // A mosaic is measured on the rows the statistics look at, debayered alone.
        if cfg.half {
            ToneMap::estimate(&superpixel(mid), &cfg.render)
        } else {
            ToneMap::estimate(mid, &cfg.render)
        }
    };
    let path_of = |i: usize| dir.join(format!("frame{i:06}.jpg"));
    let write = |i: usize, r: &FrameRef, img: &Image16| {
        let mut meta = OutputMeta::new("frame");
        meta.start_utc_ns = r.time_ns;
        meta.end_utc_ns = r.time_ns + i64::from(r.entry.exposure_us) * 1000;
        meta.frames = 1;
        meta.exposure_total_us = u64::from(r.entry.exposure_us);
        if let Some(site) = &cfg.caption {
            meta.marks.caption = Some(crate::caption::stack_lines(&meta, Some(site)));
        }
        // A mosaic is debayered a strip at a time as it is written; `half` makes the
        // half-size RGB image first.
        let half;
        let img = if cfg.half {
            half = superpixel(img);
            &half
        } else {
            img
        };
        let out = write_jpeg_with_map(&path_of(i), img, &map, &meta);
        on_written();
        out
    };
    let written = timelapse_frames(journal, frames, cfg.calibration, &write, on_skip)?;
    Ok(written
        .into_iter()
        .map(|i| ConcatEntry {
            path: path_of(i),
            duration_s: cfg.duration_s,
        })
        .collect())
}
