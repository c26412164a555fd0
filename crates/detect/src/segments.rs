//! Streaks in one frame: the residual thresholded, grown into connected pieces, and each
//! elongated piece measured as a [`Segment`].
//!
//! Pixels above `sigma` noise levels seed a piece, which grows into its 8 neighbours
//! above half that (so a meteor's faint ends stay attached). A piece of at least
//! [`MIN_LENGTH`] pixels (half resolution), three times as long as it is wide, is a
//! segment (two to three times: a stubby one, which only counts as part of a track): its axis from the principal components of its pixels, its end points,
//! width, a luminance profile along it, its colour above the local sky, and features the
//! classifier uses (tapered ends, periodic flashes, red and green lights side by side).
//! Small pieces are dots (a plane's strobe flash, a twinkle): kept to be matched to
//! segments. When more than [`MAX_CANDIDATES`] of the pixels pass the threshold (clouds,
//! the moon, a car's lights), the threshold is raised until they do not, and said.

use crate::binned::Binned;

/// Shortest segment, half-resolution pixels (on frames at least 320 binned pixels
/// wide; see [`min_length`]).
pub const MIN_LENGTH: f32 = 10.0;
/// Largest fraction of pixels allowed above the threshold.
pub const MAX_CANDIDATES: f32 = 0.01;
/// Samples of a segment's profile.
pub const PROFILE_BINS: usize = 32;
/// Largest piece followed, pixels (a cloud edge can be huge).
const MAX_PIECE: usize = 400_000;

/// Shortest segment on a frame `width` half-resolution pixels wide: [`MIN_LENGTH`],
/// down to half of it on small sensors, where a plane or satellite crosses only a few
/// pixels per exposure (a 320-pixel sensor sees in one pixel what a 4000-pixel one
/// sees in twelve).
pub fn min_length(width: usize) -> f32 {
    (width as f32 / 32.0).clamp(MIN_LENGTH / 2.0, MIN_LENGTH)
}

/// A streak in one frame, in full-resolution pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Segment {
    /// End points.
    pub a: (f32, f32),
    pub b: (f32, f32),
    pub length: f32,
    pub width: f32,
    /// Orientation of a→b, degrees (image coordinates, y down).
    pub angle_deg: f32,
    /// Brightest and summed excess over the local sky per colour (R, G, B), in sample units.
    pub peak: [f32; 3],
    pub integrated: [f32; 3],
    /// Luminance excess along a→b, [`PROFILE_BINS`] samples (the brightest pixel of each).
    pub profile: Vec<f32>,
    /// Pixels in it (half resolution).
    pub pixels: u32,
    /// Bright at the middle, faint at both ends (a meteor's light curve).
    pub tapered: bool,
    /// Periodic bright spots along it, or flashes beside it (a plane's strobes).
    pub flashes: u32,
    /// A red and a green line side by side (a plane's navigation lights).
    pub red_green: bool,
    /// Whether `a` and `b` lie at the frame's edge.
    pub at_edge: [bool; 2],
    /// Its centre line bends away from a straight line by more than a few percent of its
    /// length (an insect's or a bird's path near the lens; meteors fly straight).
    pub curved: bool,
    /// Width of its bright core, full-resolution pixels: how far across it stays above
    /// half its peak, wherever along it (the same for a faint and a bright streak of one
    /// sharpness; wider when out of focus).
    pub core_width: f32,
    /// Some of it reached the sensor's top (its core is flattened and looks wider).
    pub saturated: bool,
    /// Only two to three times as long as wide: a slow plane (its two lights a wingspan
    /// apart, moving little in one exposure), or a blob. Counts only as part of a track
    /// of several frames.
    pub stubby: bool,
}

impl Segment {
    /// The direction of a→b as a unit vector.
    pub fn direction(&self) -> (f32, f32) {
        let (dx, dy) = (self.b.0 - self.a.0, self.b.1 - self.a.1);
        let n = dx.hypot(dy).max(1e-6);
        (dx / n, dy / n)
    }

    /// Distance of point `p` from the segment's line (not its extent).
    pub fn line_distance(&self, p: (f32, f32)) -> f32 {
        let (ux, uy) = self.direction();
        ((p.0 - self.a.0) * uy - (p.1 - self.a.1) * ux).abs()
    }

    /// The segment with its ends swapped.
    pub fn reversed(&self) -> Segment {
        let mut s = self.clone();
        std::mem::swap(&mut s.a, &mut s.b);
        s.at_edge.swap(0, 1);
        s.profile.reverse();
        s.angle_deg = (s.angle_deg + 180.0) % 360.0;
        s
    }
}

/// What one frame gave.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub segments: Vec<Segment>,
    /// Small pieces far above the threshold (six times): (x, y) full resolution, peak
    /// luminance excess.
    pub dots: Vec<(f32, f32, f32)>,
    /// The threshold used, in sample units, and whether it had to be raised.
    pub threshold: f32,
    pub raised: Option<f32>,
}

/// Finds the segments of a frame from its `residual` (half resolution), its colours,
/// and the residual's `noise`.
pub fn find(frame: &Binned, residual: &[f32], noise: f32, sigma: f32) -> Found {
    let (w, h) = (frame.width, frame.height);
    let n = w * h;
    let mut t = sigma * noise;
    let mut raised = None;
    let limit = (MAX_CANDIDATES * n as f32) as usize;
    for _ in 0..12 {
        let over = residual.iter().filter(|&&r| r > t).count();
        if over <= limit.max(1) {
            break;
        }
        t *= 1.5;
        raised = Some(over as f32 / n.max(1) as f32);
    }
    let grow = t * 0.5;
    let mut seen = vec![false; n];
    let mut stack = Vec::new();
    let mut found = Found {
        threshold: t,
        raised,
        ..Found::default()
    };
    for start in 0..n {
        if seen[start] || residual[start] <= t {
            continue;
        }
        // Grow the piece.
        let mut piece: Vec<usize> = Vec::new();
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            if piece.len() >= MAX_PIECE {
                stack.clear();
                break;
            }
            piece.push(i);
            let (x, y) = (i % w, i / w);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if !seen[j] && residual[j] > grow {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        measure(frame, residual, &piece, t, &mut found);
    }
    mark_flashes(&mut found);
    found
}

/// Measures one piece: a segment, a dot, or nothing (a round blob).
fn measure(frame: &Binned, residual: &[f32], piece: &[usize], t: f32, found: &mut Found) {
    let w = frame.width;
    let full = |x: f32, y: f32| (2.0 * x + 0.5, 2.0 * y + 0.5);
    let count = piece.len() as f32;
    let (mut cx, mut cy) = (0.0f64, 0.0f64);
    for &i in piece {
        cx += (i % w) as f64;
        cy += (i / w) as f64;
    }
    cx /= f64::from(count);
    cy /= f64::from(count);
    let (mut sxx, mut sxy, mut syy) = (0.0f64, 0.0f64, 0.0f64);
    for &i in piece {
        let (dx, dy) = ((i % w) as f64 - cx, (i / w) as f64 - cy);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let (sxx, sxy, syy) = (
        sxx / f64::from(count),
        sxy / f64::from(count),
        syy / f64::from(count),
    );
    // Eigen-decomposition of the 2x2 covariance.
    let tr = sxx + syy;
    let det = sxx * syy - sxy * sxy;
    let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(0.0));
    let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let (ux, uy) = (theta.cos(), theta.sin());
    let (mut tmin, mut tmax) = (f64::MAX, f64::MIN);
    for &i in piece {
        let (dx, dy) = ((i % w) as f64 - cx, (i / w) as f64 - cy);
        let t = dx * ux + dy * uy;
        tmin = tmin.min(t);
        tmax = tmax.max(t);
    }
    let length = (tmax - tmin + 1.0) as f32;
    let width = (2.0 * l2.sqrt() + 1.0) as f32;
    let peak = piece.iter().map(|&i| residual[i]).fold(0.0f32, f32::max);
    let stubby = length < 3.0 * width || l1 < 4.0 * l2;
    if length < min_length(frame.width) || length < 2.0 * width || l1 < 3.0 * l2 {
        // Compact and bright: a dot (a strobe flash, a twinkle).
        if piece.len() <= 40 && peak > 6.0 * t {
            let (x, y) = full(cx as f32, cy as f32);
            found.dots.push((x, y, peak));
        }
        return;
    }
    let a = (cx + tmin * ux, cy + tmin * uy);
    let b = (cx + tmax * ux, cy + tmax * uy);
    // Profile along the axis: the brightest pixel of each bin.
    let mut profile = vec![f32::NAN; PROFILE_BINS];
    for &i in piece {
        let (dx, dy) = ((i % w) as f64 - cx, (i / w) as f64 - cy);
        let u = ((dx * ux + dy * uy - tmin) / (tmax - tmin).max(1e-9)).clamp(0.0, 1.0);
        let bin = ((u * PROFILE_BINS as f64) as usize).min(PROFILE_BINS - 1);
        profile[bin] = if profile[bin].is_nan() {
            residual[i]
        } else {
            profile[bin].max(residual[i])
        };
    }
    fill_empty_bins(&mut profile);
    let core_width = core_width(
        piece,
        residual,
        w,
        &profile,
        (cx, cy),
        (ux, uy),
        (tmin, tmax),
    );
    // Any colour at the top (a mosaic's brightest colour saturates before the luminance).
    let top = |v: u16| u32::from(v) * 20 >= u32::from(frame.max_value) * 19;
    let saturated = piece.iter().any(|&i| match &frame.colour {
        Some(planes) => planes.iter().any(|p| top(p[i])),
        None => top(frame.luma[i]),
    });
    let (peak_c, integrated, red_green) = colours(frame, piece, (cx, cy), (ux, uy), width);
    let edge = |p: (f64, f64)| {
        p.0 < 3.0
            || p.1 < 3.0
            || p.0 > (frame.width as f64 - 4.0)
            || p.1 > (frame.height as f64 - 4.0)
    };
    let (fa, fb) = (full(a.0 as f32, a.1 as f32), full(b.0 as f32, b.1 as f32));
    found.segments.push(Segment {
        a: fa,
        b: fb,
        length: 2.0 * length,
        width: 2.0 * width,
        angle_deg: (uy.atan2(ux).to_degrees() as f32 + 360.0) % 360.0,
        peak: peak_c,
        integrated,
        tapered: tapered(&profile),
        flashes: periodic_peaks(&profile, 4.0 * t),
        profile,
        pixels: piece.len() as u32,
        red_green,
        at_edge: [edge(a), edge(b)],
        stubby,
        core_width: 2.0 * core_width,
        saturated,
        curved: sagitta(piece, w, (cx, cy), (ux, uy), (tmin, tmax)) > (0.04 * length).max(1.5),
    });
}

/// Per-colour excess over the local sky (the median of each colour on two lines beside
/// the piece), and whether a red and a green line run side by side in it.
fn colours(
    frame: &Binned,
    piece: &[usize],
    c: (f64, f64),
    u: (f64, f64),
    width: f32,
) -> ([f32; 3], [f32; 3], bool) {
    let Some(planes) = frame.colour.as_ref() else {
        return ([0.0; 3], [0.0; 3], false);
    };
    let w = frame.width;
    // The sky: samples on lines a few pixels either side of the piece's axis.
    let off = f64::from(width) + 3.0;
    let mut sky: [Vec<u16>; 3] = Default::default();
    for &i in piece.iter().step_by((piece.len() / 64).max(1)) {
        for side in [-1.0, 1.0] {
            let x = (i % w) as f64 - u.1 * off * side;
            let y = (i / w) as f64 + u.0 * off * side;
            if x >= 0.0 && y >= 0.0 && (x as usize) < w && (y as usize) < frame.height {
                let j = y as usize * w + x as usize;
                for (k, s) in sky.iter_mut().enumerate() {
                    s.push(planes[k][j]);
                }
            }
        }
    }
    let sky: [f32; 3] = sky.map(|mut v| {
        if v.is_empty() {
            return 0.0;
        }
        let mid = v.len() / 2;
        f32::from(*v.select_nth_unstable(mid).1)
    });
    let mut peak = [0f32; 3];
    let mut sum = [0f32; 3];
    // Perpendicular centroids of the red-over-green and green-over-red excess.
    let (mut red_w, mut red_s, mut green_w, mut green_s) = (0f64, 0f64, 0f64, 0f64);
    for &i in piece {
        let e: [f32; 3] = [0, 1, 2].map(|k| f32::from(planes[k][i]) - sky[k]);
        for k in 0..3 {
            peak[k] = peak[k].max(e[k]);
            sum[k] += e[k].max(0.0);
        }
        let s = ((i / w) as f64 - c.1) * u.0 - ((i % w) as f64 - c.0) * u.1;
        let rg = f64::from(e[0] - e[1]);
        if rg > 0.0 {
            red_w += rg;
            red_s += rg * s;
        } else {
            green_w -= rg;
            green_s -= rg * s;
        }
    }
    let total = f64::from(sum[0] + sum[1] + sum[2]).max(1e-9);
    let red_green = frame.has_colour
        && red_w > 0.1 * total
        && green_w > 0.1 * total
        && (red_s / red_w - green_s / green_w).abs() >= 1.5;
    (peak, sum, red_green)
}

/// The spread across the piece of its light above half the peak of its part along it
/// (a [`PROFILE_BINS`]-th of it), about each part's own centre, as a full width at half
/// maximum of a Gaussian of that spread (half-resolution pixels).
fn core_width(
    piece: &[usize],
    residual: &[f32],
    w: usize,
    profile: &[f32],
    c: (f64, f64),
    u: (f64, f64),
    (tmin, tmax): (f64, f64),
) -> f32 {
    let bins = profile.len();
    let span = (tmax - tmin).max(1e-9);
    let at = |i: usize| {
        let (dx, dy) = ((i % w) as f64 - c.0, (i / w) as f64 - c.1);
        let t = dx * u.0 + dy * u.1;
        let s = dy * u.0 - dx * u.1;
        let b = (((t - tmin) / span * bins as f64) as usize).min(bins - 1);
        (b, s)
    };
    let mut sw = vec![0f64; bins];
    let mut ss = vec![0f64; bins];
    for &i in piece {
        let (b, s) = at(i);
        let wgt = f64::from((residual[i] - 0.5 * profile[b]).max(0.0));
        sw[b] += wgt;
        ss[b] += wgt * s;
    }
    let (mut var, mut total) = (0f64, 0f64);
    for &i in piece {
        let (b, s) = at(i);
        if sw[b] <= 0.0 {
            continue;
        }
        let wgt = f64::from((residual[i] - 0.5 * profile[b]).max(0.0));
        let d = s - ss[b] / sw[b];
        var += wgt * d * d;
        total += wgt;
    }
    if total <= 0.0 {
        return 0.0;
    }
    (2.355 * (var / total).sqrt()) as f32
}

/// How far the piece's centre line bends away from a straight line (half-resolution
/// pixels): the spread of its pixels' mean offset across the axis, per eighth of its
/// length, around the straight line through the first and last eighths.
fn sagitta(
    piece: &[usize],
    w: usize,
    c: (f64, f64),
    u: (f64, f64),
    (tmin, tmax): (f64, f64),
) -> f32 {
    const BINS: usize = 8;
    let mut sum = [0f64; BINS];
    let mut n = [0u32; BINS];
    let span = (tmax - tmin).max(1e-9);
    for &i in piece {
        let (dx, dy) = ((i % w) as f64 - c.0, (i / w) as f64 - c.1);
        let t = dx * u.0 + dy * u.1;
        let s = dy * u.0 - dx * u.1;
        let b = (((t - tmin) / span * BINS as f64) as usize).min(BINS - 1);
        sum[b] += s;
        n[b] += 1;
    }
    let mean: Vec<Option<f64>> = (0..BINS)
        .map(|b| (n[b] > 0).then(|| sum[b] / f64::from(n[b])))
        .collect();
    let (Some(first), Some(last)) = (mean[0], mean[BINS - 1]) else {
        return 0.0;
    };
    mean.iter()
        .enumerate()
        .filter_map(|(b, m)| {
            let line = first + (last - first) * b as f64 / (BINS - 1) as f64;
            m.map(|m| (m - line).abs())
        })
        .fold(0.0, f64::max) as f32
}

/// Bright in the middle and faint at both ends.
fn tapered(profile: &[f32]) -> bool {
    let n = profile.len();
    let top = profile.iter().copied().fold(0.0f32, f32::max);
    if top <= 0.0 || n < 8 {
        return false;
    }
    let at = profile.iter().position(|&v| v == top).unwrap_or(0);
    let q = n / 6;
    let head = profile[..q].iter().sum::<f32>() / q as f32;
    let tail = profile[n - q..].iter().sum::<f32>() / q as f32;
    (q..n - q).contains(&at) && head < 0.55 * top && tail < 0.55 * top
}

/// Local maxima standing far above the profile's median and `at_least`: a strobe's
/// flashes along a plane's track (a steady satellite or a smooth meteor has none or one;
/// noise on a faint streak does not reach `at_least`).
fn periodic_peaks(profile: &[f32], at_least: f32) -> u32 {
    let mut v = profile.to_vec();
    let mid = v.len() / 2;
    let median = *v.select_nth_unstable_by(mid, f32::total_cmp).1;
    let level = (4.0 * median).max(at_least);
    let mut peaks = 0;
    for i in 1..profile.len() - 1 {
        if profile[i] > level && profile[i] >= profile[i - 1] && profile[i] > profile[i + 1] {
            peaks += 1;
        }
    }
    peaks
}

/// Gives each bin of a profile that no pixel fell in (a streak shorter than
/// [`PROFILE_BINS`] pixels leaves some empty) the value of the nearest bin before it (or
/// after it, at the start), so a short steady streak does not look like a row of flashes.
fn fill_empty_bins(profile: &mut [f32]) {
    let first = profile.iter().copied().find(|v| !v.is_nan()).unwrap_or(0.0);
    let mut last = first;
    for v in profile.iter_mut() {
        if v.is_nan() {
            *v = last;
        } else {
            last = *v;
        }
    }
}

/// Counts the dots lying along each segment (within a few pixels of its line, inside its
/// extent): a plane's strobes flash on its track, beside the navigation lights.
fn mark_flashes(found: &mut Found) {
    for s in &mut found.segments {
        let (ux, uy) = s.direction();
        let along = found
            .dots
            .iter()
            .filter(|d| {
                let t = (d.0 - s.a.0) * ux + (d.1 - s.a.1) * uy;
                t > -8.0 && t < s.length + 8.0 && s.line_distance((d.0, d.1)) < 14.0
            })
            .count() as u32;
        s.flashes = s.flashes.max(along);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_frame::pixels::Image16;
    use nightcap_frame::Cfa;

    fn frame_with(draw: impl Fn(usize, usize) -> u16, w: usize, h: usize) -> (Binned, Vec<f32>) {
        let mut img = Image16::zeroed(w as u32 * 2, h as u32 * 2, 1, Cfa::None, 12);
        for y in 0..2 * h {
            for x in 0..2 * w {
                img.data[y * 2 * w + x] = draw(x / 2, y / 2);
            }
        }
        let b = Binned::of(&img);
        let r: Vec<f32> = b.luma.iter().map(|&v| f32::from(v) - 100.0).collect();
        (b, r)
    }

    #[test]
    fn a_line_is_a_segment_with_its_ends_and_a_dot_is_a_dot() {
        // A faint diagonal line from (10, 10) to (70, 40), brighter in its middle, and a
        // bright dot at (80, 10).
        let (b, r) = frame_with(
            |x, y| {
                let on_line =
                    (10..=70).contains(&x) && (y as i64 - (10 + (x as i64 - 10) / 2)).abs() <= 0;
                if on_line {
                    let u = (x as f32 - 10.0) / 60.0;
                    100 + (20.0 + 200.0 * (std::f32::consts::PI * u).sin().powi(2)) as u16
                } else if (79..=80).contains(&x) && (10..=11).contains(&y) {
                    900
                } else {
                    100
                }
            },
            100,
            60,
        );
        let f = find(&b, &r, 2.0, 5.0);
        assert_eq!(f.segments.len(), 1, "{:?}", f.segments);
        let s = &f.segments[0];
        let ends = [s.a, s.b];
        let near = |p: (f32, f32), q: (f32, f32)| (p.0 - q.0).hypot(p.1 - q.1) < 6.0;
        assert!(ends.iter().any(|&e| near(e, (20.5, 20.5))), "{s:?}");
        assert!(ends.iter().any(|&e| near(e, (140.5, 80.5))), "{s:?}");
        assert!((s.length - 134.0).abs() < 8.0, "{}", s.length);
        assert!(s.tapered, "{:?}", s.profile);
        assert_eq!(f.dots.len(), 1);
        assert!((f.dots[0].0 - 160.0).abs() < 3.0);
    }

    #[test]
    fn a_cloudy_frame_raises_the_threshold_and_says_so() {
        // Half the frame brightened: far more than 1 % of the pixels pass.
        let (b, r) = frame_with(|x, _| if x < 50 { 160 } else { 100 }, 100, 60);
        let f = find(&b, &r, 2.0, 5.0);
        assert!(f.raised.is_some());
        assert!(f.threshold > 50.0);
    }
}
