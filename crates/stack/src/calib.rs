//! Calibration applied to every frame before it is reduced: dark subtraction and hot
//! pixel repair.
//!
//! - **Master dark** ([`crate::calibrate::master_dark`]): the mean of a dark journal's frames (lens capped,
//!   same exposure and gain), subtracted with saturation at 0. A dark of another geometry
//!   is refused up front ([`CalibError::DarkShape`]) rather than silently ignored.
//! - **Hot pixels** ([`crate::calibrate::find_hot_pixels`]): a pixel is hot when, in at least 3/4 of a
//!   sample of frames, it exceeds the median of its same-colour neighbours (distance 2 in
//!   a CFA mosaic, 1 otherwise) by more than [`HOT_SIGMA`] times the frame's noise (a
//!   robust estimate: 1.4826 × MAD of same-colour horizontal differences / √2) and by at
//!   least 1/64 of the range. Stars move between frames, so they are not hot in most
//!   frames; a stuck pixel is. Hot pixels are replaced by that neighbour median.

use std::sync::Arc;

use nightcap_frame::pixels::{max_for_depth, Image16};
use nightcap_journal::Journal;

/// Hot pixels stand this many noise sigmas above their neighbours.
pub const HOT_SIGMA: f64 = 8.0;
/// Frames sampled to find hot pixels.
pub const HOT_SAMPLE_FRAMES: usize = 16;

/// What is done to each frame before reduction.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// Master dark, subtracted (saturating at 0).
    pub dark: Option<Arc<Image16>>,
    /// Indices (into the sample array) of hot pixels, sorted.
    pub hot_pixels: Arc<Vec<u32>>,
}

/// Why calibration data could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CalibError {
    #[error("the dark journal has no readable frames; capture darks with the lens capped")]
    NoDarks,
    #[error("the master dark is {dark_w}x{dark_h} but the frames are {w}x{h}; capture darks in the same mode")]
    DarkShape {
        dark_w: u32,
        dark_h: u32,
        w: u32,
        h: u32,
    },
}

impl Calibration {
    /// Whether anything is applied.
    pub fn is_empty(&self) -> bool {
        self.dark.is_none() && self.hot_pixels.is_empty()
    }

    /// Checks the dark fits frames of `width` x `height`.
    pub fn check(&self, width: u32, height: u32) -> Result<(), CalibError> {
        match &self.dark {
            Some(d) if (d.width, d.height) != (width, height) => Err(CalibError::DarkShape {
                dark_w: d.width,
                dark_h: d.height,
                w: width,
                h: height,
            }),
            _ => Ok(()),
        }
    }

    /// Applies the dark and hot-pixel repair to `img` in place.
    pub fn apply(&self, img: &mut Image16) {
        if let Some(d) = &self.dark {
            if d.data.len() == img.data.len() {
                img.data
                    .iter_mut()
                    .zip(&d.data)
                    .for_each(|(v, &k)| *v = v.saturating_sub(k));
            }
        }
        if img.channels == 1 {
            let step = if img.cfa == nightcap_frame::Cfa::None {
                1
            } else {
                2
            };
            for &i in self.hot_pixels.iter() {
                let i = i as usize;
                if i < img.data.len() {
                    img.data[i] = neighbour_median(img, i, step);
                }
            }
        }
    }
}

/// The median of the same-colour neighbours (8-neighbourhood at distance `step`) of
/// sample `i` of a one-channel image.
fn neighbour_median(img: &Image16, i: usize, step: usize) -> u16 {
    let (w, h) = (img.width as usize, img.height as usize);
    let (x, y) = (i % w, i / w);
    let mut n = [0u16; 8];
    let mut k = 0;
    for dy in [-1isize, 0, 1] {
        for dx in [-1isize, 0, 1] {
            if dx == 0 && dy == 0 {
                continue;
            }
            let nx = x as isize + dx * step as isize;
            let ny = y as isize + dy * step as isize;
            if nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h {
                n[k] = img.data[ny as usize * w + nx as usize];
                k += 1;
            }
        }
    }
    if k == 0 {
        return img.data[i];
    }
    let s = &mut n[..k];
    s.sort_unstable();
    if k % 2 == 1 {
        s[k / 2]
    } else {
        ((u32::from(s[k / 2 - 1]) + u32::from(s[k / 2])) / 2) as u16
    }
}

/// Robust noise of a one-channel image: 1.4826 × MAD of same-colour horizontal
/// differences, divided by √2, on a subsample of rows.
pub fn noise_sigma(img: &Image16, step: usize) -> f64 {
    let w = img.width as usize;
    let rows = img.height as usize;
    let row_step = (rows / 64).max(1);
    let mut d: Vec<i32> = Vec::new();
    for y in (0..rows).step_by(row_step) {
        let row = &img.data[y * w..(y + 1) * w];
        for x in (0..w.saturating_sub(step)).step_by(3) {
            d.push(i32::from(row[x + step]) - i32::from(row[x]));
        }
    }
    if d.is_empty() {
        return 1.0;
    }
    let mid = d.len() / 2;
    let med = *d.select_nth_unstable(mid).1;
    let mut dev: Vec<i32> = d.iter().map(|v| (v - med).abs()).collect();
    let mad = *dev.select_nth_unstable(mid).1;
    (1.4826 * f64::from(mad) / std::f64::consts::SQRT_2).max(0.5)
}

/// Pixels of `img` (one channel) above their neighbours by the hot threshold.
fn hot_in(img: &Image16) -> Vec<u32> {
    let step = if img.cfa == nightcap_frame::Cfa::None {
        1
    } else {
        2
    };
    let sigma = noise_sigma(img, step);
    let floor = f64::from(max_for_depth(img.bit_depth)) / 64.0;
    let t = (HOT_SIGMA * sigma).max(floor);
    (0..img.data.len())
        .filter(|&i| {
            let v = f64::from(img.data[i]);
            // Cheap pre-check against one neighbour before the median.
            v > t && v - f64::from(neighbour_median(img, i, step)) > t
        })
        .map(|i| i as u32)
        .collect()
}

/// Finds hot pixels in a one-channel set of frames: hot in at least 3/4 of the sampled
/// images. Returns sorted sample indices.
pub fn hot_pixels_of(images: &[Image16]) -> Vec<u32> {
    let mut counts: std::collections::HashMap<u32, usize> = Default::default();
    let mut n = 0usize;
    for img in images.iter().filter(|i| i.channels == 1) {
        n += 1;
        for i in hot_in(img) {
            *counts.entry(i).or_default() += 1;
        }
    }
    let need = (n * 3).div_ceil(4).max(1);
    let mut hot: Vec<u32> = counts
        .into_iter()
        .filter(|&(_, c)| c >= need)
        .map(|(i, _)| i)
        .collect();
    hot.sort_unstable();
    hot
}

/// The master dark of a dark journal: the mean of all its readable frames.
/// What a master dark must match: the frames' stream, exposure and gain, each with the
/// words that name it in a message ("the frames' 5 s", "-e 5000 ms").
#[derive(Debug, Clone)]
pub struct DarkTarget {
    pub format: nightcap_frame::PixelFormat,
    pub format_label: String,
    pub exposure_us: Option<u32>,
    pub exposure_label: String,
    pub gain_milli: Option<u32>,
    pub gain_label: String,
}

impl DarkTarget {
    /// The target the frames of `light` set (median exposure, first frame's gain).
    pub fn of_journal(light: &Journal) -> Option<DarkTarget> {
        let format = light.segments.first()?.header.format;
        let exposure_us = median_exposure_us(light);
        let gain_milli = first_gain_milli(light);
        Some(DarkTarget {
            format,
            format_label: format!("the frames' {format}"),
            exposure_us,
            exposure_label: exposure_us.map_or(String::new(), |e| {
                format!("the frames' {} s", f64::from(e) / 1e6)
            }),
            gain_milli,
            gain_label: gain_milli.map_or(String::new(), |g| {
                format!("the frames' {}", f64::from(g) / 1000.0)
            }),
        })
    }
}

fn median_exposure_us(j: &Journal) -> Option<u32> {
    let mut v: Vec<u32> = j.frames().iter().map(|r| r.entry.exposure_us).collect();
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied()
}

fn first_gain_milli(j: &Journal) -> Option<u32> {
    let r = j.frames().into_iter().next()?;
    let mut buf = Vec::new();
    j.segments[r.segment]
        .read_record(&r.entry, &mut buf)
        .ok()
        .map(|h| h.gain_milli)
}

/// How the frames of a dark journal differ from `target`: format (fourcc, packing, bit
/// depth, CFA, size), exposure (more than 10 % apart, medians) and gain (more than 5 %
/// apart, first frames). Each difference in words; empty when the dark fits. A dark of
/// another exposure or gain holds another amount of thermal signal and bias, so
/// subtracting it makes the stack worse, not better.
pub fn dark_mismatch(dark: &Journal, target: &DarkTarget) -> Vec<String> {
    let mut out = Vec::new();
    let Some(d) = dark.segments.first() else {
        return out;
    };
    let (df, lf) = (d.header.format, target.format);
    if (df.fourcc, df.packing, df.bit_depth, df.cfa)
        != (lf.fourcc, lf.packing, lf.bit_depth, lf.cfa)
    {
        out.push(format!("format {df} against {}", target.format_label));
    } else if (df.width, df.height) != (lf.width, lf.height) {
        out.push(format!(
            "size {}x{} against {}",
            df.width, df.height, target.format_label
        ));
    }
    if let (Some(de), Some(le)) = (median_exposure_us(dark), target.exposure_us) {
        if (f64::from(de) - f64::from(le)).abs() > 0.1 * f64::from(le.max(1)) {
            out.push(format!(
                "exposure {} s against {}",
                f64::from(de) / 1e6,
                target.exposure_label
            ));
        }
    }
    if let (Some(dg), Some(lg)) = (first_gain_milli(dark), target.gain_milli) {
        if dg > 0 && lg > 0 && (f64::from(dg) - f64::from(lg)).abs() > 0.05 * f64::from(lg) {
            out.push(format!(
                "gain {} against {}",
                f64::from(dg) / 1000.0,
                target.gain_label
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_frame::Cfa;

    fn sky(seed: u64) -> Image16 {
        let mut x = seed | 1;
        let data = (0..64 * 48)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (256 + x % 16) as u16
            })
            .collect();
        Image16 {
            width: 64,
            height: 48,
            channels: 1,
            cfa: Cfa::Rggb,
            bit_depth: 12,
            data,
        }
    }

    #[test]
    fn stuck_pixels_are_found_and_repaired_but_moving_stars_are_not() {
        let mut frames: Vec<Image16> = (0..8).map(|s| sky(s + 11)).collect();
        let hot = 20 * 64 + 30;
        for (k, f) in frames.iter_mut().enumerate() {
            f.data[hot] = 3000;
            f.data[10 * 64 + 5 + 2 * k] = 4000; // a star drifting across
        }
        let found = hot_pixels_of(&frames);
        assert_eq!(found, vec![hot as u32]);
        let cal = Calibration {
            dark: None,
            hot_pixels: Arc::new(found),
        };
        let mut f = frames[0].clone();
        cal.apply(&mut f);
        assert!((256..272).contains(&f.data[hot]), "{}", f.data[hot]);
        assert_eq!(f.data[10 * 64 + 5], 4000, "the star stays");
    }

    #[test]
    fn dark_subtraction_saturates_at_zero() {
        let mut f = sky(3);
        let mut dark = f.clone();
        dark.data.iter_mut().for_each(|v| *v = 260);
        let before = f.data.clone();
        let cal = Calibration {
            dark: Some(Arc::new(dark)),
            hot_pixels: Arc::default(),
        };
        cal.apply(&mut f);
        for (a, b) in f.data.iter().zip(before) {
            assert_eq!(*a, b.saturating_sub(260));
        }
        assert!(cal.check(64, 48).is_ok());
        assert!(matches!(
            cal.check(32, 48),
            Err(CalibError::DarkShape { .. })
        ));
    }
}
