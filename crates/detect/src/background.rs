//! What is new in a frame: its luminance over a background made from the frames around it.
//!
//! The background of frame `i` is, per pixel, the (upper) median of the frames `i-k..i+k`
//! other than `i` (so a streak in `i` is not in it, nor a streak in one neighbour), then the
//! largest value of that over the 3×3 pixels around (so a star that moved by a pixel
//! between frames cancels). What is left above it is what crossed during the exposure,
//! plus noise, whose level is measured robustly on every 7th pixel, with a floor so that
//! a flat or re-encoded sky cannot make every wobble a detection.

use rayon::prelude::*;

/// `centre` minus the background from `others` (same size), per pixel.
pub fn residual(centre: &[u16], others: &[&[u16]], width: usize, height: usize) -> Vec<f32> {
    let n = centre.len();
    assert!(others.iter().all(|o| o.len() == n) && n == width * height);
    if others.is_empty() || width == 0 {
        return vec![0.0; n];
    }
    // The median of the others per pixel.
    let mut median = vec![0u16; n];
    median
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(y, out)| {
            let mut v = [0u16; 16];
            let k = others.len().min(16);
            for (x, m) in out.iter_mut().enumerate() {
                let at = y * width + x;
                for (slot, o) in v.iter_mut().zip(others.iter()).take(k) {
                    *slot = o[at];
                }
                let s = &mut v[..k];
                s.sort_unstable();
                // The upper median: of an even count the higher middle value, so a star
                // between two positions raises the background rather than halves it.
                *m = s[k / 2];
            }
        });
    // The largest over 3x3: along rows, then along columns.
    let mut across = vec![0u16; n];
    across
        .par_chunks_mut(width)
        .zip(median.par_chunks(width))
        .for_each(|(out, line)| {
            for (x, o) in out.iter_mut().enumerate() {
                let lo = x.saturating_sub(1);
                let hi = (x + 1).min(width - 1);
                *o = line[lo..=hi].iter().copied().max().unwrap_or(0);
            }
        });
    let mut out = vec![0f32; n];
    out.par_chunks_mut(width).enumerate().for_each(|(y, line)| {
        let rows = [y.saturating_sub(1), y, (y + 1).min(height - 1)];
        for (x, r) in line.iter_mut().enumerate() {
            let bg = rows
                .iter()
                .map(|&yy| across[yy * width + x])
                .max()
                .unwrap_or(0);
            *r = f32::from(centre[y * width + x]) - f32::from(bg);
        }
    });
    out
}

/// The noise of a residual (sigma), from the median absolute deviation of every 7th
/// pixel, and never below `floor`.
pub fn noise(residual: &[f32], floor: f32) -> f32 {
    let mut sample: Vec<f32> = residual.iter().step_by(7).copied().collect();
    if sample.is_empty() {
        return floor;
    }
    let mid = sample.len() / 2;
    let centre = *sample.select_nth_unstable_by(mid, f32::total_cmp).1;
    for v in &mut sample {
        *v = (*v - centre).abs();
    }
    let mad = *sample.select_nth_unstable_by(mid, f32::total_cmp).1;
    (1.4826 * mad).max(floor)
}

/// The noise floor for samples up to `max_value`: one part in 1024 of the range, at
/// least 1 (an 8-bit JPEG sky re-encoded flat has almost no noise to measure).
pub fn noise_floor(max_value: u16) -> f32 {
    (f32::from(max_value) / 1024.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_crossed_is_left_and_what_stays_is_not() {
        let (w, h) = (8, 6);
        let sky = vec![100u16; w * h];
        let mut star = sky.clone();
        star[2 * w + 3] = 900; // a star in every frame, moving by a pixel
        let mut moved = sky.clone();
        moved[2 * w + 4] = 900;
        let mut centre = star.clone();
        centre[4 * w + 6] = 400; // something new in the centre frame
        let r = residual(&centre, &[&star, &moved, &moved, &star], w, h);
        assert_eq!(r[4 * w + 6], 300.0);
        assert!(r[2 * w + 3] <= 0.0, "the star cancels: {}", r[2 * w + 3]);
        assert!(r.iter().filter(|&&v| v > 0.0).count() == 1);
        // A streak in one neighbour does not enter the background (the median).
        let mut streaked = sky.clone();
        streaked[w + 1] = 5000;
        let r = residual(&sky, &[&sky, &streaked, &sky], w, h);
        assert!(r.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn noise_is_robust_and_floored() {
        let mut r: Vec<f32> = (0..7000).map(|i| ((i * 37 % 21) as f32) - 10.0).collect();
        r[0] = 1e6; // outliers do not move it
        let n = noise(&r, 1.0);
        assert!((5.0..12.0).contains(&n), "{n}");
        assert_eq!(noise(&vec![0.0; 100], 2.5), 2.5);
        assert_eq!(noise_floor(255), 1.0);
        assert_eq!(noise_floor(4095), 3.9990234);
    }
}
