//! Frame rejection: leaving out cloudy or bright frames, judged against the night itself.
//!
//! Per-frame statistics ([`frame_stats`]) are taken on the 2x2-binned image (one value
//! per CFA cell, so colour does not matter): the median sky level, the noise (from
//! differences of neighbouring cells, so a sky gradient or a cloud's edge is not noise),
//! the fraction of cells far above the sky (lit cloud, headlights), and a star count
//! (cells that are a strict 3x3 local maximum `5·noise` above the ring of cells around
//! them, with light in at least two neighbouring cells: hot pixels are not stars).
//!
//! [`judge`] compares every frame with the clearest part of the night, which clouds
//! cannot poison: the sky level that only the darkest 5 % of frames reach, and the star
//! count only the best 5 % reach (clouds brighten the sky and hide stars, so a night
//! cloudy most of the time still has its breaks as the reference). A frame is rejected
//! when
//! - its sky is more than [`SKY_RATIO`] times that reference sky (and more than `K`
//!   noise sigmas: noise between identical frames must not reject anything);
//! - it has fewer than [`STAR_RATIO`] of the reference stars (clouds hide stars);
//! - its bright fraction exceeds the night's median by K·s and is above 5 %.
//!
//! Measured on simulated nights with known cloud cover (`tests/clouds.rs`): frames at
//! least half under cloud are rejected, clear frames kept. A night overcast from end to
//! end has no clear part to compare with, and nothing in it is rejected; twilight and
//! moonrise count as a bright sky.
//!
//! The statistics are [`crate::stats`]'s: the capture workers store them in each frame's
//! STATS record, so `stack --reject auto` reads them instead of decoding every frame an
//! extra time; frames without them (journals before format 1.2) or with a calibration
//! applied are measured, one extra decode each. Rejection is off by default: a max stack
//! is what the original program made, clouds included.

use crate::stars::median;
use nightcap_frame::pixels::Image16;

/// Robust distance (in sigmas) beyond which a frame is rejected.
pub const K: f64 = 5.0;

/// What one frame looks like, for rejection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameStats {
    /// Median 2x2-cell sum.
    pub sky: f64,
    /// Robust noise of the cell sums.
    pub noise: f64,
    /// Fraction of cells above `sky + 20·noise`.
    pub bright_fraction: f64,
    /// Local maxima above `sky + 5·noise`.
    pub stars: u32,
}

/// Why a frame was left out.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("sky {sky:.0} is far above the clearest part of the night's {night:.0} (clouds lit, twilight, lights)")]
    BrightSky { sky: f64, night: f64 },
    #[error("{stars} stars against {night:.0} in the clearest part of the night (clouds)")]
    FewStars { stars: u32, night: f64 },
    #[error("{:.0} % of the frame is bright against the night's {:.0} %", fraction * 100.0, night * 100.0)]
    Bright { fraction: f64, night: f64 },
}

/// Statistics of one frame (see the module docs): [`crate::stats::measure_image`]'s
/// figures, as rejection judges them.
pub fn frame_stats(img: &Image16) -> FrameStats {
    FrameStats::from(&crate::stats::measure_image(img))
}

impl From<&crate::stats::FrameStats> for FrameStats {
    fn from(s: &crate::stats::FrameStats) -> FrameStats {
        FrameStats {
            sky: f64::from(s.sky),
            noise: f64::from(s.noise),
            bright_fraction: f64::from(s.bright_fraction),
            stars: s.stars,
        }
    }
}

/// Median and robust sigma of one statistic across frames.
fn spread(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut v: Vec<f64> = values.collect();
    let m = median(&mut v);
    let mut d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    (m, 1.4826 * median(&mut d))
}

/// The `p`-th quantile (0..=1) of `values`.
fn quantile(values: impl Iterator<Item = f64>, p: f64) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The clearest part of the night: the sky level only the darkest 5 % of frames reach
/// and the star count only the best 5 % reach. Clouds brighten the sky and hide stars, so
/// a night cloudy most of the time still has its breaks as the reference.
const CLEAREST: f64 = 0.05;

/// A frame whose sky is this much brighter than the clearest part's is rejected (clouds
/// lit by the town, twilight, the moon rising).
pub const SKY_RATIO: f64 = 1.15;

/// A frame with fewer than this fraction of the clearest part's stars is rejected.
pub const STAR_RATIO: f64 = 0.6;

/// The verdict on every frame (`None` = keep), against the clearest part of `stats`.
pub fn judge(stats: &[FrameStats]) -> Vec<Option<Rejection>> {
    if stats.len() < 3 {
        return vec![None; stats.len()];
    }
    let sky_ref = quantile(stats.iter().map(|s| s.sky), CLEAREST);
    let star_ref = quantile(stats.iter().map(|s| f64::from(s.stars)), 1.0 - CLEAREST);
    let noise_ref = quantile(stats.iter().map(|s| s.noise), CLEAREST);
    let (bf_m, bf_s) = spread(stats.iter().map(|s| s.bright_fraction));
    stats
        .iter()
        .map(|s| {
            // Noise between identical frames must not reject anything: the limit is at
            // least K noise sigmas of a cell above the reference.
            let sky_limit = (sky_ref * SKY_RATIO).max(sky_ref + K * noise_ref);
            if s.sky > sky_limit {
                return Some(Rejection::BrightSky {
                    sky: s.sky,
                    night: sky_ref,
                });
            }
            let stars = f64::from(s.stars);
            // A handful of stars either way is noise, not cloud.
            if stars < STAR_RATIO * star_ref && star_ref - stars > 4.0 {
                return Some(Rejection::FewStars {
                    stars: s.stars,
                    night: star_ref,
                });
            }
            if s.bright_fraction > 0.05 && s.bright_fraction > bf_m + K * bf_s {
                return Some(Rejection::Bright {
                    fraction: s.bright_fraction,
                    night: bf_m,
                });
            }
            None
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_frame::Cfa;

    fn frame(seed: u64, sky: u16, stars: usize) -> Image16 {
        let (w, h) = (128usize, 96usize);
        let mut x = seed | 1;
        let mut data: Vec<u16> = (0..w * h)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                sky + (x % 24) as u16
            })
            .collect();
        // Stars spread over a few 2x2 cells: a bright centre cell, dimmer neighbours.
        for k in 0..stars {
            let (sx, sy) = (8 + (k % 5) * 24, 8 + (k / 5) * 20);
            for (dx, dy, v) in [
                (0, 0, 3000),
                (2, 0, 900),
                (0, 2, 900),
                (-2, 0, 900),
                (0, -2, 900),
            ] {
                for (px, py) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (x, y) = (
                        (sx as i32 + dx + px) as usize,
                        (sy as i32 + dy + py) as usize,
                    );
                    data[y * w + x] = v;
                }
            }
        }
        // A hot pixel is not a star.
        data[90 * w + 120] = 4000;
        Image16 {
            width: w as u32,
            height: h as u32,
            channels: 1,
            cfa: Cfa::Rggb,
            bit_depth: 12,
            data,
        }
    }

    #[test]
    fn stats_count_stars_and_measure_sky() {
        let s = frame(1, 200, 20);
        let st = frame_stats(&s);
        assert!((st.sky - 4.0 * 211.5).abs() < 20.0, "{st:?}");
        assert_eq!(st.stars, 20, "{st:?}");
        // Five cells of each star and the hot pixel's cell.
        assert!(
            (st.bright_fraction - 101.0 / (64.0 * 48.0)).abs() < 1e-7,
            "{st:?}"
        );
    }

    #[test]
    fn a_cloudy_bright_frame_is_rejected_and_the_others_kept() {
        let mut stats: Vec<FrameStats> = (0..12)
            .map(|i| frame_stats(&frame(i + 1, 200 + i as u16, 20)))
            .collect();
        stats.push(frame_stats(&frame(99, 900, 2)));
        stats.push(frame_stats(&frame(98, 205, 3)));
        let v = judge(&stats);
        assert!(v[..12].iter().all(Option::is_none), "{v:?}");
        assert!(matches!(v[12], Some(Rejection::BrightSky { .. })), "{v:?}");
        assert!(matches!(v[13], Some(Rejection::FewStars { .. })), "{v:?}");
    }
}
