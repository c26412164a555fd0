//! Samples: turning delivered frame bytes into numbers and back.
//!
//! Owns the packings of [`crate::Packing`]: MIPI CSI-2 packed 10/12-bit lines,
//! 16-bit little-endian words, 8-bit, YUYV, RGB24 and MJPEG. Packing and unpacking of the
//! raw packings is exact (`pack_line(unpack_line(x)) == x` for the pixel bytes of a line);
//! line padding is never part of the samples.
//!
//! [`Image16`] is the form every stacking stage works in: raw sensor formats stay in their
//! own CFA layout (one channel, colour given by [`Cfa`]), YUYV/RGB/MJPEG become 8-bit RGB.

use crate::{Cfa, Packing, PixelFormat};

/// An image of 16-bit samples, row-major, channels interleaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image16 {
    /// Pixels per line.
    pub width: u32,
    /// Lines.
    pub height: u32,
    /// 1 (mono or CFA mosaic) or 3 (RGB).
    pub channels: u8,
    /// Layout of a one-channel mosaic; `Cfa::None` otherwise.
    pub cfa: Cfa,
    /// Significant bits of every sample.
    pub bit_depth: u8,
    /// Samples, row-major, channels interleaved.
    pub data: Vec<u16>,
}

impl Image16 {
    /// An image of zeros.
    pub fn zeroed(width: u32, height: u32, channels: u8, cfa: Cfa, bit_depth: u8) -> Image16 {
        let len = width as usize * height as usize * usize::from(channels);
        Image16 {
            width,
            height,
            channels,
            cfa,
            bit_depth,
            data: vec![0; len],
        }
    }

    /// Largest sample value this image's bit depth allows.
    pub fn max_value(&self) -> u16 {
        max_for_depth(self.bit_depth)
    }

    /// Whether `other` has the same geometry and layout, so the two can be combined.
    pub fn same_shape(&self, other: &Image16) -> bool {
        self.width == other.width
            && self.height == other.height
            && self.channels == other.channels
            && self.cfa == other.cfa
    }
}

/// Largest value of a sample of `bit_depth` bits.
pub fn max_for_depth(bit_depth: u8) -> u16 {
    if bit_depth >= 16 {
        u16::MAX
    } else {
        (1u16 << bit_depth) - 1
    }
}

/// Why frame bytes could not be turned into samples.
#[derive(Debug, thiserror::Error)]
pub enum PixelError {
    #[error("frame has {got} bytes but its format needs {need}")]
    /// The frame is shorter than its format.
    Size {
        /// Bytes present.
        got: usize,
        /// Bytes the format needs.
        need: u64,
    },
    /// The JPEG decoder refused the frame.
    #[error("MJPEG frame could not be decoded: {0}")]
    Jpeg(String),
    /// MJPEG decoding was not built in.
    #[error("MJPEG frames cannot be decoded: this program was built without nightcap-frame's `mjpeg` feature")]
    NoMjpeg,
    /// The JPEG's size is not the stream's.
    #[error("MJPEG frame is {got_w}x{got_h} but the stream is {want_w}x{want_h}")]
    JpegSize {
        /// Decoded width.
        got_w: u32,
        /// Decoded height.
        got_h: u32,
        /// The stream's width.
        want_w: u32,
        /// The stream's height.
        want_h: u32,
    },
}

/// Unpacks the first `out.len()` samples of one line of MIPI CSI-2 RAW10 bytes.
/// `line` must hold at least `Packing::Csi2P10.line_bytes(out.len())` bytes.
pub fn unpack_csi2_10(line: &[u8], out: &mut [u16]) {
    // Whole groups as fixed-size arrays (no per-sample bounds checks or branches), then a
    // final partial group.
    let (groups, _) = line.as_chunks::<5>();
    let (whole, _) = out.as_chunks_mut::<4>();
    let n = groups.len().min(whole.len());
    for (g, px) in groups.iter().zip(whole.iter_mut()) {
        for i in 0..4 {
            px[i] = (u16::from(g[i]) << 2) | u16::from((g[4] >> (2 * i)) & 0x3);
        }
    }
    let mut chunks = out[4 * n..].chunks_mut(4);
    for (group, px) in line[5 * n..].chunks_exact(5).zip(&mut chunks) {
        let low = group[4];
        for (i, p) in px.iter_mut().enumerate() {
            *p = (u16::from(group[i]) << 2) | u16::from((low >> (2 * i)) & 0x3);
        }
    }
}

/// Packs samples (10 significant bits) into MIPI CSI-2 RAW10 bytes. A final partial
/// group is completed with zero samples. `line` must hold `line_bytes(samples.len())`.
pub fn pack_csi2_10(samples: &[u16], line: &mut [u8]) {
    let group = |px: &[u16], g: &mut [u8]| {
        let mut low = 0u8;
        for (i, b) in g[..4].iter_mut().enumerate() {
            let v = px.get(i).copied().unwrap_or(0) & 0x3ff;
            *b = (v >> 2) as u8;
            low |= ((v & 0x3) as u8) << (2 * i);
        }
        g[4] = low;
    };
    // Whole groups as fixed-size arrays (the decoder re-packs every line), then a final
    // partial group.
    let (groups, _) = line.as_chunks_mut::<5>();
    let (whole, _) = samples.as_chunks::<4>();
    let n = groups.len().min(whole.len());
    for (g, px) in groups.iter_mut().zip(whole) {
        group(px, g);
    }
    for (px, g) in samples[4 * n..]
        .chunks(4)
        .zip(line[5 * n..].chunks_exact_mut(5))
    {
        group(px, g);
    }
}

/// Unpacks the first `out.len()` samples of one line of MIPI CSI-2 RAW12 bytes.
pub fn unpack_csi2_12(line: &[u8], out: &mut [u16]) {
    // Four groups (12 bytes, 8 samples) at a time through one integer, so that the HQ
    // camera's native format needs no per-byte loads; then the remaining groups.
    let (blocks, _) = line.as_chunks::<12>();
    let (sample_blocks, _) = out.as_chunks_mut::<8>();
    let n = blocks.len().min(sample_blocks.len());
    for (b, s) in blocks.iter().zip(sample_blocks.iter_mut()) {
        let mut wide = [0u8; 16];
        wide[..12].copy_from_slice(b);
        let v = u128::from_le_bytes(wide);
        for k in 0..4 {
            let g = (v >> (24 * k)) as u32;
            s[2 * k] = (((g & 0xff) << 4) | ((g >> 16) & 0xf)) as u16;
            s[2 * k + 1] = ((((g >> 8) & 0xff) << 4) | ((g >> 20) & 0xf)) as u16;
        }
    }
    let mut chunks = out[8 * n..].chunks_mut(2);
    for (group, px) in line[12 * n..].chunks_exact(3).zip(&mut chunks) {
        let low = group[2];
        px[0] = (u16::from(group[0]) << 4) | u16::from(low & 0xf);
        if let Some(p1) = px.get_mut(1) {
            *p1 = (u16::from(group[1]) << 4) | u16::from(low >> 4);
        }
    }
}

/// Packs samples (12 significant bits) into MIPI CSI-2 RAW12 bytes; a final odd sample is
/// completed with a zero sample. Bits above the 12th are dropped.
pub fn pack_csi2_12(samples: &[u16], line: &mut [u8]) {
    // Four groups (8 samples, 12 bytes) at a time through one integer, as the unpacking;
    // then the remaining groups.
    let (blocks, _) = line.as_chunks_mut::<12>();
    let (sample_blocks, _) = samples.as_chunks::<8>();
    let n = blocks.len().min(sample_blocks.len());
    let group = |a: u16, b: u16| -> u128 {
        let (a, b) = (u128::from(a), u128::from(b));
        ((a >> 4) & 0xff) | (((b >> 4) & 0xff) << 8) | (((a & 0xf) | ((b & 0xf) << 4)) << 16)
    };
    for (b, s) in blocks.iter_mut().zip(sample_blocks) {
        let v = group(s[0], s[1])
            | (group(s[2], s[3]) << 24)
            | (group(s[4], s[5]) << 48)
            | (group(s[6], s[7]) << 72);
        b.copy_from_slice(&v.to_le_bytes()[..12]);
    }
    for (px, g) in samples[8 * n..]
        .chunks(2)
        .zip(line[12 * n..].chunks_exact_mut(3))
    {
        let a = px[0] & 0xfff;
        let b = px.get(1).copied().unwrap_or(0) & 0xfff;
        g[0] = (a >> 4) as u8;
        g[1] = (b >> 4) as u8;
        g[2] = ((a & 0xf) as u8) | (((b & 0xf) as u8) << 4);
    }
}

/// Packs one-channel samples (`width * height`, row-major) into a frame of `format`,
/// with zeroed line padding. Only for the raw packings (U8, U16Le, CSI-2 10/12).
///
/// # Panics
/// If `format` is not a raw packing or `samples` has the wrong length (a programming
/// error: sources build their own samples).
pub fn pack_frame(format: &PixelFormat, samples: &[u16]) -> Vec<u8> {
    let (w, h, stride) = (
        format.width as usize,
        format.height as usize,
        format.stride as usize,
    );
    assert_eq!(samples.len(), w * h, "sample count must match the format");
    let mut out = vec![0u8; stride * h];
    for (row, line) in samples.chunks_exact(w).zip(out.chunks_exact_mut(stride)) {
        match format.packing {
            Packing::U8 => line[..w]
                .iter_mut()
                .zip(row)
                .for_each(|(b, &s)| *b = s as u8),
            Packing::U16Le => line[..2 * w]
                .chunks_exact_mut(2)
                .zip(row)
                .for_each(|(b, &s)| b.copy_from_slice(&s.to_le_bytes())),
            Packing::Csi2P10 => pack_csi2_10(row, line),
            Packing::Csi2P12 => pack_csi2_12(row, line),
            other => panic!("pack_frame does not handle {other:?}"),
        }
    }
    out
}

/// The channels and CFA of a frame's samples: 3 and none for the RGB packings (YUYV
/// included), 1 and the stream's CFA otherwise.
pub fn sample_layout(format: &PixelFormat) -> (u8, Cfa) {
    match format.packing {
        Packing::Yuyv | Packing::Rgb24 | Packing::Rgb48 | Packing::Mjpeg => (3, Cfa::None),
        _ => (1, format.cfa),
    }
}

/// Turns the bytes of one frame into an [`Image16`] (see the module docs for layouts).
pub fn to_image16(format: &PixelFormat, data: &[u8]) -> Result<Image16, PixelError> {
    if format.packing == Packing::Mjpeg {
        return decode_mjpeg(format, data);
    }
    let need = format.max_frame_bytes();
    if (data.len() as u64) < need {
        return Err(PixelError::Size {
            got: data.len(),
            need,
        });
    }
    let (w, stride) = (format.width as usize, format.stride as usize);
    let (channels, cfa) = sample_layout(format);
    let mut img = Image16::zeroed(format.width, format.height, channels, cfa, format.bit_depth);
    let row_len = w * usize::from(channels);
    for (line, row) in data.chunks(stride).zip(img.data.chunks_exact_mut(row_len)) {
        unpack_line(format.packing, line, row);
    }
    Ok(img)
}

/// One delivered line of `packing` to samples: `row` holds the line's samples (width
/// times 3 for the RGB packings, YUYV included), padding bytes are ignored. The one way
/// from frame bytes to samples: [`to_image16`] and the journal's band decoder both use
/// it. MJPEG frames have no lines (they decode whole, in [`to_image16`]): `row` is left
/// as it is.
pub fn unpack_line(packing: Packing, line: &[u8], row: &mut [u16]) {
    match packing {
        Packing::U8 => row.iter_mut().zip(line).for_each(|(s, &b)| *s = b.into()),
        Packing::U16Le | Packing::Rgb48 => row
            .iter_mut()
            .zip(line.chunks_exact(2))
            .for_each(|(s, b)| *s = u16::from_le_bytes([b[0], b[1]])),
        Packing::Csi2P10 => unpack_csi2_10(line, row),
        Packing::Csi2P12 => unpack_csi2_12(line, row),
        Packing::Rgb24 => row.iter_mut().zip(line).for_each(|(s, &b)| *s = b.into()),
        Packing::Yuyv => {
            for (px, yuyv) in row.chunks_exact_mut(6).zip(line.chunks_exact(4)) {
                let (u, v) = (yuyv[1], yuyv[3]);
                px[..3].copy_from_slice(&yuv_to_rgb(yuyv[0], u, v));
                px[3..].copy_from_slice(&yuv_to_rgb(yuyv[2], u, v));
            }
        }
        Packing::Mjpeg => {}
    }
}

/// Pixels `x0..x0 + n` of one delivered line of `packing` to samples (`n` pixels times
/// 3 for the RGB packings) at the start of `out`, unpacking only the packing groups that
/// hold them (a keogram column without unpacking whole lines). `false` when the line is
/// too short or the packing has no lines (MJPEG).
pub fn unpack_span(packing: Packing, line: &[u8], x0: usize, n: usize, out: &mut [u16]) -> bool {
    // (pixels per group, bytes per group, samples per pixel)
    let (ppg, bpg, spp) = match packing {
        Packing::U8 => (1, 1, 1),
        Packing::U16Le => (1, 2, 1),
        Packing::Csi2P10 => (4, 5, 1),
        Packing::Csi2P12 => (2, 3, 1),
        Packing::Yuyv => (2, 4, 3),
        Packing::Rgb24 => (1, 3, 3),
        Packing::Rgb48 => (1, 6, 3),
        Packing::Mjpeg => return false,
    };
    let (g0, g1) = (x0 / ppg, (x0 + n).div_ceil(ppg));
    let Some(bytes) = line.get(g0 * bpg..g1 * bpg) else {
        return false;
    };
    if out.len() < n * spp {
        return false;
    }
    let mut tmp = [0u16; 24];
    let mut owned = Vec::new();
    let need = (g1 - g0) * ppg * spp;
    let buf: &mut [u16] = if need <= tmp.len() {
        &mut tmp[..need]
    } else {
        owned.resize(need, 0);
        &mut owned
    };
    unpack_line(packing, bytes, buf);
    let skip = (x0 - g0 * ppg) * spp;
    out[..n * spp].copy_from_slice(&buf[skip..skip + n * spp]);
    true
}

/// BT.601 limited-range YCbCr to 8-bit RGB (what webcams deliver).
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u16; 3] {
    let c = (i32::from(y) - 16) * 298;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u16;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

#[cfg(not(feature = "mjpeg"))]
fn decode_mjpeg(_: &PixelFormat, _: &[u8]) -> Result<Image16, PixelError> {
    Err(PixelError::NoMjpeg)
}

#[cfg(feature = "mjpeg")]
fn decode_mjpeg(format: &PixelFormat, data: &[u8]) -> Result<Image16, PixelError> {
    let img = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
        .map_err(|e| PixelError::Jpeg(e.to_string()))?
        .into_rgb8();
    if img.width() != format.width || img.height() != format.height {
        return Err(PixelError::JpegSize {
            got_w: img.width(),
            got_h: img.height(),
            want_w: format.width,
            want_h: format.height,
        });
    }
    Ok(Image16 {
        width: format.width,
        height: format.height,
        channels: 3,
        cfa: Cfa::None,
        bit_depth: 8,
        data: img.into_raw().into_iter().map(u16::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_unpacks_as_the_whole_line_does() {
        let width = 14usize;
        for packing in [
            Packing::U8,
            Packing::U16Le,
            Packing::Csi2P10,
            Packing::Csi2P12,
            Packing::Yuyv,
            Packing::Rgb24,
            Packing::Rgb48,
        ] {
            let bytes = packing.line_bytes(width as u32).unwrap() as usize;
            let line: Vec<u8> = (0..bytes).map(|i| (i * 37 + 11) as u8).collect();
            let spp = if matches!(packing, Packing::Yuyv | Packing::Rgb24 | Packing::Rgb48) {
                3
            } else {
                1
            };
            let mut whole = vec![0u16; width * spp];
            unpack_line(packing, &line, &mut whole);
            for x0 in 0..width {
                for n in 1..=(width - x0).min(3) {
                    let mut out = vec![0u16; n * spp];
                    assert!(unpack_span(packing, &line, x0, n, &mut out), "{packing:?}");
                    assert_eq!(out, whole[x0 * spp..(x0 + n) * spp], "{packing:?} {x0} {n}");
                }
            }
            let mut out = [0u16; 3];
            assert!(!unpack_span(packing, &line[..1], width - 1, 1, &mut out));
        }
    }
    use proptest::prelude::*;

    fn fmt(packing: Packing, width: u32, height: u32, bit_depth: u8, pad: u32) -> PixelFormat {
        let stride = packing.line_bytes(width).unwrap() as u32 + pad;
        PixelFormat {
            fourcc: *b"TEST",
            width,
            height,
            stride,
            bit_depth,
            cfa: Cfa::Rggb,
            packing,
        }
    }

    #[test]
    fn raw10_known_bytes() {
        // 0x3ff, 0x000, 0x155, 0x2aa: high bytes then low bits 11,00,01,10.
        let mut line = [0u8; 5];
        pack_csi2_10(&[0x3ff, 0x000, 0x155, 0x2aa], &mut line);
        assert_eq!(line, [0xff, 0x00, 0x55, 0xaa, 0b10_01_00_11]);
        let mut out = [0u16; 4];
        unpack_csi2_10(&line, &mut out);
        assert_eq!(out, [0x3ff, 0x000, 0x155, 0x2aa]);
    }

    #[test]
    fn raw12_known_bytes() {
        let mut line = [0u8; 3];
        pack_csi2_12(&[0xabc, 0x123], &mut line);
        assert_eq!(line, [0xab, 0x12, 0x3c]);
        let mut out = [0u16; 2];
        unpack_csi2_12(&line, &mut out);
        assert_eq!(out, [0xabc, 0x123]);
    }

    proptest! {
        #[test]
        fn packed_frames_round_trip(
            width in 1u32..40, height in 1u32..6, pad in 0u32..9,
            which in 0usize..4, seed in any::<u64>(),
        ) {
            let (packing, depth) = [
                (Packing::U8, 8), (Packing::U16Le, 12), (Packing::Csi2P10, 10), (Packing::Csi2P12, 12),
            ][which];
            let f = fmt(packing, width, height, depth, pad);
            let mut x = seed | 1;
            let samples: Vec<u16> = (0..width * height)
                .map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x as u16) & max_for_depth(depth) })
                .collect();
            let bytes = pack_frame(&f, &samples);
            prop_assert_eq!(bytes.len() as u64, f.max_frame_bytes());
            let img = to_image16(&f, &bytes).unwrap();
            prop_assert_eq!(img.data, samples);
        }
    }

    #[test]
    fn unpacking_matches_a_sample_by_sample_reading_at_every_length() {
        let line: Vec<u8> = (0..200u32).map(|i| (i * 97 + 13) as u8).collect();
        for n in 0..=64usize {
            let mut got = vec![0u16; n];
            unpack_csi2_12(&line, &mut got);
            let want: Vec<u16> = (0..n)
                .map(|i| {
                    let g = &line[3 * (i / 2)..];
                    (u16::from(g[i % 2]) << 4) | u16::from((g[2] >> (4 * (i % 2))) & 0xf)
                })
                .collect();
            assert_eq!(got, want, "raw12, {n} samples");
            let mut got = vec![0u16; n];
            unpack_csi2_10(&line, &mut got);
            let want: Vec<u16> = (0..n)
                .map(|i| {
                    let g = &line[5 * (i / 4)..];
                    (u16::from(g[i % 4]) << 2) | u16::from((g[4] >> (2 * (i % 4))) & 3)
                })
                .collect();
            assert_eq!(got, want, "raw10, {n} samples");
        }
    }

    #[test]
    fn short_frame_is_an_error_not_a_panic() {
        let f = fmt(Packing::Csi2P12, 8, 4, 12, 4);
        let err = to_image16(&f, &[0u8; 10]).unwrap_err();
        assert!(matches!(err, PixelError::Size { got: 10, need: 64 }));
    }

    #[test]
    fn yuyv_grey_stays_grey() {
        let mut f = fmt(Packing::Yuyv, 2, 1, 8, 0);
        f.cfa = Cfa::None;
        let img = to_image16(&f, &[126, 128, 235, 128]).unwrap();
        assert_eq!(img.channels, 3);
        assert_eq!(&img.data[..3], &[128, 128, 128]);
        assert_eq!(&img.data[3..], &[255, 255, 255]);
    }
}
