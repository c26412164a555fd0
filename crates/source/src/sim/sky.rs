//! The simulated night sky as seen through one sensor: everything that produces light
//! (or dark current), in expected electrons per pixel for one exposure.
//!
//! Static parts are built once per configuration ([`Sky::new`]): the celestial pole, a
//! star catalogue in polar coordinates about it, hot pixels, and separable background
//! profiles (light-pollution gradient toward the bottom horizon, a side glow, vignetting,
//! orange sky colour). Per frame (`Sky::render`) the stars are rotated about the pole
//! at the sidereal rate for the frame's virtual mid-exposure time, transients (meteors,
//! satellites, planes) are added from time slots hashed from the seed, optional clouds
//! drift over the field, and every row is turned into noisy ADU in parallel. Nothing
//! depends on rendering order: a frame is a pure function of `(config, index)`.

use std::f64::consts::TAU;

use rayon::prelude::*;

use nightcap_frame::{Cfa, PixelFormat};

use super::rng::{hash2, unit, Stream};
use super::sensor::{pack_raw_line, pack_yuyv_line, Quantizer, SensorModel};
use super::transients::{self, Label, Rates, Streak, Transient, MAG0_E_PER_S, PSF_SIGMA};
use super::SimConfig;

/// Length of the sidereal day in nanoseconds (86164.0905 s): stars turn 360° about the
/// pole in this time.
pub const SIDEREAL_DAY_NS: i128 = 86_164_090_500_000;
/// Sky background at the top of the frame, electrons per second per pixel.
const SKY_E_PER_S: f32 = 30.0;
/// Orange light pollution: sky colour per channel (R, G, B).
const SKY_COLOUR: [f32; 3] = [1.35, 1.0, 0.65];
/// Catalogue magnitudes: brightest, faintest.
const MAG_RANGE: (f64, f64) = (-0.5, 11.0);
/// Largest splat radius in pixels (bounds the rows a splat can touch).
const MAX_RADIUS: i32 = 24;

// Tags separating the random streams of the different purposes.
const TAG_POLE: u64 = 1;
const TAG_STARS: u64 = 2;
const TAG_HOT: u64 = 3;
const TAG_NOISE: u64 = 4;
const TAG_CLOUD: u64 = 8;
const TAG_GLOW: u64 = 9;

/// A catalogue star, in polar coordinates about the pole at sidereal angle 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Star {
    /// Distance from the pole, pixels.
    pub radius: f64,
    /// Angle (image coordinates, radians) at sidereal angle 0.
    pub angle: f64,
    pub mag: f64,
    /// Relative response per channel (R, G, B).
    pub colour: [f32; 3],
}

/// The static sky of one configuration.
pub struct Sky {
    format: PixelFormat,
    model: SensorModel,
    seed: u64,
    gain_milli: u32,
    exposure_s: f64,
    start_utc_ns: i64,
    period_ns: i64,
    clouds: bool,
    cloudiness: f32,
    rates: Rates,
    pole: (f64, f64),
    stars: Vec<Star>,
    /// Hot pixels: (pixel index, electrons per exposure), sorted by index.
    hot: Vec<(usize, f32)>,
    /// Sky electrons per exposure for each row (gradient and vertical vignetting).
    row_bg: Vec<f32>,
    /// Column profile times sky colour, per row kind (Bayer: row parity; RGB: channel).
    col_bg: Vec<Vec<f32>>,
    dark_e: f32,
}

/// A Gaussian spot of light for one frame: a star, or one sample of a streak.
struct Splat {
    cy: f32,
    /// First and last rows touched.
    y0: i32,
    y1: i32,
    /// First column touched; `gx` holds `len` horizontal profile values from there.
    x0: usize,
    gx_off: usize,
    len: usize,
    colour: [f32; 3],
    /// `1 / (2 σ²)` of its Gaussian.
    inv: f32,
}

/// Everything that moves, for one frame: splats sorted by first row, and their
/// horizontal profiles (already scaled by the splat's peak electrons).
struct Splats {
    list: Vec<Splat>,
    gx: Vec<f32>,
    max_span: i32,
}

impl Sky {
    /// Builds the static sky. Cheap (about 1.4 ms for a 12 MP preset), so
    /// [`super::SimSky::render`] can build it per call.
    pub fn new(config: &SimConfig) -> Sky {
        let format = config.format();
        let model = config.sensor.model();
        let (w, h) = (f64::from(format.width), f64::from(format.height));
        let exposure_s = f64::from(config.exposure_us) / 1e6;
        let mut rng = Stream::new(config.seed, TAG_POLE);
        let pole = (w * rng.range(0.3, 0.7), h * rng.range(-0.15, 0.35));
        let mut sky = Sky {
            format,
            model,
            seed: config.seed,
            gain_milli: config.gain_milli,
            exposure_s,
            start_utc_ns: config.start_utc_ns,
            period_ns: config.period_ns(),
            clouds: config.clouds,
            cloudiness: config.cloudiness,
            rates: config.rates,
            pole,
            stars: Vec::new(),
            hot: Vec::new(),
            row_bg: Vec::new(),
            col_bg: Vec::new(),
            dark_e: (f64::from(model.dark_e_per_s) * exposure_s) as f32,
        };
        sky.stars = sky.catalogue();
        sky.hot = sky.make_hot_pixels();
        sky.build_background();
        sky
    }

    /// The fraction of frame `index` under cloud (cover above one half; 0 without
    /// clouds): the truth a cloud judge is measured against.
    pub fn cloud_fraction(&self, index: u64) -> f32 {
        if !self.clouds {
            return 0.0;
        }
        let grid = CloudGrid::new(self, index);
        let (w, h) = (self.format.width as usize, self.format.height as usize);
        let (mut under, mut all) = (0u32, 0u32);
        for y in (0..h).step_by(grid.step) {
            for x in (0..w).step_by(grid.step) {
                under += u32::from(grid.at(x as f64, y as f64) > 0.5);
                all += 1;
            }
        }
        under as f32 / all.max(1) as f32
    }

    /// The celestial pole in pixel coordinates.
    pub fn pole(&self) -> (f64, f64) {
        self.pole
    }

    pub fn stars(&self) -> &[Star] {
        &self.stars
    }

    /// Hot pixels as (x, y, electrons per exposure); the same in every frame.
    pub fn hot_pixels(&self) -> Vec<(usize, usize, f32)> {
        let w = self.format.width as usize;
        self.hot.iter().map(|&(i, e)| (i % w, i / w, e)).collect()
    }

    /// Virtual UTC start of frame `index`'s exposure.
    pub fn frame_time(&self, index: u64) -> i64 {
        let offset = i128::from(index) * i128::from(self.period_ns);
        (i128::from(self.start_utc_ns) + offset).clamp(i128::from(i64::MIN), i128::from(i64::MAX))
            as i64
    }

    /// The sidereal rotation angle (radians, increasing with time) at mid-exposure.
    pub fn rotation(&self, index: u64) -> f64 {
        let mid = i128::from(self.frame_time(index)) + (self.exposure_s * 5e8) as i128;
        mid.rem_euclid(SIDEREAL_DAY_NS) as f64 / SIDEREAL_DAY_NS as f64 * TAU
    }

    /// Where a catalogue star is `t_s` seconds after the start of frame `index`'s
    /// exposure (while the shutter is open, or after it closed: the gap before the next).
    pub fn star_position_at(&self, star: &Star, index: u64, t_s: f64) -> (f64, f64) {
        let from_mid = t_s - self.exposure_s / 2.0;
        let a = star.angle - self.rotation(index) - from_mid / (SIDEREAL_DAY_NS as f64 / 1e9) * TAU;
        (
            self.pole.0 + star.radius * a.cos(),
            self.pole.1 + star.radius * a.sin(),
        )
    }

    /// Where a catalogue star is in frame `index`. Stars turn counter-clockwise on the
    /// image (as seen facing the northern pole), i.e. their image angle decreases.
    pub fn star_position(&self, star: &Star, index: u64) -> (f64, f64) {
        let a = star.angle - self.rotation(index);
        (
            self.pole.0 + star.radius * a.cos(),
            self.pole.1 + star.radius * a.sin(),
        )
    }

    /// Stars fill the disk about the pole that covers the frame at every rotation, at
    /// a density giving a few thousand in a 12 MP frame (fewer in small ones).
    fn catalogue(&self) -> Vec<Star> {
        let (w, h) = (f64::from(self.format.width), f64::from(self.format.height));
        let corners = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)];
        let reach = corners
            .iter()
            .map(|&(x, y)| (x - self.pole.0).hypot(y - self.pole.1))
            .fold(0.0, f64::max)
            + f64::from(MAX_RADIUS);
        let in_frame = (w * h / 4000.0).clamp(8.0, 3000.0);
        let count = (in_frame * std::f64::consts::PI * reach * reach / (w * h)) as usize;
        let mut rng = Stream::new(self.seed, TAG_STARS);
        // Counts grow ~10^(0.4 m): many faint stars, few bright. Inverse-CDF sampling.
        let (lo, hi) = (10f64.powf(0.4 * MAG_RANGE.0), 10f64.powf(0.4 * MAG_RANGE.1));
        (0..count)
            .map(|_| {
                let radius = reach * rng.next().sqrt();
                let angle = rng.range(0.0, TAU);
                let mag = (lo + (hi - lo) * rng.next()).log10() / 0.4;
                let t = rng.next() as f32;
                Star {
                    radius,
                    angle,
                    mag,
                    colour: [0.75 + 0.5 * t, 1.0, 1.25 - 0.5 * t],
                }
            })
            .collect()
    }

    fn make_hot_pixels(&self) -> Vec<(usize, f32)> {
        let area = self.format.width as usize * self.format.height as usize;
        let mut rng = Stream::new(self.seed, TAG_HOT);
        let mut hot: Vec<(usize, f32)> = (0..(area / 4000).max(2))
            .map(|_| {
                let at = ((rng.next() * area as f64) as usize).min(area - 1);
                let rate = 10f64.powf(rng.range(1.5, 3.3));
                (at, (rate * self.exposure_s) as f32)
            })
            .collect();
        hot.sort_by_key(|&(at, _)| at);
        hot.dedup_by_key(|&mut (at, _)| at);
        hot
    }

    fn build_background(&mut self) {
        let (w, h) = (self.format.width as usize, self.format.height as usize);
        let vignette = |i: usize, n: usize| {
            let u = (2.0 * i as f32 + 1.0) / n as f32 - 1.0;
            1.0 - 0.3 * u * u
        };
        let sky_e = SKY_E_PER_S * self.exposure_s as f32;
        // Light pollution: brighter toward the bottom horizon.
        self.row_bg = (0..h)
            .map(|y| {
                let from_horizon = (h - 1 - y) as f32 / h as f32;
                sky_e * (1.0 + 3.0 * (-from_horizon / 0.3).exp()) * vignette(y, h)
            })
            .collect();
        // A town glow on one side, chosen by the seed.
        let left = unit(hash2(self.seed, TAG_GLOW)) < 0.5;
        let profile: Vec<f32> = (0..w)
            .map(|x| {
                let side = if left { w - 1 - x } else { x } as f32 / w as f32;
                (1.0 + 0.3 * side) * vignette(x, w)
            })
            .collect();
        let kinds: Vec<[usize; 2]> = match self.format.cfa {
            Cfa::None => (0..3).map(|c| [c, c]).collect(),
            cfa => (0..2).map(|y| row_channels(cfa, y)).collect(),
        };
        self.col_bg = kinds
            .iter()
            .map(|ch| {
                let colour = |x: usize| SKY_COLOUR[ch[x & 1]];
                profile
                    .iter()
                    .enumerate()
                    .map(|(x, p)| p * colour(x))
                    .collect()
            })
            .collect();
    }

    /// Renders frame `index` into `out` (exactly `stride * height` bytes; every byte,
    /// padding included, is written).
    pub(super) fn render(&self, index: u64, out: &mut [u8]) {
        let f = &self.format;
        assert_eq!(out.len() as u64, f.max_frame_bytes(), "frame buffer size");
        let clouds = self.clouds.then(|| CloudGrid::new(self, index));
        let splats = self.splats(index, clouds.as_ref());
        let quant = Quantizer::new(
            &self.model,
            self.gain_milli,
            f.bit_depth,
            hash2(hash2(self.seed, TAG_NOISE), index),
        );
        let (w, stride) = (f.width as usize, f.stride as usize);
        let line_bytes = f.packing.line_bytes(f.width).unwrap_or(0) as usize;
        let planes = if f.cfa == Cfa::None { 3 } else { 1 };
        out.par_chunks_mut(stride).enumerate().for_each_init(
            || (vec![0f32; w], vec![0f32; w], vec![0u16; w * planes]),
            |(sig, cloud, samples), (y, line)| {
                if let Some(grid) = &clouds {
                    grid.row(y, cloud);
                }
                let cloud = clouds.as_ref().map(|_| &cloud[..]);
                if planes == 1 {
                    let ch = row_channels(f.cfa, y);
                    self.row_signal(y, y & 1, ch, &splats, cloud, sig);
                    quant.quantize(sig, y as u64, samples);
                    pack_raw_line(f.packing, samples, &mut line[..line_bytes]);
                } else {
                    for (c, plane) in samples.chunks_exact_mut(w).enumerate() {
                        self.row_signal(y, c, [c, c], &splats, cloud, sig);
                        quant.quantize(sig, (y * 3 + c) as u64, plane);
                    }
                    let (r, rest) = samples.split_at(w);
                    let (g, b) = rest.split_at(w);
                    pack_yuyv_line(r, g, b, &mut line[..line_bytes]);
                }
                line[line_bytes..].fill(0);
            },
        );
    }

    /// Expected electrons along row `y` for the channels `ch` (by column parity).
    fn row_signal(
        &self,
        y: usize,
        kind: usize,
        ch: [usize; 2],
        splats: &Splats,
        cloud: Option<&[f32]>,
        sig: &mut [f32],
    ) {
        let bg = self.row_bg[y];
        let dark = self.dark_e;
        let cols = &self.col_bg[kind];
        match cloud {
            None => sig
                .iter_mut()
                .zip(cols)
                .for_each(|(s, &c)| *s = dark + bg * c),
            // Clouds reflect the town's light: the sky brightens where they are.
            Some(cover) => sig
                .iter_mut()
                .zip(cols.iter().zip(cover))
                .for_each(|(s, (&c, &k))| *s = dark + bg * c * (1.0 + 2.0 * k)),
        }
        let w = sig.len();
        let first = self.hot.partition_point(|&(at, _)| at < y * w);
        for &(at, e) in self.hot[first..]
            .iter()
            .take_while(|&&(at, _)| at < (y + 1) * w)
        {
            sig[at - y * w] += e;
        }
        splats.add_row(y as i32, ch, sig);
    }

    /// Stars and transients of frame `index`, clipped to the frame.
    fn splats(&self, index: u64, clouds: Option<&CloudGrid>) -> Splats {
        let mut b = SplatBuilder::new(self.format.width, self.format.height);
        let star_e = MAG0_E_PER_S * self.exposure_s;
        for star in &self.stars {
            let (x, y) = self.star_position(star, index);
            let clear = clouds.map_or(1.0, |c| 1.0 - 0.97 * c.at(x, y));
            let flux = star_e * 10f64.powf(-0.4 * star.mag) * f64::from(clear);
            b.add(x, y, flux, star.colour, PSF_SIGMA);
        }
        for streak in self.transients(index) {
            b.add_streak(&streak);
        }
        b.finish()
    }

    /// What crosses the field during frame `index` (a plane appears once per light and
    /// strobe flash): lets tests of detection features know what is in a frame.
    pub fn transients_in(&self, index: u64) -> Vec<Transient> {
        self.transients(index)
            .iter()
            .map(|s| s.event.kind)
            .collect()
    }

    /// Where the meteors, satellites and planes of frame `index` run: (from, to).
    pub fn streaks_in(&self, index: u64) -> Vec<((f64, f64), (f64, f64))> {
        self.transients(index)
            .iter()
            .map(|s| (s.from, s.to))
            .collect()
    }

    /// Meteors, satellites and planes crossing during frame `index`'s exposure.
    fn transients(&self, index: u64) -> Vec<Streak> {
        let t0 = self.frame_time(index) as f64 / 1e9;
        transients::Frame {
            seed: self.seed,
            format: self.format,
            rates: self.rates,
            index,
            t0,
            t1: t0 + self.exposure_s,
            period: self.period_ns as f64 / 1e9,
        }
        .streaks()
    }

    /// The labelled events of frame slots `indices`: one [`Label`] per meteor, satellite
    /// pass and plane pass, with the frames it crosses.
    pub fn labels(&self, indices: std::ops::Range<u64>) -> Vec<Label> {
        let frames: Vec<(u64, i64, Vec<Streak>)> = indices
            .map(|i| (i, self.frame_time(i), self.transients(i)))
            .collect();
        // The sky's noise per pixel: shot noise of the darkest sky plus read noise.
        let sky_e = f64::from(SKY_E_PER_S) * self.exposure_s;
        let noise = (sky_e + f64::from(self.model.read_noise_e).powi(2)).sqrt();
        let size = (f64::from(self.format.width), f64::from(self.format.height));
        transients::labels(&frames, noise, size)
    }
}

/// Which channel each column parity of row `y` sees.
fn row_channels(cfa: Cfa, y: usize) -> [usize; 2] {
    [
        cfa.colour_at(0, y).unwrap_or(1),
        cfa.colour_at(1, y).unwrap_or(1),
    ]
}

/// Collects splats, clipping them to the frame and precomputing their profiles.
struct SplatBuilder {
    w: i32,
    h: i32,
    out: Splats,
}

impl SplatBuilder {
    fn new(width: u32, height: u32) -> SplatBuilder {
        SplatBuilder {
            w: width as i32,
            h: height as i32,
            out: Splats {
                list: Vec::new(),
                gx: Vec::new(),
                max_span: 0,
            },
        }
    }

    /// A Gaussian spot of width `sigma` and `flux` electrons centred at (x, y).
    fn add(&mut self, x: f64, y: f64, flux: f64, colour: [f32; 3], sigma: f32) {
        let s2 = f64::from(sigma * sigma);
        let peak = flux / (TAU * s2);
        // Extend the spot until it falls below a tenth of an electron.
        if peak < 0.1 || !x.is_finite() || !y.is_finite() {
            return;
        }
        let r = ((2.0 * s2 * (peak / 0.1).ln()).sqrt().ceil() as i32).clamp(1, MAX_RADIUS);
        let (cx, cy) = (x.round() as i32, y.round() as i32);
        let (x0, x1) = ((cx - r).max(0), (cx + r).min(self.w - 1));
        let (y0, y1) = ((cy - r).max(0), (cy + r).min(self.h - 1));
        if x0 > x1 || y0 > y1 {
            return;
        }
        let gx_off = self.out.gx.len();
        let inv = 1.0 / (2.0 * s2);
        self.out.gx.extend((x0..=x1).map(|px| {
            let d = f64::from(px) - x;
            (peak * (-d * d * inv).exp()) as f32
        }));
        self.out.max_span = self.out.max_span.max(y1 - y0);
        self.out.list.push(Splat {
            cy: y as f32,
            y0,
            y1,
            x0: x0 as usize,
            gx_off,
            len: (x1 - x0 + 1) as usize,
            colour,
            inv: (1.0 / (2.0 * s2)) as f32,
        });
    }

    /// A streak as a row of spots every 0.7 px (capped for absurd lengths).
    fn add_streak(&mut self, s: &Streak) {
        let len = (s.to.0 - s.from.0).hypot(s.to.1 - s.from.1);
        let n = ((len / 0.7).ceil() as usize).clamp(1, 20_000);
        let weights: Vec<f64> = (0..n)
            .map(|i| {
                let u = (i as f64 + 0.5) / n as f64;
                match s.taper {
                    // The position in the whole flight of this piece's point u.
                    Some((u0, u1)) => (std::f64::consts::PI * (u0 + (u1 - u0) * u)).sin().powi(2),
                    None => 1.0,
                }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        for (i, wgt) in weights.iter().enumerate() {
            let u = (i as f64 + 0.5) / n as f64;
            let x = s.from.0 + (s.to.0 - s.from.0) * u;
            let y = s.from.1 + (s.to.1 - s.from.1) * u;
            self.add(x, y, s.flux * wgt / total, s.colour, s.sigma);
        }
    }

    fn finish(mut self) -> Splats {
        self.out.list.sort_by_key(|s| s.y0);
        self.out
    }
}

impl Splats {
    /// Adds every splat's light on row `y` to `sig`.
    fn add_row(&self, y: i32, ch: [usize; 2], sig: &mut [f32]) {
        let start = self.list.partition_point(|s| s.y0 < y - self.max_span);
        let end = self.list.partition_point(|s| s.y0 <= y);
        for s in &self.list[start..end] {
            if s.y1 < y {
                continue;
            }
            let dy = y as f32 - s.cy;
            let gy = (-dy * dy * s.inv).exp();
            let weights = [gy * s.colour[ch[0]], gy * s.colour[ch[1]]];
            let gx = &self.gx[s.gx_off..s.gx_off + s.len];
            for (i, (out, &g)) in sig[s.x0..s.x0 + s.len].iter_mut().zip(gx).enumerate() {
                *out += g * weights[(s.x0 + i) & 1];
            }
        }
    }
}

/// Cloud cover (0 clear .. 1 overcast) sampled on a coarse grid for one frame: three
/// octaves of value noise drifting with the wind, thresholded so that the sky is
/// partly clear. Bilinear between grid points (clouds are smooth).
struct CloudGrid {
    step: usize,
    cols: usize,
    values: Vec<f32>,
}

impl CloudGrid {
    fn new(sky: &Sky, index: u64) -> CloudGrid {
        let (w, h) = (sky.format.width as usize, sky.format.height as usize);
        // Clouds are features of a tenth of the frame or more: 32 grid steps across the
        // short side resolve them.
        let step = (w.min(h) / 32).clamp(4, 32);
        let (cols, rows) = (w / step + 2, h / step + 2);
        let scale = w.max(h) as f64 / 2.5;
        let t = sky.frame_time(index) as f64 / 1e9;
        // The wind carries clouds across the frame's width in about ten minutes.
        let drift = t * w as f64 / 600.0;
        let key = hash2(sky.seed, TAG_CLOUD);
        let values = (0..rows * cols)
            .map(|i| {
                let (x, y) = (((i % cols) * step) as f64, ((i / cols) * step) as f64);
                let (u, v) = ((x - drift) / scale, (y - 0.3 * drift) / scale);
                let n = 0.55 * value_noise(key, u, v)
                    + 0.3 * value_noise(key ^ 1, 2.1 * u, 2.1 * v)
                    + 0.15 * value_noise(key ^ 2, 4.3 * u, 4.3 * v);
                let lo = 0.95 - f64::from(sky.cloudiness.clamp(0.0, 1.0));
                smoothstep(lo, lo + 0.25, n) as f32
            })
            .collect();
        CloudGrid { step, cols, values }
    }

    /// Cover at a point (outside the frame: the nearest edge).
    fn at(&self, x: f64, y: f64) -> f32 {
        let rows = self.values.len() / self.cols;
        let gx = (x / self.step as f64).clamp(0.0, (self.cols - 2) as f64);
        let gy = (y / self.step as f64).clamp(0.0, (rows - 2) as f64);
        let (i, j) = (gx as usize, gy as usize);
        let (fx, fy) = ((gx - i as f64) as f32, (gy - j as f64) as f32);
        let v = |i: usize, j: usize| self.values[j * self.cols + i];
        let top = v(i, j) + (v(i + 1, j) - v(i, j)) * fx;
        let bottom = v(i, j + 1) + (v(i + 1, j + 1) - v(i, j + 1)) * fx;
        top + (bottom - top) * fy
    }

    /// Cover along row `y`: the two grid rows around it blended once, then a linear
    /// ramp between grid columns (a per-pixel bilinear lookup would cost more than the
    /// rest of the frame).
    fn row(&self, y: usize, out: &mut [f32]) {
        let rows = self.values.len() / self.cols;
        let j = (y / self.step).min(rows - 2);
        let fy = (y - j * self.step) as f32 / self.step as f32;
        let (top, bottom) = (
            &self.values[j * self.cols..(j + 1) * self.cols],
            &self.values[(j + 1) * self.cols..(j + 2) * self.cols],
        );
        let blended: Vec<f32> = top
            .iter()
            .zip(bottom)
            .map(|(&t, &b)| t + (b - t) * fy)
            .collect();
        let inv = 1.0 / self.step as f32;
        for (i, seg) in out.chunks_mut(self.step).enumerate() {
            let (a, b) = (blended[i], blended[i + 1]);
            let slope = (b - a) * inv;
            for (k, o) in seg.iter_mut().enumerate() {
                *o = a + slope * k as f32;
            }
        }
    }
}

fn smoothstep(lo: f64, hi: f64, x: f64) -> f64 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Smooth value noise in [0, 1): random values on the integer lattice, interpolated.
fn value_noise(key: u64, u: f64, v: f64) -> f64 {
    let (iu, iv) = (u.floor(), v.floor());
    let (fu, fv) = (u - iu, v - iv);
    let lattice = |a: f64, b: f64| unit(hash2(key, ((a as i64 as u64) << 32) ^ (b as i64 as u64)));
    let s = |t: f64| t * t * (3.0 - 2.0 * t);
    let top = lattice(iu, iv) + (lattice(iu + 1.0, iv) - lattice(iu, iv)) * s(fu);
    let bottom =
        lattice(iu, iv + 1.0) + (lattice(iu + 1.0, iv + 1.0) - lattice(iu, iv + 1.0)) * s(fu);
    top + (bottom - top) * s(fv)
}
