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
                for ((cell, t), b) in cells
                    .iter_mut()
                    .zip(top.chunks_exact(2 * ch))
                    .zip(bot.chunks_exact(2 * ch))
                {
                    *cell = t.iter().chain(b).map(|&v| u32::from(v)).sum();
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
        let mut diffs: Vec<f64> = self
            .values
            .chunks_exact(self.width)
            .step_by((self.height / 400).max(1))
            .flat_map(|row| {
                row.windows(2)
                    .map(|p| (f64::from(p[1]) - f64::from(p[0])).abs())
            })
            .collect();
        (1.4826 * median(&mut diffs) / std::f64::consts::SQRT_2).max(1.0)
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
                    // Cheap first: a peak is above its left and right neighbours.
                    if v <= cells[cy * cw + cx - 1] || v <= cells[cy * cw + cx + 1] {
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
                    let peak = (0..3).all(|dy| {
                        (0..3).all(|dx| {
                            (dy, dx) == (1, 1) || cells[(cy + dy - 1) * cw + cx + dx - 1] < v
                        })
                    });
                    if peak {
                        out.push((cx, cy));
                    }
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
