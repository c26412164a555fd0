//! Night products besides window stacks: star trails ([`Trails`]), per-frame
//! timelapse frames ([`timelapse_frames`]) and keograms ([`keogram`]).
//!
//! Star trails are a max composite over the selected frames, with two options:
//! - **comet** `F` (0 < F < 1): frames are combined in time order as
//!   `acc = max(acc · F, frame)`, so each trail fades behind its star like a comet tail;
//! - **gap filling**: between two exposures the star moves while the shutter is closed,
//!   and where one frame's trail ends and the next one's begins each frame holds only
//!   part of the star's light (the two PSF halves), so a plain max shows a dim dot at
//!   every junction. For each pair of consecutive frames `A`, `B` the light of both is
//!   added back, `A + B − sky` (sky = per-colour median of the pair), which restores the
//!   junction to the brightness of a continuous trail; so that stars that barely move
//!   (near the pole: `A` and `B` overlap everywhere) do not come out twice as bright, this
//!   sum is capped by the brighter of `A` and `B` over the pixel's same-colour 3x3
//!   neighbourhood (a continuous trail is never brighter than its own nearby samples).
//!   The capped sum is maxed into the composite like a frame.
//!
//! Frames are decoded in parallel, a batch of one frame per core at a time, and combined
//! in time order, so memory stays at a few frames whatever the night's length.

use rayon::prelude::*;

use crate::frame::Cfa;
use crate::journal::{Damage, FrameRef, Journal};
use crate::pixels::{max_for_depth, Image16};
use crate::stack::calib::Calibration;
use crate::stack::debayer::superpixel;
use crate::stack::night::{JournalFrames, Pooled};

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
/// frames are lent, not copied). Damaged frames go to `skipped`.
pub fn for_each_in_order(
    journal: &Journal,
    frames: &[FrameRef],
    calibration: &Calibration,
    skipped: &mut dyn FnMut(&Damage),
    each: &mut dyn FnMut(usize, &Image16),
) {
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
                Ok(()) => each(b * batch + k, bufs[k].image()),
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
    prev: Option<Image16>,
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
        let Some(acc) = self.acc.as_mut() else {
            self.frames = 1;
            if self.fill_gaps {
                self.prev = Some(img.clone());
            }
            self.acc = Some(img.clone());
            return true;
        };
        if !acc.same_shape(img) || acc.data.len() != img.data.len() {
            return false;
        }
        if let Some(f) = self.comet {
            acc.data
                .par_iter_mut()
                .zip(&img.data)
                .for_each(|(a, &v)| *a = ((f32::from(*a) * f) as u16).max(v));
        } else {
            max_into(&mut acc.data, &img.data);
        }
        if self.fill_gaps {
            if let Some(prev) = &mut self.prev {
                let fill = gap_fill(prev, img);
                max_into(&mut acc.data, &fill.data);
                prev.data.copy_from_slice(&img.data);
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

fn max_into(acc: &mut [u16], src: &[u16]) {
    acc.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(a, s)| a.iter_mut().zip(s).for_each(|(a, &b)| *a = (*a).max(b)));
}

/// Per-colour medians of a subsample (index by `colour_at`, or 0 for mono).
fn sky_levels(img: &Image16) -> [u16; 3] {
    let w = img.width as usize;
    let mut vals: [Vec<u16>; 3] = Default::default();
    let step = (img.data.len() / 100_000).max(1) | 1;
    for (i, &v) in img.data.iter().enumerate().step_by(step) {
        let c = if img.channels == 3 {
            i % 3
        } else {
            img.cfa.colour_at((i % w) % w, (i / w) % 2).unwrap_or(0)
        };
        vals[c].push(v);
    }
    let mut out = [0u16; 3];
    for (o, v) in out.iter_mut().zip(vals.iter_mut()) {
        if !v.is_empty() {
            let mid = v.len() / 2;
            *o = *v.select_nth_unstable(mid).1;
        }
    }
    out
}

/// `min(A + B − sky, local max of A and B)` for consecutive frames (see the module docs).
pub fn gap_fill(a: &Image16, b: &Image16) -> Image16 {
    let (w, h) = (a.width as usize, a.height as usize);
    let ch = usize::from(a.channels);
    let row = w * ch;
    // Same-colour neighbours: 2 samples away in a mosaic, one pixel (ch samples) otherwise.
    let (dx, dy) = if a.channels == 1 && a.cfa != Cfa::None {
        (2, 2)
    } else {
        (ch, 1)
    };
    let (sa, sb) = (sky_levels(a), sky_levels(b));
    let max = u32::from(max_for_depth(a.bit_depth));
    let mut out = a.clone();
    out.data.par_chunks_mut(row).enumerate().for_each(|(y, o)| {
        for (x, ox) in o.iter_mut().enumerate() {
            let i = y * row + x;
            let c = if ch == 3 {
                x % 3
            } else {
                a.cfa.colour_at(x, y).unwrap_or(0)
            };
            let sky = (u32::from(sa[c]) + u32::from(sb[c])) / 2;
            let sum = (u32::from(a.data[i]) + u32::from(b.data[i])).saturating_sub(sky);
            let mut cap = 0u16;
            for ny in [y.wrapping_sub(dy), y, y + dy] {
                if ny >= h {
                    continue;
                }
                for nx in [x.wrapping_sub(dx), x, x + dx] {
                    if nx < row {
                        let j = ny * row + nx;
                        cap = cap.max(a.data[j]).max(b.data[j]);
                    }
                }
            }
            *ox = sum.min(u32::from(cap)).min(max) as u16;
        }
    });
    out
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
    fn gap_filling_restores_a_split_junction() {
        // A trail along row 2: frame A lights x = 2..=10 (ending half-bright at x = 12),
        // frame B starts half-bright at x = 12 and continues to 20.
        let sky = 100u16;
        let mut a = vec![sky; 32 * 4];
        let mut b = vec![sky; 32 * 4];
        for x in (2..=10).step_by(2) {
            a[2 * 32 + x] = 1100;
        }
        for x in (14..=20).step_by(2) {
            b[2 * 32 + x] = 1100;
        }
        a[2 * 32 + 12] = 600;
        b[2 * 32 + 12] = 600;
        let mut plain = Trails::new(&TrailsConfig::default());
        let mut filled = Trails::new(&TrailsConfig {
            fill_gaps: true,
            ..TrailsConfig::default()
        });
        for f in [&a, &b] {
            plain.add(&mosaic(32, 4, f.clone()));
            filled.add(&mosaic(32, 4, f.clone()));
        }
        assert_eq!(plain.image().unwrap().data[2 * 32 + 12], 600);
        assert_eq!(filled.image().unwrap().data[2 * 32 + 12], 1100);
        // Nothing else brightens: a star sitting still is not doubled.
        let still = mosaic(32, 4, a.clone());
        let fill = gap_fill(&still, &still);
        assert_eq!(fill.data[2 * 32 + 4], 1100);
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
