//! Finding stars in a frame, colour-blind: the frame is binned to 2x2 cells (all samples
//! of a cell summed, so a CFA mosaic's colours do not matter), and a star is a cell that
//! is a strict 3x3 local maximum `5·noise` above the ring of cells two away, with light
//! in at least two of its four neighbours (a hot pixel lights one cell only).
//!
//! Used by frame rejection (how many stars a frame shows) and by gap filling (where each
//! star is, to measure how the sky moved between two frames).

use rayon::prelude::*;

use nightcap_frame::pixels::Image16;

/// A frame binned to 2x2 cells.
#[derive(Debug, Clone)]
pub struct Cells {
    pub width: usize,
    pub height: usize,
    pub values: Vec<u32>,
}

impl Cells {
    /// The cells of `img`; `None` for frames too small to find stars in (under 10x10)
    /// or whose data does not match their size.
    pub fn of(img: &Image16) -> Option<Cells> {
        let (w, h) = (img.width as usize, img.height as usize);
        let ch = usize::from(img.channels.max(1));
        let (cw, chh) = (w / 2, h / 2);
        if cw < 5 || chh < 5 || img.data.len() != w * h * ch {
            return None;
        }
        let mut values = vec![0u32; cw * chh];
        values
            .par_chunks_mut(cw)
            .enumerate()
            .for_each(|(cy, cells)| {
                let top = &img.data[2 * cy * w * ch..(2 * cy + 1) * w * ch];
                let bot = &img.data[(2 * cy + 1) * w * ch..(2 * cy + 2) * w * ch];
                // Whole cells only (an odd last column is left out).
                let (top, bot) = (&top[..2 * cw * ch], &bot[..2 * cw * ch]);
                let cells = cells.iter_mut().zip(top.chunks_exact(2 * ch));
                if ch == 1 {
                    // A mosaic or a grey frame, most of them: four samples, summed in a
                    // loop that vectorises.
                    for ((cell, t), b) in cells.zip(bot.chunks_exact(2)) {
                        *cell =
                            u32::from(t[0]) + u32::from(t[1]) + u32::from(b[0]) + u32::from(b[1]);
                    }
                } else {
                    for ((cell, t), b) in cells.zip(bot.chunks_exact(2 * ch)) {
                        *cell = t.iter().chain(b).map(|&v| u32::from(v)).sum();
                    }
                }
            });
        Some(Cells {
            width: cw,
            height: chh,
            values,
        })
    }

    /// The robust noise of one cell, from differences of neighbouring cells: a sky
    /// gradient or the edge of a cloud does not count as noise (it would hide every star).
    pub fn noise(&self) -> f64 {
        let rows = || {
            self.values
                .chunks_exact(self.width)
                .step_by((self.height / 400).max(1))
                .flat_map(|row| row.windows(2).map(|p| p[1].abs_diff(p[0])))
        };
        // The median difference (the element at len / 2 in order), counted in a
        // histogram of the small differences a night sky has; only when it lies beyond
        // them are the differences collected and selected.
        const BINS: usize = 4096;
        let mut hist = vec![0u32; BINS];
        let mut n = 0usize;
        for d in rows() {
            hist[(d as usize).min(BINS - 1)] += 1;
            n += 1;
        }
        let mid = n / 2;
        let mut seen = 0usize;
        let mut m = None;
        for (v, &c) in hist[..BINS - 1].iter().enumerate() {
            seen += c as usize;
            if seen > mid {
                m = Some(v as u32);
                break;
            }
        }
        let m = match m {
            Some(m) => m,
            None if n == 0 => 0,
            None => {
                let mut diffs: Vec<u32> = rows().collect();
                *diffs.select_nth_unstable(mid).1
            }
        };
        (1.4826 * f64::from(m) / std::f64::consts::SQRT_2).max(1.0)
    }

    /// The stars: cell positions of the peaks (see the module docs), top to bottom.
    pub fn stars(&self, noise: f64) -> Vec<(usize, usize)> {
        let (cw, chh) = (self.width, self.height);
        let cells = &self.values;
        let rows: Vec<Vec<(usize, usize)>> = (2..chh - 2)
            .into_par_iter()
            .map(|cy| {
                let mut out = Vec::new();
                for cx in 2..cw - 2 {
                    let v = cells[cy * cw + cx];
                    // Cheap first: a peak is above its left and right neighbours, then
                    // above all eight (most of the noise is gone by then).
                    if v <= cells[cy * cw + cx - 1] || v <= cells[cy * cw + cx + 1] {
                        continue;
                    }
                    let peak = (0..3).all(|dy| {
                        (0..3).all(|dx| {
                            (dy, dx) == (1, 1) || cells[(cy + dy - 1) * cw + cx + dx - 1] < v
                        })
                    });
                    if !peak {
                        continue;
                    }
                    // The local sky: the mean of the ring of cells two away.
                    let ring: u32 = [
                        (0, 0),
                        (0, 2),
                        (0, 4),
                        (2, 0),
                        (2, 4),
                        (4, 0),
                        (4, 2),
                        (4, 4),
                    ]
                    .iter()
                    .map(|&(dy, dx)| cells[(cy + dy - 2) * cw + cx + dx - 2])
                    .sum();
                    let local = f64::from(ring) / 8.0;
                    if f64::from(v) <= local + 5.0 * noise {
                        continue;
                    }
                    let lit = [(0, 1), (2, 1), (1, 0), (1, 2)]
                        .iter()
                        .filter(|&&(dy, dx)| {
                            f64::from(cells[(cy + dy - 1) * cw + cx + dx - 1]) > local + 2.0 * noise
                        })
                        .count();
                    if lit < 2 {
                        continue;
                    }
                    out.push((cx, cy));
                }
                out
            })
            .collect();
        rows.concat()
    }
}

/// Median of `v` (reordered in place); 0 for none.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The noise as it was first written: every difference as an f64, the median by
    /// selection.
    fn noise_by_selection(c: &Cells) -> f64 {
        let mut diffs: Vec<f64> = c
            .values
            .chunks_exact(c.width)
            .step_by((c.height / 400).max(1))
            .flat_map(|row| {
                row.windows(2)
                    .map(|p| (f64::from(p[1]) - f64::from(p[0])).abs())
            })
            .collect();
        (1.4826 * median(&mut diffs) / std::f64::consts::SQRT_2).max(1.0)
    }

    fn cells(width: usize, height: usize, spread: u32) -> Cells {
        let mut x = 0x2545_f491u32;
        let values = (0..width * height)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                1000 + x % spread
            })
            .collect();
        Cells {
            width,
            height,
            values,
        }
    }

    #[test]
    fn the_noise_is_the_median_difference_whether_counted_or_selected() {
        // Night-sky differences (counted in the histogram), differences past it (the
        // selection), tall frames (every nth row), and frames too small to have any.
        for (w, h, spread) in [
            (300, 200, 40),
            (300, 200, 30_000),
            (64, 1_000, 9),
            (1, 5, 10),
            (2, 1, 1),
        ] {
            let c = cells(w, h, spread);
            assert_eq!(c.noise(), noise_by_selection(&c), "{w}x{h} spread {spread}");
        }
    }

    #[test]
    fn a_star_is_found_and_a_hot_pixel_is_not() {
        let (w, h) = (40u32, 40u32);
        let mut img = Image16::zeroed(w, h, 1, nightcap_frame::Cfa::Rggb, 12);
        let mut x = 7u32;
        for v in img.data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *v = 200 + ((x >> 16) % 9) as u16;
        }
        // A star: a blob of 3x3 pixels from pixel (20, 20), brightest in cell (10, 10)
        // and lighting its neighbours; a hot pixel at (30, 30), lighting one cell.
        for dy in 0..3 {
            for dx in 0..3 {
                img.data[(20 + dy) * 40 + 20 + dx] += if (dx, dy) == (0, 0) { 3000 } else { 900 };
            }
        }
        img.data[30 * 40 + 30] += 4000;
        let c = Cells::of(&img).expect("cells");
        assert_eq!(c.stars(c.noise()), vec![(10, 10)]);
    }
}
