//! The progressive star-trail video: the growing trails composite written as a display
//! frame every N frames, with an ffmpeg concat list to encode them.
//!
//! Every frame of the video is rendered with one tone map, estimated once on the first
//! composite written, so the video does not flicker as the trails grow. Frames go to
//! `<stem>-frames/trail{n:06}.jpg` beside the trails image (`n` is the number of frames
//! combined so far) and are listed in `<stem>-frames/trails.ffconcat`; the last composite
//! is always included.

use std::path::{Path, PathBuf};

use crate::night::write_jpeg_with_map;
use crate::output::concat::{write_concat, ConcatEntry};
use crate::output::image::OutputMeta;
use crate::output::OutputError;
use crate::tone::{RenderSettings, ToneMap};
use nightcap_frame::pixels::Image16;

/// A star-trail video being written (see the module docs).
pub struct TrailVideo {
    dir: PathBuf,
    every: usize,
    fps: u32,
    map: Option<ToneMap>,
    /// How the frames look (the map is estimated with these once).
    render: RenderSettings,
    entries: Vec<ConcatEntry>,
    last: u32,
}

impl TrailVideo {
    /// A video of the trails image `out` with a frame every `every` frames (at least 1)
    /// played at `fps`; creates its folder.
    pub fn new(
        out: &Path,
        every: usize,
        fps: u32,
        render: RenderSettings,
    ) -> Result<TrailVideo, OutputError> {
        let stem = out
            .file_stem()
            .map_or("trails".into(), |s| s.to_string_lossy().into_owned());
        let dir = out.with_file_name(format!("{stem}-frames"));
        std::fs::create_dir_all(&dir).map_err(|e| OutputError::io(&dir, e))?;
        Ok(TrailVideo {
            dir,
            every: every.max(1),
            fps: fps.max(1),
            map: None,
            render,
            entries: Vec::new(),
            last: 0,
        })
    }

    /// Called after each frame is added: writes the composite `acc` of `n` frames when
    /// `n` is a multiple of the interval.
    pub fn frame(&mut self, acc: &Image16, n: u32) -> Result<(), OutputError> {
        if !(n as usize).is_multiple_of(self.every) {
            return Ok(());
        }
        self.write(acc, n)
    }

    fn write(&mut self, acc: &Image16, n: u32) -> Result<(), OutputError> {
        // Estimated on the debayered composite (ToneMap::estimate debayers a mosaic).
        let map = self
            .map
            .get_or_insert_with(|| ToneMap::estimate(acc, &self.render));
        let path = self.dir.join(format!("trail{n:06}.jpg"));
        let mut meta = OutputMeta::new("trails");
        meta.frames = n;
        write_jpeg_with_map(&path, acc, map, &meta)?;
        self.entries.push(ConcatEntry {
            path,
            duration_s: 1.0 / f64::from(self.fps),
        });
        self.last = n;
        Ok(())
    }

    /// Writes the final composite `acc` of `n` frames (unless it was just written) and the
    /// concat list; returns the list's path.
    pub fn finish(mut self, acc: &Image16, n: u32) -> Result<PathBuf, OutputError> {
        if self.last != n {
            self.write(acc, n)?;
        }
        let list = self.dir.join("trails.ffconcat");
        write_concat(&list, &self.entries)?;
        Ok(list)
    }
}
