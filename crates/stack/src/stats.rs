//! Per-frame statistics, measured once: what the capture workers store in each frame's
//! STATS record (`formats/segment.md`, 3.4a) and what readers compute for frames that
//! have none (journals older than format 1.2, imported frames), by the same function on
//! the same rows, so stored and computed figures agree exactly.
//!
//! Promises:
//! - The figures are those cloud rejection judges ([`crate::reject`]): on 2x2 cells, the
//!   median cell (the sky), the robust noise of a cell, the fraction of bright cells and
//!   the stars; plus the median sample per colour and the fraction of saturated samples.
//! - Bounded work: a frame of more than [`MAX_CELLS`] cells is measured on evenly spaced
//!   bands of [`BAND_ROWS`] cell rows that together hold at most that many cells (a
//!   third of a 12 MP frame), unpacked from the delivered bytes band by band; the
//!   background and saturation on every 16th pixel of those rows.
//! - The keogram column (the 2-pixel band at the frame's centre, as
//!   [`crate::products::keogram_column`] makes it) is unpacked from the two pixels of
//!   every line only, and averaged down to at most [`MAX_STATS_ROWS`] rows: the status
//!   page draws the night's keogram from it without decoding frames.
//! - Never panics on any bytes: a frame that does not match its format is not measured.

use nightcap_frame::pixels::{
    max_for_depth, sample_layout, to_image16, unpack_line, unpack_span, Image16,
};
use nightcap_frame::{Cfa, Packing, PixelFormat};
pub use nightcap_journal::format::{FrameStats, MAX_STATS_ROWS};

use crate::products::keogram_column;
use crate::stars::Cells;

/// Frames with more 2x2 cells than this are measured on bands of rows.
pub const MAX_CELLS: usize = 1 << 20;
/// Cell rows (twice as many pixel rows) per band.
pub const BAND_ROWS: usize = 16;

/// The shape of a frame's samples.
#[derive(Debug, Clone, Copy)]
struct Shape {
    width: usize,
    height: usize,
    channels: usize,
    cfa: Cfa,
    bit_depth: u8,
}

/// Measures a frame from its bytes as delivered (an MJPEG frame is decoded whole).
/// `None` when the bytes do not hold a frame of `format`.
pub fn measure(format: &PixelFormat, raw: &[u8]) -> Option<FrameStats> {
    if format.packing == Packing::Mjpeg {
        return to_image16(format, raw).ok().map(|img| measure_image(&img));
    }
    if (raw.len() as u64) < format.max_frame_bytes() {
        return None;
    }
    let (channels, cfa) = sample_layout(format);
    let shape = Shape {
        width: format.width as usize,
        height: format.height as usize,
        channels: usize::from(channels),
        cfa,
        bit_depth: format.bit_depth,
    };
    let stride = format.stride as usize;
    let line = |y: usize| raw.get(y * stride..(y + 1) * stride).unwrap_or(&[]);
    Some(measure_with(
        shape,
        &mut |y, row| unpack_line(format.packing, line(y), row),
        &mut |y, x0, n, out| {
            unpack_span(format.packing, line(y), x0, n, out);
        },
    ))
}

/// Measures a frame already in samples: the same figures [`measure`] gives for its bytes.
pub fn measure_image(img: &Image16) -> FrameStats {
    let shape = Shape {
        width: img.width as usize,
        height: img.height as usize,
        channels: usize::from(img.channels.max(1)),
        cfa: img.cfa,
        bit_depth: img.bit_depth,
    };
    let row_len = shape.width * shape.channels;
    if img.data.len() != row_len * shape.height {
        return FrameStats::default();
    }
    let ch = shape.channels;
    measure_with(
        shape,
        &mut |y, row| row.copy_from_slice(&img.data[y * row_len..(y + 1) * row_len]),
        &mut |y, x0, n, out| {
            let at = y * row_len + x0 * ch;
            out[..n * ch].copy_from_slice(&img.data[at..at + n * ch]);
        },
    )
}

/// The cell rows measured: all, or evenly spaced bands holding at most [`MAX_CELLS`].
fn bands(cell_width: usize, cell_rows: usize) -> Vec<std::ops::Range<usize>> {
    if cell_width * cell_rows <= MAX_CELLS || cell_rows <= BAND_ROWS {
        return std::iter::once(0..cell_rows).collect();
    }
    let n = (MAX_CELLS / (cell_width * BAND_ROWS)).clamp(1, cell_rows / BAND_ROWS);
    let free = cell_rows - BAND_ROWS;
    (0..n)
        .map(|i| {
            let start = if n == 1 { free / 2 } else { i * free / (n - 1) };
            start..start + BAND_ROWS
        })
        .collect()
}

/// Pixels `x0..x0 + n` of row `y` into the start of a buffer.
type Span<'a> = dyn FnMut(usize, usize, usize, &mut [u16]) + 'a;

/// The measurement, from `row(y, samples)` (a whole row of samples) and
/// `span(y, x0, n, samples)` (pixels `x0..x0+n` of row `y`).
fn measure_with(
    s: Shape,
    row: &mut dyn FnMut(usize, &mut [u16]),
    span: &mut Span<'_>,
) -> FrameStats {
    let mut stats = FrameStats::default();
    if s.width == 0 || s.height == 0 {
        return stats;
    }
    column(s, span, &mut stats);
    let (cw, chh) = (s.width / 2, s.height / 2);
    if cw < 5 || chh < 5 {
        return stats;
    }
    let max = max_for_depth(s.bit_depth);
    let row_len = s.width * s.channels;
    let mut per_colour: [Vec<u16>; 3] = Default::default();
    let (mut saturated, mut sampled) = (0u64, 0u64);
    let mut bands_cells = Vec::new();
    for band in bands(cw, chh) {
        let rows = 2 * band.len();
        let mut img = Image16::zeroed(
            s.width as u32,
            rows as u32,
            s.channels as u8,
            s.cfa,
            s.bit_depth,
        );
        for (i, samples) in img.data.chunks_exact_mut(row_len).enumerate() {
            let y = 2 * band.start + i;
            row(y, samples);
            // Every 16th pixel of each row, starting one pixel later every other pair
            // of rows: every colour of a 2x2 mosaic is sampled.
            for x in ((i >> 1) & 1..s.width).step_by(16) {
                for c in 0..s.channels {
                    let v = samples[x * s.channels + c];
                    let colour = match (s.channels, s.cfa.colour_at(x, y)) {
                        (3, _) => c,
                        (_, Some(k)) => k,
                        _ => 1,
                    };
                    per_colour[colour].push(v);
                    sampled += 1;
                    saturated += u64::from(v >= max);
                }
            }
        }
        if let Some(cells) = Cells::of(&img) {
            bands_cells.push(cells);
        }
    }
    let Some(first) = bands_cells.first() else {
        return stats;
    };
    // All bands as one grid for the sky and the noise (horizontal differences only);
    // stars band by band (a star's ring must not straddle two bands).
    let all = Cells {
        width: first.width,
        height: bands_cells.iter().map(|c| c.height).sum(),
        values: bands_cells
            .iter()
            .flat_map(|c| c.values.iter().copied())
            .collect(),
    };
    // Medians of integers (cell sums and their differences), on at most about 200 000
    // of each.
    let step = (all.values.len() / 200_000).max(1);
    let mut sample: Vec<u32> = all.values.iter().step_by(step).copied().collect();
    let sky = f64::from(median_u32(&mut sample));
    let mut diffs: Vec<u32> = all
        .values
        .chunks_exact(all.width)
        .step_by(step)
        .flat_map(|row| row.windows(2).map(|p| p[0].abs_diff(p[1])))
        .collect();
    let noise = (1.4826 * f64::from(median_u32(&mut diffs)) / std::f64::consts::SQRT_2).max(1.0);
    let bright = sample
        .iter()
        .filter(|&&v| f64::from(v) > sky + 20.0 * noise)
        .count();
    stats.cells = all.values.len() as u32;
    stats.stars = bands_cells
        .iter()
        .map(|c| c.stars(noise).len() as u32)
        .sum();
    stats.sky = sky as f32;
    stats.noise = noise as f32;
    stats.bright_fraction = (bright as f64 / sample.len().max(1) as f64) as f32;
    stats.saturated_fraction = (saturated as f64 / sampled.max(1) as f64) as f32;
    let mono = s.channels == 1 && s.cfa == Cfa::None;
    let mut background = [0f32; 3];
    for (c, v) in per_colour.iter_mut().enumerate() {
        if !v.is_empty() {
            let mid = v.len() / 2;
            background[c] = f32::from(*v.select_nth_unstable(mid).1);
        }
    }
    stats.background = if mono { [background[1]; 3] } else { background };
    stats
}

/// The median of `v` (element `len/2` in order; reordered in place), 0 for none.
fn median_u32(v: &mut [u32]) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable(mid).1
}

/// The keogram column at the frame's centre (2 pixels wide in a mosaic, binned to RGB),
/// averaged down to at most [`MAX_STATS_ROWS`] rows.
fn column(s: Shape, span: &mut Span<'_>, stats: &mut FrameStats) {
    let mosaic = s.channels == 1 && s.cfa != Cfa::None && s.width >= 2;
    let (x0, n) = if mosaic {
        (((s.width / 2).min(s.width - 2)) & !1, 2)
    } else {
        ((s.width / 2).min(s.width - 1), 1)
    };
    let mut band = Image16::zeroed(
        n as u32,
        s.height as u32,
        s.channels as u8,
        s.cfa,
        s.bit_depth,
    );
    for (y, px) in band.data.chunks_exact_mut(n * s.channels).enumerate() {
        span(y, x0, n, px);
    }
    let col = shrink_column(&keogram_column(&band, 0), usize::from(MAX_STATS_ROWS));
    stats.column_channels = col.channels;
    stats.column = col.data;
}

/// A keogram column averaged down (whole boxes of rows) to at most `max_rows` rows.
pub fn shrink_column(col: &Image16, max_rows: usize) -> Image16 {
    let k = (col.height as usize).div_ceil(max_rows.max(1)).max(1);
    if k == 1 {
        return col.clone();
    }
    let ch = usize::from(col.channels);
    let h = col.height as usize / k;
    let mut out = Image16::zeroed(1, h as u32, col.channels, col.cfa, col.bit_depth);
    for y in 0..h {
        for c in 0..ch {
            let sum: u32 = (0..k)
                .map(|i| u32::from(col.data[(y * k + i) * ch + c]))
                .sum();
            out.data[y * ch + c] = (sum / k as u32) as u16;
        }
    }
    out
}

/// The keogram column a STATS record holds, as an image one pixel wide (`None` when the
/// record has none).
pub fn column_image(stats: &FrameStats, bit_depth: u8) -> Option<Image16> {
    let rows = stats.column_rows();
    (rows > 0).then(|| Image16 {
        width: 1,
        height: rows as u32,
        channels: stats.column_channels,
        cfa: Cfa::None,
        bit_depth,
        data: stats.column.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};

    fn sim_frame(sensor: SensorPreset, index: u64) -> (PixelFormat, Vec<u8>) {
        let cfg = SimConfig {
            sensor,
            seed: 3,
            ..SimConfig::default()
        };
        let mut raw = Vec::new();
        SimSky::render(&cfg, index, &mut raw);
        (cfg.format(), raw)
    }

    /// The capture workers measure the delivered bytes, readers of old journals the
    /// decoded samples: both give the same figures, bit for bit, on every sensor.
    #[test]
    fn bytes_and_samples_give_the_same_figures() {
        for sensor in [
            SensorPreset::Imx477,
            SensorPreset::Ov5647,
            SensorPreset::Webcam,
            SensorPreset::Small,
            SensorPreset::Tiny,
        ] {
            let (format, raw) = sim_frame(sensor, 7);
            let from_bytes = measure(&format, &raw).unwrap();
            let img = to_image16(&format, &raw).unwrap();
            assert_eq!(from_bytes, measure_image(&img), "{sensor:?}");
            // The keogram column is the products' own, averaged down.
            let col = shrink_column(
                &keogram_column(&img, img.width / 2),
                usize::from(MAX_STATS_ROWS),
            );
            assert_eq!(from_bytes.column, col.data, "{sensor:?}");
            assert!(from_bytes.column_rows() <= usize::from(MAX_STATS_ROWS));
            assert!(from_bytes.cells > 0, "{sensor:?}");
            assert!(from_bytes.sky > 0.0 && from_bytes.noise > 0.0, "{sensor:?}");
        }
    }

    /// A 12 MP frame is measured on bands: at most MAX_CELLS cells, spread from the top
    /// of the frame to its bottom, and its stars are found in them.
    #[test]
    fn a_large_frame_is_measured_on_bands_spread_over_it() {
        let (format, raw) = sim_frame(SensorPreset::Imx477, 3);
        let s = measure(&format, &raw).unwrap();
        assert!(
            s.cells as usize <= MAX_CELLS && s.cells as usize > MAX_CELLS / 2,
            "{s:?}"
        );
        let b = bands(format.width as usize / 2, format.height as usize / 2);
        assert_eq!(b.first().unwrap().start, 0);
        assert_eq!(b.last().unwrap().end, format.height as usize / 2);
        assert!(s.stars > 20, "{s:?}");
    }

    #[test]
    fn background_per_colour_and_saturation_are_measured() {
        // An RGGB mosaic: red 100, green 200, blue 300, a quarter of the frame clipped.
        let (w, h) = (64u32, 48u32);
        let mut img = Image16::zeroed(w, h, 1, Cfa::Rggb, 12);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let v = [100, 200, 200, 300][(y & 1) * 2 + (x & 1)];
                img.data[y * w as usize + x] = if y < 12 { 4095 } else { v };
            }
        }
        let s = measure_image(&img);
        assert_eq!(s.background, [100.0, 200.0, 300.0]);
        assert!((s.saturated_fraction - 0.25).abs() < 0.01, "{s:?}");
        assert_eq!(s.column_channels, 3);
        assert_eq!(s.column_rows(), 24);
        // Mono: one background for all three.
        let mono = Image16 {
            cfa: Cfa::None,
            ..img.clone()
        };
        let m = measure_image(&mono);
        assert_eq!(m.background[0], m.background[1]);
        assert_eq!(m.background[1], m.background[2]);
    }

    #[test]
    fn bytes_that_do_not_hold_a_frame_are_not_measured() {
        let (format, raw) = sim_frame(SensorPreset::Tiny, 0);
        assert!(measure(&format, &raw[..raw.len() - 1]).is_none());
        let tiny = Image16::zeroed(3, 3, 1, Cfa::Rggb, 8);
        assert_eq!(measure_image(&tiny).cells, 0);
        let wrong = Image16 {
            data: vec![0; 5],
            ..tiny
        };
        assert_eq!(measure_image(&wrong), FrameStats::default());
    }
}
