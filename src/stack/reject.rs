//! Frame rejection: leaving out cloudy or bright frames, judged against the night itself.
//!
//! Per-frame statistics ([`frame_stats`]) are taken on the 2x2-binned image (one value
//! per CFA cell, so colour does not matter): the median sky level, the noise (1.4826 ×
//! MAD), the fraction of cells far above the sky (lit cloud, headlights), and a star
//! count estimate (cells that are a strict 3x3 local maximum above `sky + 5·noise`).
//!
//! [`judge`] compares every frame with the whole selection using robust statistics (the
//! median `m` and `s = 1.4826 × MAD` of each statistic across frames), never a fixed
//! threshold, so a moonlit night is not rejected wholesale. A frame is rejected when
//! - its sky is more than [`K`]·s above the night's median sky (and at least 5 % above it:
//!   noise between identical frames must not reject anything);
//! - it has fewer than half the night's median star count and is more than K·s below it
//!   (clouds hide stars);
//! - its bright fraction exceeds the night's by K·s and is above 5 %.
//!
//! Computing statistics needs every frame decoded once before stacking; `stack --reject
//! auto` therefore costs one extra decode pass (it is off by default: a max stack is
//! what the original program made, clouds included).

use crate::pixels::Image16;

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
    #[error("sky {sky:.0} is far above the night's {night:.0} (clouds lit, twilight, lights)")]
    BrightSky { sky: f64, night: f64 },
    #[error("{stars} stars against the night's {night:.0} (clouds)")]
    FewStars { stars: u32, night: f64 },
    #[error("{:.0} % of the frame is bright against the night's {:.0} %", fraction * 100.0, night * 100.0)]
    Bright { fraction: f64, night: f64 },
}

/// Median of `v` (sorted in place); 0 for none.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Statistics of one frame (see the module docs).
pub fn frame_stats(img: &Image16) -> FrameStats {
    let (w, h) = (img.width as usize, img.height as usize);
    let ch = usize::from(img.channels.max(1));
    // One value per 2x2 block (all channels summed): colour-blind cells.
    let (cw, chh) = (w / 2, h / 2);
    if cw < 3 || chh < 3 || img.data.len() != w * h * ch {
        return FrameStats {
            sky: 0.0,
            noise: 0.0,
            bright_fraction: 0.0,
            stars: 0,
        };
    }
    let mut cells = vec![0u32; cw * chh];
    for cy in 0..chh {
        let top = &img.data[2 * cy * w * ch..(2 * cy + 1) * w * ch];
        let bot = &img.data[(2 * cy + 1) * w * ch..(2 * cy + 2) * w * ch];
        for (cx, cell) in cells[cy * cw..(cy + 1) * cw].iter_mut().enumerate() {
            let s = |row: &[u16]| -> u32 {
                row[2 * cx * ch..(2 * cx + 2) * ch]
                    .iter()
                    .map(|&v| u32::from(v))
                    .sum()
            };
            *cell = s(top) + s(bot);
        }
    }
    let step = (cells.len() / 200_000).max(1);
    let mut sample: Vec<f64> = cells.iter().step_by(step).map(|&v| f64::from(v)).collect();
    let sky = median(&mut sample);
    let mut dev: Vec<f64> = sample.iter().map(|v| (v - sky).abs()).collect();
    let noise = (1.4826 * median(&mut dev)).max(1.0);
    let bright = sample.iter().filter(|&&v| v > sky + 20.0 * noise).count();
    let star_floor = sky + 5.0 * noise;
    let mut stars = 0u32;
    for cy in 1..chh - 1 {
        for cx in 1..cw - 1 {
            let v = cells[cy * cw + cx];
            if f64::from(v) <= star_floor {
                continue;
            }
            let mut peak = true;
            'n: for dy in 0..3 {
                for dx in 0..3 {
                    let n = cells[(cy + dy - 1) * cw + cx + dx - 1];
                    if (dy, dx) != (1, 1) && n >= v {
                        peak = false;
                        break 'n;
                    }
                }
            }
            stars += u32::from(peak);
        }
    }
    FrameStats {
        sky,
        noise,
        bright_fraction: bright as f64 / sample.len().max(1) as f64,
        stars,
    }
}

/// Median and robust sigma of one statistic across frames.
fn spread(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut v: Vec<f64> = values.collect();
    let m = median(&mut v);
    let mut d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    (m, 1.4826 * median(&mut d))
}

/// The verdict on every frame (`None` = keep), relative to all of `stats`.
pub fn judge(stats: &[FrameStats]) -> Vec<Option<Rejection>> {
    if stats.len() < 3 {
        return vec![None; stats.len()];
    }
    let (sky_m, sky_s) = spread(stats.iter().map(|s| s.sky));
    let (star_m, star_s) = spread(stats.iter().map(|s| f64::from(s.stars)));
    let (bf_m, bf_s) = spread(stats.iter().map(|s| s.bright_fraction));
    stats
        .iter()
        .map(|s| {
            let sky_limit = sky_m + (K * sky_s).max(0.05 * sky_m).max(1.0);
            if s.sky > sky_limit {
                return Some(Rejection::BrightSky {
                    sky: s.sky,
                    night: sky_m,
                });
            }
            let stars = f64::from(s.stars);
            if stars < 0.5 * star_m && stars < star_m - K * star_s {
                return Some(Rejection::FewStars {
                    stars: s.stars,
                    night: star_m,
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
    use crate::frame::Cfa;

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
        for k in 0..stars {
            let (sx, sy) = (8 + (k % 5) * 24, 8 + (k / 5) * 20);
            data[sy * w + sx] = 3000;
        }
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
        assert_eq!(st.bright_fraction, 20.0 / (64.0 * 48.0));
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
