//! Rendering: from stacked sensor values to display values.
//!
//! [`render`] demosaics a CFA mosaic ([`super::debayer`]), then maps every sample through
//! one lookup table per channel ([`ToneMap`]), built from:
//! 1. **black level**: given, or estimated as the 0.1th percentile of all samples (the
//!    sensor pedestal plus the darkest sky), capped at half the range so a saturated image
//!    stays white;
//! 2. **white balance**: grey world on the *background* — the per-channel median above
//!    black, which stars (a tiny fraction of pixels) do not move — or fixed gains. Gains are
//!    scaled so the smallest is 1, so a sample saturated in every channel stays white
//!    instead of turning pink, and capped at 4. Grey world is exact when the black level
//!    is the sensor's pedestal (pass it when known, e.g. from the camera metadata); an
//!    estimated black sits at the weakest channel's sky, so that channel gets the cap;
//! 3. **stretch**: linear, gamma `x^(1/g)` or `asinh(b·x)/asinh(b)`;
//! 4. **DRC** (the original program's `-drc off|low|medium|high`): a blend of the stretched
//!    value `y` with the log curve `ln(1 + k·y) / ln(1 + k)`, which lifts shadows and
//!    compresses highlights: low = 35 % of `k = 10`, medium = 60 % of `k = 30`, high = 85 %
//!    of `k = 100`. Every curve maps 0 to 0 and 1 to 1 and is increasing.
//!
//! The result is a 16-bit display-referred image (`bit_depth = 16`). A [`ToneMap`] can be
//! estimated once and applied to many frames, so a timelapse does not flicker.

use rayon::prelude::*;

use super::debayer::{debayer, debayer_row, debayer_row_mapped, is_mosaic};
use crate::output::image::Image8;
use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;

/// How linear values in 0..=1 become display values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stretch {
    Linear,
    /// `x^(1/g)`; `g <= 0` or not finite behaves as linear.
    Gamma(f32),
    /// `asinh(b·x) / asinh(b)`; strong shadow stretch that keeps star colour. `b <= 0` or not
    /// finite behaves as linear.
    Asinh(f32),
}

impl Stretch {
    /// The stretched value of `x` (clamped to 0..=1).
    pub fn apply(self, x: f32) -> f32 {
        let x = x.clamp(0.0, 1.0);
        match self {
            Stretch::Gamma(g) if g > 0.0 && g.is_finite() => x.powf(1.0 / g),
            Stretch::Asinh(b) if b > 0.0 && b.is_finite() => (b * x).asinh() / b.asinh(),
            _ => x,
        }
    }
}

/// Dynamic range compression strength (the original program's `-drc` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Drc {
    #[default]
    Off,
    Low,
    Medium,
    High,
}

impl Drc {
    /// `off`, `low`, `med`/`medium`, `high` (any case).
    pub fn from_name(name: &str) -> Option<Drc> {
        Some(match name.to_ascii_lowercase().as_str() {
            "off" => Drc::Off,
            "low" => Drc::Low,
            "med" | "medium" => Drc::Medium,
            "high" => Drc::High,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Drc::Off => "off",
            Drc::Low => "low",
            Drc::Medium => "medium",
            Drc::High => "high",
        }
    }

    /// (weight of the log curve, its steepness k).
    fn params(self) -> (f32, f32) {
        match self {
            Drc::Off => (0.0, 1.0),
            Drc::Low => (0.35, 10.0),
            Drc::Medium => (0.6, 30.0),
            Drc::High => (0.85, 100.0),
        }
    }

    /// The compressed value of `y` in 0..=1.
    pub fn apply(self, y: f32) -> f32 {
        let (m, k) = self.params();
        if m == 0.0 {
            return y;
        }
        let log = (k * y).ln_1p() / k.ln_1p();
        (1.0 - m) * y + m * log
    }
}

/// How channels are balanced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WhiteBalance {
    None,
    /// Equalise the per-channel background medians.
    GreyWorld,
    /// Fixed relative gains for R, G, B (scaled so the smallest is 1).
    Gains([f32; 3]),
}

/// Everything that decides how a stack looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderSettings {
    /// Sample value shown as black; `None` estimates it from the image.
    pub black_level: Option<u16>,
    pub white_balance: WhiteBalance,
    pub stretch: Stretch,
    pub drc: Drc,
}

impl Default for RenderSettings {
    /// Night sky: automatic black, grey-world background, gamma 2.2, no DRC.
    fn default() -> RenderSettings {
        RenderSettings {
            black_level: None,
            white_balance: WhiteBalance::GreyWorld,
            stretch: Stretch::Gamma(2.2),
            drc: Drc::Off,
        }
    }
}

/// The auto black level percentile (fraction of samples at or below it).
const BLACK_PERCENTILE: f64 = 0.001;
/// Statistics look at about this many pixels (a regular subsample) at most.
const STAT_PIXELS: usize = 1 << 20;
/// Grey-world gains are capped: a larger one means the background has almost no signal
/// in some channel (usually because the black level was estimated, not known) and
/// boosting it further would only show noise.
const MAX_GAIN: f32 = 4.0;

/// Per-channel lookup tables from sample values (of one bit depth) to display values.
#[derive(Debug, Clone)]
pub struct ToneMap {
    black: u16,
    gains: [f32; 3],
    /// One table per channel, 65536 entries each (values above `max` map as `max`).
    luts: Vec<Box<[u16; 65536]>>,
}

impl ToneMap {
    /// Estimates black level and white balance from `img` and builds the tables. A mosaic
    /// is measured as its debayered image, debayering only the rows the statistics look
    /// at.
    pub fn estimate(img: &Image16, settings: &RenderSettings) -> ToneMap {
        let max = img.max_value();
        let hists = if is_mosaic(img) {
            mosaic_histograms(img, max)
        } else {
            histograms(img, usize::from(img.channels.clamp(1, 3)), max)
        };
        ToneMap::from_histograms(&hists, max, settings)
    }

    /// The map for an image of maximum value `max` whose per-channel histograms (of a
    /// subsample, see [`histograms`]) are `hists`.
    fn from_histograms(hists: &[Vec<u32>], max: u16, settings: &RenderSettings) -> ToneMap {
        let channels = hists.len();
        let black = settings
            .black_level
            .unwrap_or_else(|| auto_black(hists, max))
            .min(max.saturating_sub(1));
        let gains = if channels == 3 {
            match settings.white_balance {
                WhiteBalance::None => [1.0; 3],
                WhiteBalance::GreyWorld => grey_world(hists, black),
                WhiteBalance::Gains(g) => normalise(g),
            }
        } else {
            [1.0; 3]
        };
        let luts = (0..channels)
            .map(|c| build_lut(black, max, gains[c], settings))
            .collect();
        ToneMap { black, gains, luts }
    }

    /// The black level used.
    pub fn black(&self) -> u16 {
        self.black
    }

    /// The white-balance gains used (R, G, B; smallest 1).
    pub fn gains(&self) -> [f32; 3] {
        self.gains
    }

    /// The display value of sample `v` of channel `c`.
    pub fn map(&self, c: usize, v: u16) -> u16 {
        self.luts[c.min(self.luts.len() - 1)][usize::from(v)]
    }

    /// [`apply`](Self::apply) in place (a mosaic becomes its mapped debayered image).
    pub fn apply_in_place(&self, img: &mut Image16) {
        if img.channels == 1 && img.cfa != Cfa::None {
            *img = self.apply(img);
            return;
        }
        let need = img.width as usize * img.height as usize * usize::from(img.channels);
        if img.data.len() != need || need == 0 {
            *img = Image16::zeroed(img.width, img.height, img.channels, Cfa::None, 16);
            return;
        }
        let ch = usize::from(img.channels);
        let lut = |c: usize| &*self.luts[c.min(self.luts.len() - 1)];
        let (r, g, b) = (lut(0), lut(1), lut(2));
        // Tables have 65536 entries, so indexing by a u16 needs no bounds check.
        img.data
            .par_chunks_mut(img.width as usize * ch)
            .for_each(|line| {
                if ch == 3 {
                    for px in line.chunks_exact_mut(3) {
                        px[0] = r[usize::from(px[0])];
                        px[1] = g[usize::from(px[1])];
                        px[2] = b[usize::from(px[2])];
                    }
                } else {
                    line.iter_mut().for_each(|v| *v = r[usize::from(*v)]);
                }
            });
        img.cfa = Cfa::None;
        img.bit_depth = 16;
    }

    /// Maps every sample of `img` (a mosaic is debayered first). Meant for images like the
    /// one the map was estimated from (same bit depth and channels; a map from a mono image
    /// applies its one table to every channel). Samples above the bit depth's maximum map
    /// as the maximum.
    pub fn apply(&self, img: &Image16) -> Image16 {
        let mut out = if img.channels == 1 && img.cfa != Cfa::None {
            debayer(img)
        } else {
            img.clone()
        };
        if out.channels == 1 && out.cfa != Cfa::None {
            // An inconsistent mosaic, which `debayer` returns as it is.
            return Image16::zeroed(out.width, out.height, 1, Cfa::None, 16);
        }
        self.apply_in_place(&mut out);
        out
    }
}

/// Renders a stack for display: debayers a mosaic, then estimates and applies a
/// [`ToneMap`]. Returns 16-bit display values (mono stays mono).
pub fn render(img: &Image16, settings: &RenderSettings) -> Image16 {
    if img.channels == 1 && img.cfa != Cfa::None {
        // The debayered copy is mapped in place: one full-size RGB image, not two.
        let mut rgb = debayer(img);
        let map = ToneMap::estimate(&rgb, settings);
        map.apply_in_place(&mut rgb);
        return rgb;
    }
    ToneMap::estimate(img, settings).apply(img)
}

/// [`render`] straight to the 8-bit image a JPEG is encoded from: exactly the bytes of
/// `render` followed by the JPEG writer's scaling to 8 bits, without the full-size 16-bit
/// RGB intermediates (rows rendered in parallel; see [`Render8`]).
pub fn render_8bit(img: &Image16, settings: &RenderSettings) -> Image8 {
    let Some(r) = Render8::new(img, settings) else {
        // Nothing sensible to render; the writer reports the inconsistent shape.
        let out = render(img, settings);
        return Image8 {
            width: out.width,
            height: out.height,
            channels: out.channels,
            data: crate::output::image::to_8bit(&out),
        };
    };
    let row = r.row_len();
    let mut data = vec![0u8; row * img.height as usize];
    data.par_chunks_mut(row)
        .enumerate()
        .for_each(|(y, out)| r.row(y, out));
    Image8 {
        width: img.width,
        height: img.height,
        channels: r.channels() as u8,
        data,
    }
}

/// A stack prepared for 8-bit display ([`render_8bit`]'s bytes), rendered a row at a
/// time, so that a JPEG encoder can pull rows as it goes and no 8-bit image is held: the
/// tone map (estimated from the same subsample [`render`] measures) folded with the
/// scaling to 8 bits into one whole-range table per channel.
pub struct Render8<'a> {
    img: &'a Image16,
    mosaic: bool,
    channels: usize,
    tables: Vec<Box<[u8; 65536]>>,
}

impl<'a> Render8<'a> {
    /// `None` when `img` is neither a mosaic nor a consistent 1- or 3-channel image.
    pub fn new(img: &'a Image16, settings: &RenderSettings) -> Option<Render8<'a>> {
        Render8::layout(img)?;
        // The map is `img`'s own: samples above its maximum map as the maximum does, so
        // only `max + 1` entries are computed (4096 of 65536 for 12-bit frames).
        Render8::build(img, &ToneMap::estimate(img, settings), img.max_value())
    }

    /// `img` through a tone map estimated elsewhere (on one frame of a sequence, so that
    /// every frame of a video gets the same look): the bytes of `map.apply(img)` scaled to
    /// 8 bits as the JPEG writer does. `None` as for [`new`](Self::new).
    pub fn with_map(img: &'a Image16, map: &ToneMap) -> Option<Render8<'a>> {
        Render8::build(img, map, u16::MAX)
    }

    /// Whether `img` is a mosaic, and the channels rendered; `None` when it is neither a
    /// mosaic nor a consistent 1- or 3-channel image.
    fn layout(img: &Image16) -> Option<(bool, usize)> {
        let (w, h) = (img.width as usize, img.height as usize);
        let mosaic = is_mosaic(img);
        let channels = if mosaic { 3 } else { usize::from(img.channels) };
        (mosaic || (matches!(channels, 1 | 3) && img.data.len() == w * h * channels))
            .then_some((mosaic, channels))
    }

    /// Tables whose entries `0..=top` come from `map` and the rest repeat entry `top`.
    fn build(img: &'a Image16, map: &ToneMap, top: u16) -> Option<Render8<'a>> {
        let (mosaic, channels) = Render8::layout(img)?;
        // Display values are 16-bit, scaled to 8 bits as the JPEG writer does; whole-range
        // tables, so that a sample indexes them without a check.
        let to8 = |v: u16| ((u32::from(v) * 255 + 65535 / 2) / 65535) as u8;
        let tables = (0..channels)
            .map(|c| {
                let mut t = Box::new([0u8; 65536]);
                let (low, high) = t.split_at_mut(usize::from(top) + 1);
                for (v, e) in (0..=top).zip(low.iter_mut()) {
                    *e = to8(map.map(c, v));
                }
                high.fill(low[low.len() - 1]);
                t
            })
            .collect();
        Some(Render8 {
            img,
            mosaic,
            channels,
            tables,
        })
    }

    /// 1 (mono) or 3 (RGB) bytes per pixel.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Bytes of one row.
    pub fn row_len(&self) -> usize {
        self.img.width as usize * self.channels
    }

    /// Renders row `y` into `out` ([`row_len`](Self::row_len) bytes).
    pub fn row(&self, y: usize, out: &mut [u8]) {
        let lut = |c: usize| &*self.tables[c.min(self.tables.len() - 1)];
        let luts = [lut(0), lut(1), lut(2)];
        if self.mosaic {
            return debayer_row_mapped(self.img, y, luts, out);
        }
        let [r, g, b] = luts;
        let n = self.row_len();
        let src = &self.img.data[y * n..][..n];
        if self.channels == 3 {
            for (o, s) in out.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
                o[0] = r[usize::from(s[0])];
                o[1] = g[usize::from(s[1])];
                o[2] = b[usize::from(s[2])];
            }
        } else {
            out.iter_mut()
                .zip(src)
                .for_each(|(o, &s)| *o = r[usize::from(s)]);
        }
    }
}

/// [`histograms`] of the debayered `img`, debayering only the rows it looks at.
fn mosaic_histograms(img: &Image16, max: u16) -> Vec<Vec<u32>> {
    let (w, h) = (img.width as usize, img.height as usize);
    let mut hists = vec![vec![0u32; usize::from(max) + 1]; 3];
    let mut row = vec![0u16; 3 * w];
    for y in stat_rows(w, h) {
        debayer_row(img, y, &mut row);
        count(&mut hists, &row, max);
    }
    hists
}

/// Adds the pixels of `samples` (interleaved, one histogram per channel) to `hists`.
fn count(hists: &mut [Vec<u32>], samples: &[u16], max: u16) {
    for px in samples.chunks_exact(hists.len()) {
        for (h, &v) in hists.iter_mut().zip(px) {
            h[usize::from(v.min(max))] += 1;
        }
    }
}

/// Display samples (any bit depth, usually 16) to 8-bit RGB bytes, 3 per pixel; mono is
/// repeated into the three channels.
pub fn to_rgb8(img: &Image16) -> Vec<u8> {
    let max = u32::from(img.max_value()).max(1);
    let to8 = |v: u16| ((u32::from(v).min(max) * 255 + max / 2) / max) as u8;
    if img.channels == 1 {
        img.data.iter().flat_map(|&v| [to8(v); 3]).collect()
    } else {
        img.data.iter().map(|&v| to8(v)).collect()
    }
}

/// Per-channel histograms of a regular subsample of the pixels: the rows of
/// [`stat_rows`].
fn histograms(img: &Image16, channels: usize, max: u16) -> Vec<Vec<u32>> {
    let mut hists = vec![vec![0u32; usize::from(max) + 1]; channels];
    let (w, h) = (img.width as usize, img.height as usize);
    let row_len = w * channels;
    for y in stat_rows(w, h) {
        let row = img.data.get(y * row_len..(y + 1) * row_len);
        count(&mut hists, row.unwrap_or_default(), max);
    }
    hists
}

/// The rows statistics look at: every one of an image of up to [`STAT_PIXELS`] pixels,
/// else evenly spaced whole rows adding up to about that many (whole rows, so that a
/// mosaic is debayered a row at a time rather than a pixel at a time).
fn stat_rows(width: usize, height: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
    let rows = (STAT_PIXELS / width.max(1)).max(1);
    (0..height).step_by(height.div_ceil(rows).max(1))
}

/// Smallest value with at least `fraction` of the histogram's samples at or below it.
fn percentile(hist: &[u32], fraction: f64) -> u16 {
    let total: u64 = hist.iter().map(|&n| u64::from(n)).sum();
    let want = ((total as f64 * fraction).ceil() as u64).max(1);
    let mut seen = 0u64;
    for (v, &n) in hist.iter().enumerate() {
        seen += u64::from(n);
        if seen >= want {
            return v as u16;
        }
    }
    hist.len().saturating_sub(1) as u16
}

fn auto_black(hists: &[Vec<u32>], max: u16) -> u16 {
    let black = hists
        .iter()
        .map(|h| percentile(h, BLACK_PERCENTILE))
        .min()
        .unwrap_or(0);
    black.min(max / 2)
}

fn grey_world(hists: &[Vec<u32>], black: u16) -> [f32; 3] {
    let mut med = [0f32; 3];
    for (m, h) in med.iter_mut().zip(hists) {
        *m = f32::from(percentile(h, 0.5).saturating_sub(black));
    }
    let top = med.iter().copied().fold(0.0, f32::max);
    if top < 1.0 {
        // No background signal at all: nothing to balance against.
        return [1.0; 3];
    }
    // A channel whose background is barely above black (an estimated black sits at the
    // weakest channel's sky) is boosted at most MAX_GAIN times, so its noise stays tame.
    med.map(|m| top / m.max(top / MAX_GAIN))
}

fn normalise(g: [f32; 3]) -> [f32; 3] {
    if g.iter().any(|&x| !(x.is_finite() && x > 0.0)) {
        return [1.0; 3];
    }
    let min = g.iter().copied().fold(f32::INFINITY, f32::min);
    g.map(|x| x / min)
}

fn build_lut(black: u16, max: u16, gain: f32, s: &RenderSettings) -> Box<[u16; 65536]> {
    let range = f32::from(max - black).max(1.0);
    let mut lut = Box::new([0u16; 65536]);
    for v in 0..=max {
        let x = f32::from(v.saturating_sub(black)) * gain / range;
        let y = s.drc.apply(s.stretch.apply(x.min(1.0)));
        lut[usize::from(v)] = (y.clamp(0.0, 1.0) * 65535.0).round() as u16;
    }
    let top = lut[usize::from(max)];
    lut[usize::from(max)..].fill(top);
    lut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mosaic(cfa: Cfa, w: u32, h: u32, f: impl Fn(usize, usize, usize) -> u16) -> Image16 {
        let mut img = Image16::zeroed(w, h, 1, cfa, 12);
        for y in 0..h as usize {
            for x in 0..w as usize {
                img.data[y * w as usize + x] = f(cfa.colour_at(x, y).unwrap(), x, y);
            }
        }
        img
    }

    fn noise(x: usize, y: usize) -> u16 {
        ((x * 7919 + y * 104_729) % 23) as u16
    }

    #[test]
    fn black_stays_black_and_saturated_stays_white() {
        let settings = RenderSettings::default();
        let black = render(&mosaic(Cfa::Rggb, 16, 12, |_, _, _| 0), &settings);
        assert_eq!((black.channels, black.bit_depth), (3, 16));
        assert!(black.data.iter().all(|&v| v == 0));
        let white = render(&mosaic(Cfa::Bggr, 16, 12, |_, _, _| 4095), &settings);
        assert!(white.data.iter().all(|&v| v == 65535));
    }

    #[test]
    fn saturated_star_on_coloured_sky_is_white() {
        // Sky with a strong colour cast, one saturated 5x5 star.
        let sky = [300u16, 600, 200];
        let img = mosaic(Cfa::Rggb, 64, 48, |c, x, y| {
            if (30..35).contains(&x) && (20..25).contains(&y) {
                4095
            } else {
                100 + sky[c] + noise(x, y)
            }
        });
        let out = render(&img, &RenderSettings::default());
        let i = (22 * 64 + 32) * 3;
        assert_eq!(&out.data[i..i + 3], &[65535, 65535, 65535]);
    }

    fn channel_median(img: &Image16, c: usize) -> u16 {
        let mut v: Vec<u16> = img.data.iter().skip(c).step_by(3).copied().collect();
        v.sort_unstable();
        v[v.len() / 2]
    }

    #[test]
    fn grey_world_neutralises_the_background_despite_stars() {
        let sky = [300u16, 600, 200];
        let img = mosaic(Cfa::Grbg, 96, 64, |c, x, y| {
            // 2 % of pixels are bright red "stars".
            if (x * 31 + y * 17) % 50 == 0 {
                if c == 0 {
                    4000
                } else {
                    900
                }
            } else {
                100 + sky[c] + noise(x, y)
            }
        });
        let settings = RenderSettings {
            black_level: Some(100),
            ..RenderSettings::default()
        };
        let map = ToneMap::estimate(&debayer(&img), &settings);
        let g = map.gains();
        assert!((g[0] - 2.0).abs() < 0.1 && g[1] == 1.0, "{g:?}");
        assert!((g[2] - 3.0).abs() < 0.2, "{g:?}");
        let out = render(&img, &settings);
        let m: Vec<f32> = (0..3).map(|c| f32::from(channel_median(&out, c))).collect();
        let (lo, hi) = (m.iter().copied().fold(f32::MAX, f32::min), m[1]);
        assert!(hi > 10_000.0 && hi - lo < 0.02 * hi, "{m:?}");
        // With an estimated black the weakest channel gets the capped gain, not infinity.
        let auto = ToneMap::estimate(&debayer(&img), &RenderSettings::default());
        assert!(auto.gains().iter().all(|&g| (1.0..=MAX_GAIN).contains(&g)));
    }

    #[test]
    fn explicit_black_level_maps_to_zero() {
        let mut img = Image16::zeroed(4, 1, 1, Cfa::None, 12);
        img.data = vec![50, 100, 2000, 4095];
        let settings = RenderSettings {
            black_level: Some(100),
            white_balance: WhiteBalance::None,
            stretch: Stretch::Linear,
            drc: Drc::Off,
        };
        let out = render(&img, &settings);
        assert_eq!(out.channels, 1);
        let mid = ((2000.0 - 100.0) / 3995.0 * 65535.0f32).round() as u16;
        assert_eq!(out.data, vec![0, 0, mid, 65535]);
    }

    #[test]
    fn every_lut_is_monotonic_and_spans_the_range() {
        let stretches = [
            Stretch::Linear,
            Stretch::Gamma(2.2),
            Stretch::Gamma(-1.0),
            Stretch::Asinh(50.0),
        ];
        for stretch in stretches {
            for drc in [Drc::Off, Drc::Low, Drc::Medium, Drc::High] {
                let s = RenderSettings {
                    black_level: Some(64),
                    white_balance: WhiteBalance::None,
                    stretch,
                    drc,
                };
                let lut = build_lut(64, 1023, 1.0, &s);
                assert_eq!(
                    (lut[0], lut[64], lut[1023], lut[65535]),
                    (0, 0, 65535, 65535)
                );
                assert!(lut.windows(2).all(|p| p[0] <= p[1]), "{stretch:?} {drc:?}");
            }
        }
    }

    #[test]
    fn drc_lifts_shadows_more_as_it_gets_stronger() {
        let y = 0.1;
        let lifted: Vec<f32> = [Drc::Off, Drc::Low, Drc::Medium, Drc::High]
            .iter()
            .map(|d| d.apply(y))
            .collect();
        assert_eq!(lifted[0], y);
        assert!(lifted.windows(2).all(|p| p[0] < p[1]), "{lifted:?}");
        for d in [Drc::Off, Drc::Low, Drc::Medium, Drc::High] {
            assert_eq!(Drc::from_name(d.name()), Some(d));
            assert!((d.apply(1.0) - 1.0).abs() < 1e-6 && d.apply(0.0) == 0.0);
        }
        assert_eq!(Drc::from_name("MED"), Some(Drc::Medium));
        assert_eq!(Drc::from_name("max"), None);
    }

    #[test]
    fn fixed_gains_are_normalised_to_a_minimum_of_one() {
        assert_eq!(normalise([2.0, 1.0, 4.0]), [2.0, 1.0, 4.0]);
        assert_eq!(normalise([1.0, 0.5, 1.0]), [2.0, 1.0, 2.0]);
        assert_eq!(normalise([1.0, 0.0, f32::NAN]), [1.0; 3]);
    }

    #[test]
    fn rgb8_conversion() {
        let mut img = Image16::zeroed(2, 1, 1, Cfa::None, 16);
        img.data = vec![0, 65535];
        assert_eq!(to_rgb8(&img), vec![0, 0, 0, 255, 255, 255]);
        let mut rgb = Image16::zeroed(1, 1, 3, Cfa::None, 16);
        rgb.data = vec![257, 32896, 65535];
        assert_eq!(to_rgb8(&rgb), vec![1, 128, 255]);
    }
    #[test]
    fn statistics_see_about_a_million_pixels_in_whole_rows() {
        assert!(stat_rows(64, 40).eq(0..40));
        let rows: Vec<usize> = stat_rows(4056, 3040).collect();
        let seen = rows.len() * 4056;
        assert!(
            (STAT_PIXELS * 9 / 10..=STAT_PIXELS).contains(&seen),
            "{seen}"
        );
        // Evenly spread over the image, top to bottom.
        assert_eq!(rows[0], 0);
        assert!(rows.windows(2).all(|p| p[1] - p[0] == rows[1]));
        assert!(3040 - rows[rows.len() - 1] <= rows[1]);
    }

    #[test]
    fn render_8bit_is_render_scaled_to_8_bits() {
        let settings = [
            RenderSettings::default(),
            RenderSettings {
                black_level: Some(300),
                white_balance: WhiteBalance::Gains([2.0, 1.0, 1.5]),
                stretch: Stretch::Asinh(20.0),
                drc: Drc::High,
            },
        ];
        let mut images: Vec<Image16> = Vec::new();
        let value = |c: usize, x: usize, y: usize| {
            (200 + c * 40 + (x * 7919 + y * 104_729) % 97 + if x == y { 3000 } else { 0 }) as u16
        };
        for cfa in [Cfa::Rggb, Cfa::Bggr, Cfa::Grbg, Cfa::Gbrg] {
            for (w, h) in [(1, 1), (2, 3), (3, 3), (17, 11), (64, 40)] {
                images.push(mosaic(cfa, w, h, value));
            }
        }
        // Over a million pixels: the statistics look at a subsample.
        images.push(mosaic(Cfa::Grbg, 1100, 1001, value));
        let mut mono = mosaic(Cfa::Rggb, 13, 7, value);
        mono.cfa = Cfa::None;
        images.push(mono);
        let mut rgb = Image16::zeroed(9, 5, 3, Cfa::None, 8);
        rgb.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i * 37 % 256) as u16);
        images.push(rgb);
        for img in &images {
            for s in &settings {
                let want = render(img, s);
                let got = render_8bit(img, s);
                assert_eq!(
                    (got.width, got.height, got.channels),
                    (want.width, want.height, want.channels)
                );
                let scaled: Vec<u8> = want
                    .data
                    .iter()
                    .map(|&v| ((u32::from(v) * 255 + 32767) / 65535) as u8)
                    .collect();
                assert!(
                    got.data == scaled,
                    "{}x{} {:?} {s:?}",
                    img.width,
                    img.height,
                    img.cfa
                );
            }
        }
    }

    #[test]
    fn a_given_map_renders_as_applying_it_then_scaling() {
        let value = |c: usize, x: usize, y: usize| {
            (150 + c * 60 + (x * 31 + y * 17) % 211 + if x == 2 * y { 3500 } else { 0 }) as u16
        };
        let other = |c: usize, x: usize, y: usize| value(c, x + 5, y + 3) / 2 + 40;
        let settings = RenderSettings {
            drc: Drc::Medium,
            ..RenderSettings::default()
        };
        let mut cases = Vec::new();
        for cfa in [Cfa::Rggb, Cfa::Gbrg] {
            // A frame, and the map of another frame of the sequence.
            let map = ToneMap::estimate(&mosaic(cfa, 40, 30, other), &settings);
            cases.push((mosaic(cfa, 40, 30, value), map));
        }
        let rgb = debayer(&mosaic(Cfa::Bggr, 21, 13, value));
        cases.push((
            rgb.clone(),
            ToneMap::estimate(&rgb, &RenderSettings::default()),
        ));
        let mut mono = mosaic(Cfa::Rggb, 9, 7, value);
        mono.cfa = Cfa::None;
        // A sample above the bit depth maps as the maximum does.
        mono.data[3] = 65_000;
        cases.push((mono.clone(), ToneMap::estimate(&mono, &settings)));
        for (img, map) in &cases {
            let r = Render8::with_map(img, map).unwrap();
            let mut got = vec![0u8; r.row_len() * img.height as usize];
            for (y, row) in got.chunks_exact_mut(r.row_len()).enumerate() {
                r.row(y, row);
            }
            let want: Vec<u8> = (map.apply(img).data.iter())
                .map(|&v| ((u32::from(v) * 255 + 32767) / 65535) as u8)
                .collect();
            assert!(got == want, "{}x{} {:?}", img.width, img.height, img.cfa);
        }
        let mut bad = rgb;
        bad.data.pop();
        assert!(Render8::with_map(&bad, &cases[0].1).is_none());
    }

    #[test]
    fn mapping_in_place_is_applying() {
        let value = |c: usize, x: usize, y: usize| (300 + c * 50 + (x * 13 + y * 7) % 300) as u16;
        let rgb = debayer(&mosaic(Cfa::Rggb, 20, 10, value));
        let mut mono = mosaic(Cfa::Rggb, 20, 10, value);
        mono.cfa = Cfa::None;
        for img in [rgb, mono, mosaic(Cfa::Grbg, 8, 6, value)] {
            let map = ToneMap::estimate(&img, &RenderSettings::default());
            let mut in_place = img.clone();
            map.apply_in_place(&mut in_place);
            assert_eq!(in_place, map.apply(&img), "{:?} {}", img.cfa, img.channels);
        }
    }
}
