//! Night products besides window stacks: star trails ([`Trails`]), per-frame
//! timelapse frames ([`timelapse_frames`]), keograms ([`keogram`]) and the meteor
//! composite ([`median_of`] for its sky, [`paste_max`] for each meteor).
//!
//! Star trails are a max composite over the selected frames, with two options:
//! - **comet** `F` (0 < F < 1): frames are combined in time order as
//!   `acc = max(acc · F, frame)`, so each trail fades behind its star like a comet tail;
//! - **gap filling**: between two exposures the star moves while the shutter is closed,
//!   so a plain max shows dashed trails; for each pair of consecutive frames the arc each
//!   star crossed in the gap is drawn from the frames on either side of it
//!   ([`crate::gapfill`]), leaving the sky and hot pixels as they are.
//!
//! Frames are decoded in parallel, a batch of one frame per core at a time, and combined
//! in time order, so memory stays at a few frames whatever the night's length.

use rayon::prelude::*;

use crate::calib::Calibration;
use crate::debayer::superpixel;
use crate::gapfill::{self, FrameInfo, Motion};
use crate::night::JournalFrames;
use crate::pool::{PoolScope, Pooled};
use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;
use nightcap_journal::{Damage, FrameRef, Journal};

/// How star trails are made.
#[derive(Debug, Clone, Default)]
pub struct TrailsConfig {
    /// Fade factor per frame, 0 < F < 1; `None` for plain trails.
    pub comet: Option<f32>,
    pub fill_gaps: bool,
    pub calibration: Calibration,
}

/// Calls `each(index, frame)` for every usable frame of `frames` in order, decoding a
/// batch of frames in parallel at a time (one per core, each into its own buffers: the
/// frames are lent, not copied). `each` may swap the frame's samples for another buffer
/// of the same length (to keep the frame without copying it); the buffer is decoded over
/// next. Damaged frames go to `skipped`.
pub fn for_each_in_order(
    journal: &Journal,
    frames: &[FrameRef],
    calibration: &Calibration,
    skipped: &mut dyn FnMut(&Damage),
    each: &mut dyn FnMut(usize, &mut Image16),
) {
    let _pools = PoolScope::enter();
    let batch = rayon::current_num_threads().max(1).min(frames.len().max(1));
    let mut bufs: Vec<Pooled> = (0..batch).map(|_| Pooled::take()).collect();
    for (b, chunk) in frames.chunks(batch).enumerate() {
        let decoded: Vec<Result<(), Damage>> = bufs
            .par_iter_mut()
            .zip(chunk.par_iter())
            .map(|(buf, r)| {
                JournalFrames::decode_into(journal, r, buf)
                    .map(|_| calibration.apply(buf.image_mut()))
            })
            .collect();
        for (k, d) in decoded.into_iter().enumerate() {
            match d {
                Ok(()) => each(b * batch + k, bufs[k].image_mut()),
                Err(e) => skipped(&e),
            }
        }
    }
}

/// The star-trail composite being built.
#[derive(Debug, Default)]
pub struct Trails {
    comet: Option<f32>,
    fill_gaps: bool,
    acc: Option<Image16>,
    /// What gap filling knows of the previous frame, and the frame itself while the
    /// motion is large enough to fill (`None` else: it is not copied for nothing).
    prev: Option<(Option<Image16>, FrameInfo)>,
    /// The sky's motion between consecutive frames, and pairs since it was measured.
    motion: Option<Motion>,
    since: u32,
    /// Frames combined.
    pub frames: u32,
}

impl Trails {
    pub fn new(cfg: &TrailsConfig) -> Trails {
        Trails {
            comet: cfg.comet.filter(|f| *f > 0.0 && *f < 1.0),
            fill_gaps: cfg.fill_gaps,
            ..Trails::default()
        }
    }

    /// Adds the next frame in time order. A frame of another shape than the first is
    /// ignored (returns false).
    pub fn add(&mut self, img: &Image16) -> bool {
        self.add_frame(Frame::Borrowed(img))
    }

    /// [`add`](Self::add) for a frame whose samples may be taken: gap filling keeps the
    /// previous frame by swapping its buffer with `img`'s (same length) instead of
    /// copying it; `img`'s samples are unspecified afterwards.
    pub fn add_lent(&mut self, img: &mut Image16) -> bool {
        self.add_frame(Frame::Lent(img))
    }

    fn add_frame(&mut self, mut frame: Frame<'_>) -> bool {
        let img: &Image16 = match &frame {
            Frame::Borrowed(i) => i,
            Frame::Lent(i) => i,
        };
        let Some(acc) = self.acc.as_mut() else {
            self.frames = 1;
            if self.fill_gaps {
                self.prev = Some((Some(img.clone()), FrameInfo::of(img, true)));
            }
            self.acc = Some(img.clone());
            return true;
        };
        if !acc.same_shape(img) || acc.data.len() != img.data.len() {
            return false;
        }
        // With gap filling, the frame's lit samples are found in the same pass that
        // adds it (FrameInfo made first); stars are found on the two frames of every
        // REMEASURE-th pair (and until a first measurement succeeds, then on every
        // REMEASURE-th pair after a failed one).
        let gap_info = match &self.prev {
            Some(_) if self.fill_gaps => {
                let due = self.since + 1 >= gapfill::REMEASURE
                    || (self.motion.is_none() && self.since == 0);
                Some(FrameInfo::of(img, due))
            }
            _ => None,
        };
        if let Some(f) = self.comet {
            acc.data
                .par_iter_mut()
                .zip(&img.data)
                .for_each(|(a, &v)| *a = ((f32::from(*a) * f) as u16).max(v));
        } else if let Some(info) = gap_info.as_ref().filter(|_| {
            // Only a frame the next pair may fill from needs its lit samples.
            self.motion
                .is_none_or(|m| gapfill::fills(&m, img.width, img.height, img))
        }) {
            gapfill::max_and_lit(acc, img, info);
        } else {
            max_into(&mut acc.data, &img.data);
        }
        if self.fill_gaps {
            if let (Some((prev, prev_info)), Some(info)) = (&mut self.prev, gap_info) {
                self.since += 1;
                if let (Some(a), Some(b)) = (&prev_info.stars, &info.stars) {
                    match Motion::between(a, b, img.width, img.height) {
                        Some(m) => {
                            self.motion = Some(m);
                            self.since = 0;
                        }
                        None if self.since >= gapfill::REMEASURE => self.since = 0,
                        None => {}
                    }
                }
                let fills = self
                    .motion
                    .is_some_and(|m| gapfill::fills(&m, img.width, img.height, img));
                if let (Some(m), Some(p)) = (&self.motion, prev.as_ref()) {
                    if fills {
                        gapfill::fill(acc, (p, prev_info), (img, &info), m);
                    }
                }
                // The frame is kept for the next pair only when that pair may fill.
                let keep = fills.then(|| prev.is_some());
                *prev_info = info;
                match (keep, prev.as_mut(), &mut frame) {
                    (None, _, _) => *prev = None,
                    (Some(true), Some(p), Frame::Lent(i)) => {
                        std::mem::swap(&mut p.data, &mut i.data)
                    }
                    (Some(true), Some(p), Frame::Borrowed(i)) => p.data.copy_from_slice(&i.data),
                    (_, _, Frame::Lent(i)) => *prev = Some(i.clone()),
                    (_, _, Frame::Borrowed(i)) => *prev = Some((*i).clone()),
                }
            }
        }
        self.frames += 1;
        true
    }

    /// The composite so far.
    pub fn image(&self) -> Option<&Image16> {
        self.acc.as_ref()
    }

    pub fn into_image(self) -> Option<Image16> {
        self.acc
    }
}

/// A frame handed to [`Trails`]: only looked at, or lent (its samples may be taken).
enum Frame<'a> {
    Borrowed(&'a Image16),
    Lent(&'a mut Image16),
}

fn max_into(acc: &mut [u16], src: &[u16]) {
    acc.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(a, s)| a.iter_mut().zip(s).for_each(|(a, &b)| *a = (*a).max(b)));
}

/// The per-sample median of `frames` (all of one shape; `None` when they are not, or
/// there are none): a sky with no star trails, planes or meteors in it, for the meteor
/// composite. Memory: the frames given, and the result.
pub fn median_of(frames: &[Image16]) -> Option<Image16> {
    let first = frames.first()?;
    if frames
        .iter()
        .any(|f| !f.same_shape(first) || f.data.len() != first.data.len())
    {
        return None;
    }
    let mut out = first.clone();
    let n = frames.len();
    out.data
        .par_chunks_mut(1 << 14)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut v = vec![0u16; n];
            for (k, o) in chunk.iter_mut().enumerate() {
                let i = c * (1 << 14) + k;
                for (slot, f) in v.iter_mut().zip(frames) {
                    *slot = f.data[i];
                }
                *o = *v.select_nth_unstable(n / 2).1;
            }
        });
    Some(out)
}

/// Copies the brighter of `from` and `into` into `into` at every pixel inside the
/// capsules (a meteor's streak onto the composite's sky); images of another shape are
/// left alone (returns false).
pub fn paste_max(
    into: &mut Image16,
    from: &Image16,
    capsules: &[nightcap_frame::mask::Capsule],
) -> bool {
    if !into.same_shape(from) || into.data.len() != from.data.len() {
        return false;
    }
    let (w, ch) = (into.width as usize, usize::from(into.channels.max(1)));
    for c in capsules {
        c.for_each_pixel(into.width, into.height, |x, y| {
            for k in 0..ch {
                let i = (y * w + x) * ch + k;
                into.data[i] = into.data[i].max(from.data[i]);
            }
        });
    }
    true
}

/// One keogram column: the 2-pixel band at column `x` (rounded down to even in a
/// mosaic) binned to RGB (mosaic) or the column itself; `height/2` or `height` pixels,
/// `channels` interleaved.
pub fn keogram_column(img: &Image16, x: u32) -> Image16 {
    let w = img.width as usize;
    let ch = usize::from(img.channels);
    if img.channels == 1 && img.cfa != Cfa::None && img.width >= 2 {
        let x0 = (x.min(img.width - 2) & !1) as usize;
        let mut band = Image16::zeroed(2, img.height, 1, img.cfa, img.bit_depth);
        for (y, px) in band.data.chunks_exact_mut(2).enumerate() {
            px.copy_from_slice(&img.data[y * w + x0..y * w + x0 + 2]);
        }
        superpixel(&band)
    } else {
        let x = (x as usize).min(w.saturating_sub(1));
        let mut col = Image16::zeroed(1, img.height, img.channels, Cfa::None, img.bit_depth);
        for (y, px) in col.data.chunks_exact_mut(ch).enumerate() {
            px.copy_from_slice(&img.data[(y * w + x) * ch..(y * w + x + 1) * ch]);
        }
        col
    }
}

/// Puts columns side by side, left to right (all of the first column's height and
/// channels; others are skipped).
pub fn assemble_columns(cols: &[Image16]) -> Option<Image16> {
    let first = cols.first()?;
    let (h, ch) = (first.height as usize, usize::from(first.channels));
    let good: Vec<&Image16> = cols
        .iter()
        .filter(|c| c.height == first.height && c.channels == first.channels)
        .collect();
    let n = good.len();
    let mut out = Image16::zeroed(
        n as u32,
        h as u32,
        first.channels,
        Cfa::None,
        first.bit_depth,
    );
    for (x, c) in good.iter().enumerate() {
        for y in 0..h {
            let dst = (y * n + x) * ch;
            out.data[dst..dst + ch].copy_from_slice(&c.data[y * ch..(y + 1) * ch]);
        }
    }
    Some(out)
}

/// The keogram of `frames`: one column per usable frame, at column `x` (default centre).
pub fn keogram(
    journal: &Journal,
    frames: &[FrameRef],
    x: Option<u32>,
    calibration: &Calibration,
    skipped: &mut dyn FnMut(&Damage),
    tick: &mut dyn FnMut(),
) -> Option<Image16> {
    let _pools = PoolScope::enter();
    let mut cols = Vec::with_capacity(frames.len());
    for_each_in_order(journal, frames, calibration, skipped, &mut |_, img| {
        let col = keogram_column(img, x.unwrap_or(img.width / 2));
        cols.push(col);
        tick();
    });
    assemble_columns(&cols)
}

/// Renders every frame through `write(index, frame)`, in parallel (for timelapses; the
/// caller picks names and the tone map). The frame is lent from the worker's decode
/// buffers (calibrated in place), not copied. Returns the indices written.
pub fn timelapse_frames<E: Send>(
    journal: &Journal,
    frames: &[FrameRef],
    calibration: &Calibration,
    write: &(dyn Fn(usize, &FrameRef, &Image16) -> Result<(), E> + Sync),
    skipped: &(dyn Fn(&Damage) + Sync),
) -> Result<Vec<usize>, E> {
    let _pools = PoolScope::enter();
    let results: Vec<Option<Result<usize, E>>> = frames
        .par_iter()
        .enumerate()
        .map_init(
            Pooled::take,
            |buf, (i, r)| match JournalFrames::decode_into(journal, r, buf) {
                Ok(_) => {
                    calibration.apply(buf.image_mut());
                    Some(write(i, r, buf.image()).map(|()| i))
                }
                Err(d) => {
                    skipped(&d);
                    None
                }
            },
        )
        .collect();
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod composite_tests {
    use super::*;
    use nightcap_frame::mask::Capsule;

    #[test]
    fn the_median_sky_drops_what_moved_and_a_meteor_is_pasted_only_inside_its_streak() {
        let sky = |v: u16| {
            let mut img = Image16::zeroed(8, 4, 1, Cfa::Rggb, 12);
            img.data.fill(v);
            img
        };
        let mut frames = vec![sky(100), sky(102), sky(98)];
        frames[1].data[5] = 4000; // a plane in one frame
        let base = median_of(&frames).unwrap();
        assert_eq!(base.data[5], 100);
        assert!(base.data.iter().all(|&v| v == 100));
        assert_eq!(
            median_of(&[sky(1), Image16::zeroed(4, 4, 1, Cfa::Rggb, 12)]),
            None
        );
        let mut meteor = sky(100);
        meteor.data[8 + 2] = 3000; // (2, 1), on the streak
        meteor.data[3 * 8 + 7] = 3000; // (7, 3), off it
        let mut composite = base.clone();
        let streak = Capsule {
            a: (1.0, 1.5),
            b: (4.0, 1.5),
            radius: 1.0,
        };
        assert!(paste_max(&mut composite, &meteor, &[streak]));
        assert_eq!(composite.data[8 + 2], 3000);
        assert_eq!(composite.data[3 * 8 + 7], 100);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mosaic(w: u32, h: u32, data: Vec<u16>) -> Image16 {
        Image16 {
            width: w,
            height: h,
            channels: 1,
            cfa: Cfa::Rggb,
            bit_depth: 12,
            data,
        }
    }

    #[test]
    fn plain_trails_are_the_max_and_comet_trails_fade() {
        let frames: Vec<Image16> = (0..10)
            .map(|i| {
                let mut d = vec![100u16; 32 * 4];
                d[2 * 32 + 2 + 2 * i] = 2000;
                mosaic(32, 4, d)
            })
            .collect();
        let mut plain = Trails::new(&TrailsConfig::default());
        let mut comet = Trails::new(&TrailsConfig {
            comet: Some(0.8),
            ..TrailsConfig::default()
        });
        for f in &frames {
            assert!(plain.add(f));
            comet.add(f);
        }
        let p = plain.into_image().unwrap();
        let c = comet.into_image().unwrap();
        for i in 0..10 {
            assert_eq!(p.data[2 * 32 + 2 + 2 * i], 2000);
        }
        let (early, late) = (c.data[2 * 32 + 2], c.data[2 * 32 + 2 + 18]);
        assert_eq!(late, 2000);
        assert!(early < 400, "faded: {early}");
        assert!(c.data[2 * 32 + 2 + 2] > early);
    }

    #[test]
    fn keogram_columns_are_binned_bands() {
        let mut d = vec![0u16; 8 * 4];
        for y in 0..4 {
            for x in 0..8 {
                d[y * 8 + x] = (y * 8 + x) as u16;
            }
        }
        let img = mosaic(8, 4, d);
        let col = keogram_column(&img, 5);
        assert_eq!((col.width, col.height, col.channels), (1, 2, 3));
        // RGGB at x = 4: R = (0,4) = 4, G = mean(5, 12) = 8 or 9, B = (1,5)... = 13.
        assert_eq!(col.data[0], 4);
        assert_eq!(col.data[2], 13);
        let k = assemble_columns(&[col.clone(), col.clone(), col]).unwrap();
        assert_eq!((k.width, k.height), (3, 2));
    }
}
