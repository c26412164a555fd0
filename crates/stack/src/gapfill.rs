//! Gap filling for star trails: the arc each star travels while the shutter is closed
//! between two exposures, drawn from the frames on either side of the gap.
//!
//! Between consecutive frames `A` and `B` every star moves by a displacement `d(x)` that
//! varies slowly across the frame (the sky turns about the pole). [`Motion::between`]
//! measures it from the stars both frames show ([`crate::stars`]): every pair of
//! an `A` star and a `B` star within reach votes for its displacement in 2-pixel bins, in
//! each tile of the frame the displacement most pairs agree on picks the pairs that are
//! the same star twice, and a field `d(x) = M x + t` is fitted to those (a small turn
//! about the pole moves every point by exactly such a field).
//!
//! [`fill`] then starts a segment at every sample a star left: lit in `A` (above its
//! block's sky, in its colour, by 5.5 noise sigmas of that block) and not lit in `B`. The
//! segment runs to the same-colour sample near `x + d(x)` that the star reached: lit in
//! `B` and not in `A`. It is drawn at the dimmer of the two values: each point of `A`'s
//! trail joined to the point of `B`'s trail the star reached one frame period later,
//! which covers the arc crossed while the shutter was closed.
//!
//! What it never does: write the sky (segments start only at lit samples and carry their
//! values; levels are per block, as the sky is brighter and noisier towards the horizon),
//! join hot pixels or other static light (lit in both frames at the same place: neither
//! a start nor an end), or mix colours (in a mosaic displacements are rounded to even and
//! segments step through the starting sample's colour only).
//!
//! Cost: a sparse pass over each frame for its lit levels (every ninth sample of every
//! ninth row), the lit samples found in the trails' own pass (the maximum and the
//! comparison in one loop), then work in proportion to those, a small part of a night sky
//! frame. Stars are found (two more passes) only where the motion is measured: on the
//! first pair of frames, then on
//! every [`REMEASURE`]th pair (the sky turns at a constant rate; a pair whose frames are
//! further apart than the measured motion says, after missed frames, fills nothing, as its
//! displaced samples are sky).

use std::collections::HashMap;

use rayon::prelude::*;

use crate::stars::Cells;
use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;

/// What gap filling needs to know of one frame, found once per frame: the levels above
/// which its samples are lit, and its stars when the motion is to be measured with it.
#[derive(Debug)]
pub struct FrameInfo {
    pub stars: Option<Stars>,
    /// Found when a fill first needs them.
    lit: std::sync::OnceLock<LitLevels>,
    /// Its lit samples (index into a row, row), found by [`max_and_lit`] while the frame
    /// is added to the trails, or by the first fill that needs them.
    lit_samples: std::sync::OnceLock<Vec<(usize, usize)>>,
}

impl FrameInfo {
    /// What is known of a frame: its stars if `stars`.
    pub fn of(img: &Image16, stars: bool) -> FrameInfo {
        FrameInfo {
            stars: stars.then(|| Stars::of(img)),
            lit: std::sync::OnceLock::new(),
            lit_samples: std::sync::OnceLock::new(),
        }
    }

    fn lit(&self, img: &Image16) -> &LitLevels {
        self.lit.get_or_init(|| LitLevels::of(img))
    }
}

/// Star positions of one frame, in pixels (sub-pixel centroids), sorted by `y`.
#[derive(Debug, Clone, Default)]
pub struct Stars(Vec<(f32, f32)>);

impl Stars {
    /// The stars of `img` (none for frames too small to look for them in).
    pub fn of(img: &Image16) -> Stars {
        let Some(cells) = Cells::of(img) else {
            return Stars::default();
        };
        let noise = cells.noise();
        let cw = cells.width;
        let mut v: Vec<(f32, f32)> = cells
            .stars(noise)
            .into_iter()
            .map(|(cx, cy)| {
                // Centroid over the 3x3 cells above the local minimum.
                let at = |dx: usize, dy: usize| {
                    f64::from(cells.values[(cy + dy - 1) * cw + cx + dx - 1])
                };
                let floor = (0..3)
                    .flat_map(|dy| (0..3).map(move |dx| (dx, dy)))
                    .map(|(dx, dy)| at(dx, dy))
                    .fold(f64::MAX, f64::min);
                let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
                for dy in 0..3 {
                    for dx in 0..3 {
                        let wgt = at(dx, dy) - floor;
                        sx += wgt * (dx as f64 - 1.0);
                        sy += wgt * (dy as f64 - 1.0);
                        sw += wgt;
                    }
                }
                let (ox, oy) = if sw > 0.0 {
                    (sx / sw, sy / sw)
                } else {
                    (0.0, 0.0)
                };
                (
                    (2.0 * (cx as f64 + ox) + 0.5) as f32,
                    (2.0 * (cy as f64 + oy) + 0.5) as f32,
                )
            })
            .collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1));
        Stars(v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How the sky moved between two frames: a displacement field `d(x, y) = (a0 + a1·x +
/// a2·y, b0 + b1·x + b2·y)` in pixels. A turn of the sky about the pole by a small angle
/// moves every point by exactly such a field, so one is fitted to the whole frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    a: [f64; 3],
    b: [f64; 3],
}

/// Pairs of frames between measurements of the motion.
pub const REMEASURE: u32 = 32;

/// Star pairs a tile's displacement needs at least.
const MIN_VOTES: u32 = 3;

/// One pair of an `A` star and a `B` star: where the `A` star is and how far it is to
/// the `B` star.
#[derive(Debug, Clone, Copy)]
struct Pair {
    tile: usize,
    bin: (i32, i32),
    x: f64,
    y: f64,
    dx: f64,
    dy: f64,
}

impl Motion {
    /// The displacement from frame `a` (stars `sa`) to frame `b` (stars `sb`) of a
    /// `width` x `height` frame; `None` when too few stars agree.
    ///
    /// Every `A` star is paired with every `B` star within reach; in each tile of the
    /// frame the displacement most pairs agree on (2-pixel bins, with their neighbours)
    /// picks the pairs that are the same star twice; the field is fitted to those by
    /// least squares, twice more without the pairs it misses by over 3 pixels.
    pub fn between(sa: &Stars, sb: &Stars, width: u32, height: u32) -> Option<Motion> {
        let (w, h) = (width as usize, height as usize);
        let tile = (w.max(h) / 8).max(128);
        let (cols, rows) = (w.div_ceil(tile), h.div_ceil(tile));
        // The farthest a star may move in one frame period (four minutes turn the sky
        // by a degree: 70 pixels at 4000 pixels from the pole).
        let reach = (w.max(h) as f32 / 16.0).max(12.0);
        let mut pairs = Vec::new();
        let mut votes: Vec<HashMap<(i32, i32), u32>> = vec![HashMap::new(); cols * rows];
        for &(ax, ay) in &sa.0 {
            let t = (ay as usize / tile).min(rows - 1) * cols + (ax as usize / tile).min(cols - 1);
            let first = sb.0.partition_point(|s| s.1 < ay - reach);
            for &(bx, by) in sb.0[first..].iter().take_while(|s| s.1 <= ay + reach) {
                let (dx, dy) = (bx - ax, by - ay);
                if dx.abs() > reach {
                    continue;
                }
                let bin = ((dx / 2.0).round() as i32, (dy / 2.0).round() as i32);
                *votes[t].entry(bin).or_insert(0) += 1;
                pairs.push(Pair {
                    tile: t,
                    bin,
                    x: f64::from(ax),
                    y: f64::from(ay),
                    dx: f64::from(dx),
                    dy: f64::from(dy),
                });
            }
        }
        // Each tile's winning bin: the one whose 3x3 neighbourhood holds the most votes.
        let winners: Vec<Option<(i32, i32)>> = votes
            .iter()
            .map(|bins| {
                let around = |&(bx, by): &(i32, i32)| -> u32 {
                    (bx - 1..=bx + 1)
                        .flat_map(|nx| (by - 1..=by + 1).map(move |ny| (nx, ny)))
                        .filter_map(|k| bins.get(&k))
                        .sum()
                };
                let best = bins
                    .keys()
                    .max_by_key(|k| (around(k), std::cmp::Reverse(**k)))?;
                (around(best) >= MIN_VOTES).then_some(*best)
            })
            .collect();
        let mut chosen: Vec<Pair> = pairs
            .into_iter()
            .filter(|p| {
                winners[p.tile]
                    .is_some_and(|(wx, wy)| (p.bin.0 - wx).abs() <= 1 && (p.bin.1 - wy).abs() <= 1)
            })
            .collect();
        let mut fit = Motion::fit(&chosen)?;
        for _ in 0..2 {
            chosen.retain(|p| {
                let (fx, fy) = fit.at_f64(p.x, p.y);
                (fx - p.dx).hypot(fy - p.dy) <= 3.0
            });
            fit = Motion::fit(&chosen)?;
        }
        Some(fit)
    }

    /// The least-squares field through `pairs`; `None` for fewer than 3 or a degenerate
    /// spread (then a plain shift, the mean, if there are any).
    fn fit(pairs: &[Pair]) -> Option<Motion> {
        if pairs.is_empty() {
            return None;
        }
        let n = pairs.len() as f64;
        let (mx, my) = (
            pairs.iter().map(|p| p.x).sum::<f64>() / n,
            pairs.iter().map(|p| p.y).sum::<f64>() / n,
        );
        let (mdx, mdy) = (
            pairs.iter().map(|p| p.dx).sum::<f64>() / n,
            pairs.iter().map(|p| p.dy).sum::<f64>() / n,
        );
        // Centred normal equations: [sxx sxy; sxy syy] [k1 k2]^T = [sx·d; sy·d].
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        let (mut sxa, mut sya, mut sxb, mut syb) = (0.0, 0.0, 0.0, 0.0);
        for p in pairs {
            let (x, y) = (p.x - mx, p.y - my);
            sxx += x * x;
            sxy += x * y;
            syy += y * y;
            sxa += x * (p.dx - mdx);
            sya += y * (p.dx - mdx);
            sxb += x * (p.dy - mdy);
            syb += y * (p.dy - mdy);
        }
        let det = sxx * syy - sxy * sxy;
        let spread = sxx + syy;
        let (a1, a2, b1, b2) = if pairs.len() >= 3 && det > 1e-6 * spread * spread {
            (
                (sxa * syy - sya * sxy) / det,
                (sya * sxx - sxa * sxy) / det,
                (sxb * syy - syb * sxy) / det,
                (syb * sxx - sxb * sxy) / det,
            )
        } else {
            (0.0, 0.0, 0.0, 0.0)
        };
        Some(Motion {
            a: [mdx - a1 * mx - a2 * my, a1, a2],
            b: [mdy - b1 * mx - b2 * my, b1, b2],
        })
    }

    /// The largest displacement anywhere in a `width` x `height` frame (a field that is
    /// linear in x and y is largest at a corner).
    pub fn largest(&self, width: u32, height: u32) -> f64 {
        let (w, h) = (f64::from(width), f64::from(height));
        [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
            .iter()
            .map(|&(x, y)| {
                let (dx, dy) = self.at_f64(x, y);
                dx.abs().max(dy.abs())
            })
            .fold(0.0, f64::max)
    }

    fn at_f64(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.a[0] + self.a[1] * x + self.a[2] * y,
            self.b[0] + self.b[1] * x + self.b[2] * y,
        )
    }

    /// The displacement at pixel (`x`, `y`).
    pub fn at(&self, x: usize, y: usize) -> (f32, f32) {
        let (dx, dy) = self.at_f64(x as f64, y as f64);
        (dx as f32, dy as f32)
    }
}

/// The level above which a sample is lit, per block of the frame and colour: the
/// block's sky (the median of its samples of that colour) plus 5.5 noise sigmas (the
/// noise from differences of same-colour neighbours in the block). Per block because the
/// sky is brighter, and noisier, towards towns and the horizon: one level for the frame
/// would light the bright side's sky.
#[derive(Debug)]
struct LitLevels {
    cols: usize,
    levels: Vec<[u32; 3]>,
}

/// Pixels per side of a block of [`LitLevels`]: 128 (about 200 samples looked at per
/// block; a sky gradient across 128 pixels is a small part of its noise). Blocks of 64
/// with every fifth sample cost three times as much and filled nearly the same arcs: on
/// the long-dead-time night of `scripts/fill-gaps-cost.sh`, 554 thousand samples written
/// against 547 thousand, 93 % of them the same.
const BLOCK: usize = 128;

impl LitLevels {
    fn of(img: &Image16) -> LitLevels {
        let (w, h) = (img.width as usize, img.height as usize);
        let ch = usize::from(img.channels);
        let step = if ch == 1 && img.cfa != Cfa::None {
            2
        } else {
            ch
        };
        let row = w * ch;
        // The colour of sample x of row y: for a mosaic it depends on both parities, for
        // RGB on x mod 3, else it is 0.
        let colours: [[usize; 6]; 2] = [0, 1].map(|py| {
            [0, 1, 2, 3, 4, 5].map(|x| {
                if ch == 3 {
                    x % 3
                } else {
                    colour(img, x % 2, py)
                }
            })
        });
        let (cols, rows) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
        let levels = (0..cols * rows)
            .into_par_iter()
            .map_init(
                || (<[Vec<u16>; 3]>::default(), <[Vec<u16>; 3]>::default()),
                |(sky, diff), b| {
                    let (bx, by) = ((b % cols) * BLOCK, (b / cols) * BLOCK);
                    sky.iter_mut()
                        .chain(diff.iter_mut())
                        .for_each(|v| v.clear());
                    // Every ninth sample each way (odd, so every colour of a mosaic is
                    // met), with its same-colour neighbour for the noise: the sky is
                    // noisier where it is brighter.
                    for y in (by..(by + BLOCK).min(h)).step_by(9) {
                        let line = &img.data[y * row..(y + 1) * row];
                        let cy = &colours[y % 2];
                        let end = ((bx + BLOCK).min(w) * ch).min(row.saturating_sub(step));
                        for x in (bx * ch..end).step_by(9) {
                            sky[cy[x % 6]].push(line[x]);
                            diff[cy[x % 6]].push(line[x + step].abs_diff(line[x]));
                        }
                    }
                    let mut out = [u32::MAX; 3];
                    for c in 0..3 {
                        if !sky[c].is_empty() {
                            let mid = sky[c].len() / 2;
                            let m = *sky[c].select_nth_unstable(mid).1;
                            let d = *diff[c].select_nth_unstable(mid).1;
                            let noise = (1.4826 * f64::from(d) / std::f64::consts::SQRT_2).max(1.0);
                            out[c] = (f64::from(m) + 5.5 * noise).ceil() as u32;
                        }
                    }
                    out
                },
            )
            .collect();
        LitLevels { cols, levels }
    }

    /// The level of colour `c` at pixel (`px`, `y`).
    fn at(&self, px: usize, y: usize, c: usize) -> u32 {
        self.levels[(y / BLOCK) * self.cols + px / BLOCK][c]
    }
}

/// The colour index (0..3) of sample `x` (an index into the row) of row `y`.
fn colour(img: &Image16, x: usize, y: usize) -> usize {
    if img.channels == 3 {
        x % 3
    } else {
        img.cfa.colour_at(x, y).unwrap_or(0)
    }
}

/// Whether `motion` moves stars far enough in frames like `img` for [`fill`] to draw
/// anything (at least one sample of their colour somewhere).
pub fn fills(motion: &Motion, width: u32, height: u32, img: &Image16) -> bool {
    let step = if img.channels == 1 && img.cfa != Cfa::None {
        2.0
    } else {
        1.0
    };
    motion.largest(width, height) >= step / 2.0 + 0.01
}

/// `acc = max(acc, img)` (the trails' own pass) and, in the same pass, the samples of
/// `img` lit above its levels, kept in `info` for the fill that has `img` as its first
/// frame: one read of the frame instead of two. `acc` and `img` must have one shape.
pub fn max_and_lit(acc: &mut Image16, img: &Image16, info: &FrameInfo) {
    let levels = info.lit(img);
    let lit = lit_and_max(img, levels, Some(&mut acc.data));
    let _ = info.lit_samples.set(lit);
}

/// The lit samples of `img` (index into a row, row), a block-wide run of a row at a
/// time: each sample is compared with its colour's level of its block, laid out as a
/// run of samples once per band of rows (one comparison per sample, no branch: this loop
/// vectorises); the few runs with a lit sample are then looked at sample by sample. With
/// `acc`, also `acc = max(acc, img)` on the way.
fn lit_and_max(
    img: &Image16,
    levels: &LitLevels,
    acc: Option<&mut Vec<u16>>,
) -> Vec<(usize, usize)> {
    let (w, ch) = (img.width as usize, usize::from(img.channels));
    let row = w * ch;
    let run = BLOCK * ch;
    let band_len = row * BLOCK;
    // The colour of each sample of a run, by row parity: the same for every run, as a
    // run holds whole repeats of the pattern (BLOCK is even, and `run` is a multiple of
    // 3 for RGB).
    let pattern: [Vec<usize>; 2] =
        [0, 1].map(|parity| (0..run).map(|k| colour(img, k, parity)).collect());
    let scan = |band: usize, rows: &[u16], mut acc_rows: Option<&mut [u16]>| {
        let y0 = band * BLOCK;
        // Limits per block of the band and row parity.
        let limits: Vec<[Vec<u16>; 2]> = (0..levels.cols)
            .map(|r| {
                let lv = levels.levels[band * levels.cols + r]
                    .map(|l| l.min(u32::from(u16::MAX)) as u16);
                [0, 1].map(|parity| pattern[(y0 + parity) % 2].iter().map(|&c| lv[c]).collect())
            })
            .collect();
        let mut out = Vec::new();
        for (dy, line) in rows.chunks_exact(row).enumerate() {
            let y = y0 + dy;
            let mut acc_line = acc_rows
                .as_deref_mut()
                .map(|a| a[dy * row..(dy + 1) * row].chunks_mut(run));
            for (r, seg) in line.chunks(run).enumerate() {
                let lim = &limits[r][y % 2];
                // One pass over the run: the maximum and whether any sample is lit
                // (both loops vectorise).
                let over = match acc_line.as_mut().and_then(|a| a.next()) {
                    Some(acc) => {
                        acc.iter_mut()
                            .zip(seg)
                            .zip(lim)
                            .fold(0u16, |over, ((o, &v), &l)| {
                                *o = (*o).max(v);
                                over.max(v.saturating_sub(l))
                            })
                    }
                    None => seg
                        .iter()
                        .zip(lim)
                        .fold(0u16, |over, (&v, &l)| over.max(v.saturating_sub(l))),
                };
                if over > 0 {
                    out.extend(
                        seg.iter()
                            .zip(lim)
                            .enumerate()
                            .filter(|(_, (&v, &l))| v > l)
                            .map(|(i, _)| (r * run + i, y)),
                    );
                }
            }
        }
        out
    };
    match acc {
        Some(acc) => acc
            .par_chunks_mut(band_len)
            .zip(img.data.par_chunks(band_len))
            .enumerate()
            .flat_map_iter(|(band, (a, rows))| scan(band, rows, Some(a)))
            .collect(),
        None => img
            .data
            .par_chunks(band_len)
            .enumerate()
            .flat_map_iter(|(band, rows)| scan(band, rows, None))
            .collect(),
    }
}

/// One arc to draw: from sample `k` of pixel (`px`, `y`) by (`dx`, `dy`) in `n` steps, at
/// value `v`.
struct Segment {
    px: i64,
    y: i64,
    k: usize,
    dx: i64,
    dy: i64,
    n: i64,
    v: u16,
}

/// `num / den` rounded to the nearest multiple of `step` (halves away from zero, as
/// `f64::round`), in integers; `den` and `step` positive.
fn nearest_multiple(num: i64, den: i64, step: i64) -> i64 {
    let d = den * step;
    let q = if num >= 0 {
        (2 * num + d) / (2 * d)
    } else {
        -((-2 * num + d) / (2 * d))
    };
    q * step
}

/// Draws into `acc` the arcs stars crossed between frame `a` and the next frame `b` (see
/// the module docs); all three must have the same shape. Returns the samples written.
pub fn fill(
    acc: &mut Image16,
    (a, ia): (&Image16, &FrameInfo),
    (b, ib): (&Image16, &FrameInfo),
    motion: &Motion,
) -> usize {
    let (w, h) = (a.width as usize, a.height as usize);
    let ch = usize::from(a.channels);
    let row = w * ch;
    if !a.same_shape(b) || !a.same_shape(acc) || a.data.len() != row * h {
        return 0;
    }
    // Pixel step between samples of one colour.
    let step: i64 = if ch == 1 && a.cfa != Cfa::None { 2 } else { 1 };
    // Stars that moved less than one sample of their colour leave no gap to draw.
    if !fills(motion, a.width, a.height, a) {
        return 0;
    }
    let (la, lb) = (ia.lit(a), ib.lit(b));
    let lit_a = ia.lit_samples.get_or_init(|| lit_and_max(a, la, None));
    let round = |v: f32| ((f64::from(v) / step as f64).round() as i64) * step;
    // Each lit sample's segment, found in parallel (looking up its continuation in B is
    // most of the work), then drawn in order.
    let segments: Vec<Segment> = lit_a
        .par_iter()
        .filter_map(|&(x, y)| {
            let (px, k) = (x / ch, x % ch);
            let (dx, dy) = motion.at(px, y);
            let (dx, dy) = (round(dx), round(dy));
            let n = dx.abs().max(dy.abs()) / step;
            if n == 0 {
                return None;
            }
            let c = colour(a, x, y);
            // A star leaves its place between frames; what is lit in both at the same
            // place (a hot pixel, a star too close to the pole to move) starts nothing.
            if u32::from(b.data[y * row + x]) > lb.at(px, y, c) {
                return None;
            }
            let (tx, ty) = (px as i64 + dx, y as i64 + dy);
            // The continuation in B: the displaced sample or a same-colour neighbour (the
            // displacement is rounded) that is lit in B and was not in A (a star arrived
            // there, not a hot pixel that was there all along).
            let mut bv = 0u16;
            for (ox, oy) in [
                (0, 0),
                (step, 0),
                (-step, 0),
                (0, step),
                (0, -step),
                (step, step),
                (-step, step),
                (step, -step),
                (-step, -step),
            ] {
                let (bx, by) = (tx + ox, ty + oy);
                if (0..w as i64).contains(&bx) && (0..h as i64).contains(&by) {
                    let (bx, by) = (bx as usize, by as usize);
                    let i = by * row + bx * ch + k;
                    let arrived = u32::from(b.data[i]) > lb.at(bx, by, c)
                        && u32::from(a.data[i]) <= la.at(bx, by, c);
                    if arrived {
                        bv = bv.max(b.data[i]);
                    }
                }
            }
            (bv > 0).then(|| Segment {
                px: px as i64,
                y: y as i64,
                k,
                dx,
                dy,
                n,
                v: a.data[y * row + x].min(bv),
            })
        })
        .collect();
    let mut written = 0;
    for g in segments {
        for s in 1..g.n {
            // The point s/n of the way, on the nearest sample of the segment's colour.
            let sx = g.px + nearest_multiple(g.dx * s, g.n, step);
            let sy = g.y + nearest_multiple(g.dy * s, g.n, step);
            if (0..w as i64).contains(&sx) && (0..h as i64).contains(&sy) {
                let o = &mut acc.data[sy as usize * row + sx as usize * ch + g.k];
                if *o < g.v {
                    *o = g.v;
                    written += 1;
                }
            }
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`x`h` RGGB mosaic of sky 100 with short streaks of `len` pixels along x at
    /// `starts` (even positions), each 3 pixels tall, 1500 bright.
    fn frame(w: u32, h: u32, starts: &[(usize, usize)], len: usize) -> Image16 {
        let mut img = Image16::zeroed(w, h, 1, Cfa::Rggb, 12);
        let mut x = 0x9e37_79b9u32;
        for v in img.data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = 100 + (x % 7) as u16;
        }
        for &(sx, sy) in starts {
            for y in sy..sy + 3 {
                for px in sx..sx + len {
                    if px < w as usize && y < h as usize {
                        // The middle row brightest, as a star's profile; the noise stays.
                        img.data[y * w as usize + px] += if y == sy + 1 { 1500 } else { 1300 };
                    }
                }
            }
        }
        img
    }

    #[test]
    fn a_dashed_trail_is_joined_and_the_sky_and_a_hot_pixel_are_left_alone() {
        let (w, h) = (384u32, 384u32);
        // 30 stars scattered (irregularly: a grid would match its neighbours too); each
        // moves 16 pixels right per frame period and its streak is 6 pixels long, so 10
        // pixels of each trail are missing.
        let mut stars: Vec<(usize, usize)> = Vec::new();
        let mut r = 12345u64;
        while stars.len() < 30 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (x, y) = (
                8 + 2 * ((r >> 33) % 170) as usize,
                8 + 2 * ((r >> 13) % 180) as usize,
            );
            if x + 24 < 384
                && stars
                    .iter()
                    .all(|&(sx, sy)| sx.abs_diff(x) > 40 || sy.abs_diff(y) > 8)
            {
                stars.push((x, y));
            }
        }
        let mut a = frame(w, h, &stars, 6);
        let moved: Vec<(usize, usize)> = stars.iter().map(|&(x, y)| (x + 16, y)).collect();
        let mut b = frame(w, h, &moved, 6);
        // A hot pixel, in both frames.
        a.data[301 * 384 + 3] = 4000;
        b.data[301 * 384 + 3] = 4000;
        let (ia, ib) = (FrameInfo::of(&a, true), FrameInfo::of(&b, true));
        let (sa, sb) = (ia.stars.as_ref().unwrap(), ib.stars.as_ref().unwrap());
        // A flat streak may show two peaks.
        assert!(sa.len() >= 30, "{sa:?}");
        let m = Motion::between(sa, sb, w, h).expect("motion found");
        let (dx, dy) = m.at(100, 100);
        assert!((dx - 16.0).abs() < 1.0 && dy.abs() < 1.0, "{dx},{dy}");
        let mut acc = a.clone();
        for (o, &v) in acc.data.iter_mut().zip(&b.data) {
            *o = (*o).max(v);
        }
        let plain = acc.clone();
        assert!(fill(&mut acc, (&a, &ia), (&b, &ib), &m) > 0);
        for &(sx, sy) in &stars {
            for x in sx..sx + 22 {
                for y in sy..sy + 3 {
                    assert!(acc.data[y * 384 + x] >= 1400, "gap at {x},{y}");
                }
            }
            // The gap was dark before.
            assert!(plain.data[(sy + 1) * 384 + sx + 10] < 200);
        }
        // Everything away from the trails is untouched: sky and the hot pixel's
        // neighbours.
        for (i, (&p, &f)) in plain.data.iter().zip(&acc.data).enumerate() {
            let (x, y) = (i % 384, i / 384);
            let near_trail = stars
                .iter()
                .any(|&(sx, sy)| (sx..sx + 22).contains(&x) && (sy..sy + 3).contains(&y));
            if !near_trail {
                assert_eq!(p, f, "sample {x},{y} changed");
            }
        }
    }

    #[test]
    fn without_stars_there_is_no_motion() {
        let a = frame(64, 64, &[], 0);
        assert!(Motion::between(&Stars::of(&a), &Stars::of(&a), 64, 64).is_none());
    }

    #[test]
    fn steps_round_as_f64_round_does() {
        for num in -200i64..=200 {
            for den in 1..=9 {
                for step in [1i64, 2] {
                    let want = ((num as f64 / den as f64 / step as f64).round() as i64) * step;
                    assert_eq!(
                        nearest_multiple(num, den, step),
                        want,
                        "{num}/{den} step {step}"
                    );
                }
            }
        }
    }
}
