//! Simulated sensors: each preset's native stream format and its electrical model
//! (black level, conversion gain, read noise, dark current), and the last step of a
//! frame — electrons to noisy, clipped ADU, packed into the delivered line layout.
//!
//! Formats are what the real device delivers through V4L2 (unicam / USB UVC), including
//! line padding, so everything downstream is exercised on realistic bytes. Packing uses
//! [`nightcap_frame::pixels`]; padding bytes are always zero.

use std::fmt;
use std::str::FromStr;

use nightcap_frame::pixels::{max_for_depth, pack_csi2_10, pack_csi2_12};
use nightcap_frame::{Cfa, Packing, PixelFormat};

use super::rng::{gaussian_table, hash2, mix};

/// A simulated camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorPreset {
    /// Raspberry Pi HQ camera (Sony IMX477).
    Imx477,
    /// Raspberry Pi camera v2 (Sony IMX219).
    Imx219,
    /// Raspberry Pi camera v1 (OmniVision OV5647).
    Ov5647,
    /// A USB webcam delivering processed YUYV.
    Webcam,
    /// Small 16-bit-word raw frames for tests.
    Small,
    /// Very small packed raw frames with line padding, for fast tests.
    Tiny,
}

/// One row of the preset table.
struct Spec {
    preset: SensorPreset,
    name: &'static str,
    format: PixelFormat,
    model: SensorModel,
}

/// Electrical model of a sensor at unity gain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SensorModel {
    /// Black level (pedestal) in ADU.
    pub black_adu: f32,
    /// ADU per electron at gain 1000 milli; scales linearly with gain.
    pub adu_per_e: f32,
    /// Read noise, electrons RMS.
    pub read_noise_e: f32,
    /// Dark current, electrons per second per pixel.
    pub dark_e_per_s: f32,
}

const fn fmt(
    fourcc: &[u8; 4],
    width: u32,
    height: u32,
    stride: u32,
    bit_depth: u8,
    cfa: Cfa,
    packing: Packing,
) -> PixelFormat {
    PixelFormat {
        fourcc: *fourcc,
        width,
        height,
        stride,
        bit_depth,
        cfa,
        packing,
    }
}

const fn model(black_adu: f32, adu_per_e: f32, read_noise_e: f32, dark: f32) -> SensorModel {
    SensorModel {
        black_adu,
        adu_per_e,
        read_noise_e,
        dark_e_per_s: dark,
    }
}

use Cfa::{Bggr, Gbrg, Rggb};
use Packing::{Csi2P10, Csi2P12, U16Le, Yuyv};

/// The presets. Strides: the Pi's unicam driver pads packed lines to a multiple of 32
/// bytes (IMX477 6084 -> 6112, IMX219 4100 -> 4128, OV5647 3240 -> 3264); the webcam's
/// YUYV lines are unpadded; `Small` is unpacked 16-bit words (`RG12`, 2 bytes a pixel);
/// `Tiny` pads its 96-byte lines to 128 (a 64-byte alignment) so padding is exercised
/// even in the smallest tests. Bayer orders are what each sensor reads out unflipped
/// on the Pi (IMX219 is BGGR, OV5647 GBRG). Black levels are the drivers' (256 for 12-bit
/// IMX477, 64 for 10-bit); conversion gains are chosen so a 5 s exposure at gain 4 puts
/// a suburban sky a little above black, as in real night frames.
const PRESETS: [Spec; 6] = [
    Spec {
        preset: SensorPreset::Imx477,
        name: "imx477",
        format: fmt(b"pRCC", 4056, 3040, 6112, 12, Rggb, Csi2P12),
        model: model(256.0, 0.25, 3.0, 0.5),
    },
    Spec {
        preset: SensorPreset::Imx219,
        name: "imx219",
        format: fmt(b"pBAA", 3280, 2464, 4128, 10, Bggr, Csi2P10),
        model: model(64.0, 0.0625, 2.5, 0.8),
    },
    Spec {
        preset: SensorPreset::Ov5647,
        name: "ov5647",
        format: fmt(b"pGAA", 2592, 1944, 3264, 10, Gbrg, Csi2P10),
        model: model(64.0, 0.0625, 4.0, 1.5),
    },
    Spec {
        preset: SensorPreset::Webcam,
        name: "webcam",
        format: fmt(b"YUYV", 1920, 1080, 3840, 8, Cfa::None, Yuyv),
        model: model(4.0, 0.02, 5.0, 2.0),
    },
    Spec {
        preset: SensorPreset::Small,
        name: "small",
        format: fmt(b"RG12", 320, 240, 640, 12, Rggb, U16Le),
        model: model(256.0, 0.25, 3.0, 0.5),
    },
    Spec {
        preset: SensorPreset::Tiny,
        name: "tiny",
        format: fmt(b"pRCC", 64, 48, 128, 12, Rggb, Csi2P12),
        model: model(256.0, 0.25, 3.0, 0.5),
    },
];

const NAMES: [&str; 6] = ["imx477", "imx219", "ov5647", "webcam", "small", "tiny"];

impl SensorPreset {
    /// The preset with this name (case-insensitive), as listed by [`names`](Self::names).
    pub fn from_name(name: &str) -> Option<SensorPreset> {
        PRESETS
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
            .map(|s| s.preset)
    }

    /// Every preset name, for help text and error messages.
    pub fn names() -> &'static [&'static str] {
        &NAMES
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The native stream format this preset delivers.
    pub fn format(self) -> PixelFormat {
        self.spec().format
    }

    /// The frame sizes this preset can stream, largest (native) first: the full sensor
    /// and the binned modes the Pi's drivers offer (IMX477 2028x1520 and 1332x990,
    /// IMX219 1640x1232, OV5647 1296x972), a webcam's smaller sizes.
    pub fn sizes(self) -> &'static [(u32, u32)] {
        match self {
            SensorPreset::Imx477 => &[(4056, 3040), (2028, 1520), (1332, 990)],
            SensorPreset::Imx219 => &[(3280, 2464), (1640, 1232)],
            SensorPreset::Ov5647 => &[(2592, 1944), (1296, 972)],
            SensorPreset::Webcam => &[(1920, 1080), (1280, 720), (640, 480)],
            SensorPreset::Small => &[(320, 240)],
            SensorPreset::Tiny => &[(64, 48)],
        }
    }

    /// The stream format at one of [`sizes`](Self::sizes) (a binned mode sees the same
    /// field with fewer, larger pixels); `None` for a size the preset does not offer.
    /// Lines are padded as the native format's are.
    pub fn format_at(self, size: (u32, u32)) -> Option<PixelFormat> {
        let native = self.format();
        if size == (native.width, native.height) {
            return Some(native);
        }
        if !self.sizes().contains(&size) {
            return None;
        }
        let line = u32::try_from(native.packing.line_bytes(size.0)?).ok()?;
        let padded = Some(u64::from(native.stride)) != native.packing.line_bytes(native.width);
        let align = if padded { 32 } else { 1 };
        let format = PixelFormat {
            width: size.0,
            height: size.1,
            stride: line.div_ceil(align) * align,
            ..native
        };
        format.validate().ok()?;
        Some(format)
    }

    pub(crate) fn model(self) -> SensorModel {
        self.spec().model
    }

    fn spec(self) -> &'static Spec {
        // The table has one row per variant, in declaration order (checked by a test).
        &PRESETS[self as usize]
    }
}

/// A sensor preset name that is not in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown simulated sensor `{name}`: use one of {}", NAMES.join(", "))]
pub struct UnknownPreset {
    pub name: String,
}

impl FromStr for SensorPreset {
    type Err = UnknownPreset;

    fn from_str(name: &str) -> Result<SensorPreset, UnknownPreset> {
        SensorPreset::from_name(name).ok_or_else(|| UnknownPreset {
            name: name.to_string(),
        })
    }
}

impl fmt::Display for SensorPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Converts electrons to ADU for one exposure: noise, gain, black level, clipping.
pub(crate) struct Quantizer {
    black: f32,
    adu_per_e: f32,
    read_var: f32,
    max: f32,
    /// Per-frame key: noise differs between frames but not between renders of one.
    key: u64,
}

impl Quantizer {
    pub fn new(model: &SensorModel, gain_milli: u32, bit_depth: u8, key: u64) -> Quantizer {
        Quantizer {
            black: model.black_adu,
            adu_per_e: model.adu_per_e * gain_milli as f32 / 1000.0,
            read_var: model.read_noise_e * model.read_noise_e,
            max: f32::from(max_for_depth(bit_depth)),
            key,
        }
    }

    /// Turns expected electrons `signal` into noisy samples. `stream` identifies the
    /// row (and plane) so every pixel draws its own deviate: photon shot noise and read
    /// noise together as one Gaussian of variance `signal + read²` (a good Poisson
    /// approximation above a few electrons).
    pub fn quantize(&self, signal: &[f32], stream: u64, out: &mut [u16]) {
        // Blocks of deviates first, then a branch-free loop the compiler vectorises.
        const BLOCK: usize = 256;
        const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
        let table = gaussian_table();
        let key = hash2(self.key, stream);
        let (black, gain, read_var, max) =
            (self.black + 0.5, self.adu_per_e, self.read_var, self.max);
        let mut z = [0f32; BLOCK];
        for (b, (sig, px)) in signal.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let first_group = (b * BLOCK / 4) as u64;
            for (g, zs) in z.chunks_exact_mut(4).enumerate() {
                // One splitmix64 step per four pixels: 12 of each pixel's 16 hash bits.
                let h = mix(key.wrapping_add((first_group + g as u64).wrapping_mul(GOLDEN)));
                for (i, zi) in zs.iter_mut().enumerate() {
                    *zi = table[((h >> (16 * i)) & 0xfff) as usize];
                }
            }
            for ((&e, &z), p) in sig.iter().zip(&z).zip(px.iter_mut()) {
                let e = e.max(0.0);
                let adu = black + (e + (e + read_var).sqrt() * z) * gain;
                *p = adu.clamp(0.0, max) as u16;
            }
        }
    }
}

/// Packs one line of raw samples into `line` (the first `line_bytes` of a stride).
pub(crate) fn pack_raw_line(packing: Packing, samples: &[u16], line: &mut [u8]) {
    match packing {
        Packing::Csi2P12 => pack_csi2_12(samples, line),
        Packing::Csi2P10 => pack_csi2_10(samples, line),
        Packing::U16Le => line
            .chunks_exact_mut(2)
            .zip(samples)
            .for_each(|(b, &s)| b.copy_from_slice(&s.to_le_bytes())),
        Packing::U8 => line
            .iter_mut()
            .zip(samples)
            .for_each(|(b, &s)| *b = s as u8),
        other => unreachable!("raw presets never use {other:?}"),
    }
}

/// Packs one line of 8-bit RGB samples (three planes) into YUYV, BT.601 limited range
/// (what UVC webcams deliver); chroma is the average of each pixel pair.
pub(crate) fn pack_yuyv_line(r: &[u16], g: &[u16], b: &[u16], line: &mut [u8]) {
    let y_of = |i: usize| {
        let (r, g, b) = (i32::from(r[i]), i32::from(g[i]), i32::from(b[i]));
        (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16).clamp(16, 235)
    };
    for (pair, out) in line.chunks_exact_mut(4).enumerate().take(r.len() / 2) {
        let (i, j) = (2 * pair, 2 * pair + 1);
        let ra = (i32::from(r[i]) + i32::from(r[j])) / 2;
        let ga = (i32::from(g[i]) + i32::from(g[j])) / 2;
        let ba = (i32::from(b[i]) + i32::from(b[j])) / 2;
        let u = (((-38 * ra - 74 * ga + 112 * ba + 128) >> 8) + 128).clamp(16, 240);
        let v = (((112 * ra - 94 * ga - 18 * ba + 128) >> 8) + 128).clamp(16, 240);
        out[0] = y_of(i) as u8;
        out[1] = u as u8;
        out[2] = y_of(j) as u8;
        out[3] = v as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_frame::pixels::to_image16;

    #[test]
    fn table_matches_variants_and_formats_are_valid() {
        for (i, spec) in PRESETS.iter().enumerate() {
            assert_eq!(spec.preset as usize, i);
            assert_eq!(SensorPreset::from_name(spec.name), Some(spec.preset));
            assert_eq!(NAMES[i], spec.name);
            let f = spec.format;
            assert_eq!(f.validate(), Ok(()), "{}", spec.name);
            let need = f.packing.line_bytes(f.width).unwrap();
            if matches!(f.packing, Packing::Csi2P10 | Packing::Csi2P12) {
                assert!(u64::from(f.stride) > need, "{} has line padding", spec.name);
            }
        }
        assert_eq!(
            SensorPreset::from_name("IMX477"),
            Some(SensorPreset::Imx477)
        );
        assert_eq!(SensorPreset::from_name("imx999"), None);
        assert_eq!("Tiny".parse::<SensorPreset>(), Ok(SensorPreset::Tiny));
        let err = "imx999".parse::<SensorPreset>().unwrap_err().to_string();
        assert!(
            err.contains("imx999") && err.contains("imx477, imx219"),
            "{err}"
        );
        assert_eq!(SensorPreset::Ov5647.to_string(), "ov5647");
        assert_eq!(SensorPreset::Imx477.format().stride, 6112);
        let binned = SensorPreset::Imx477.format_at((2028, 1520)).unwrap();
        assert_eq!(
            (binned.width, binned.height, binned.stride),
            (2028, 1520, 3072)
        );
        let binned = SensorPreset::Imx219.format_at((1640, 1232)).unwrap();
        assert_eq!((binned.stride, binned.cfa), (2080, Cfa::Bggr));
        assert_eq!(
            SensorPreset::Webcam.format_at((640, 480)).unwrap().stride,
            1280
        );
        assert_eq!(SensorPreset::Imx219.format_at((1000, 1000)), None);
        for p in PRESETS {
            assert_eq!(p.preset.format_at(p.preset.sizes()[0]), Some(p.format));
        }
        assert_eq!(SensorPreset::Imx219.format().cfa, Cfa::Bggr);
    }

    #[test]
    fn quantizer_statistics_follow_the_noise_model() {
        let m = SensorPreset::Imx477.model();
        let q = Quantizer::new(&m, 4000, 12, 42);
        let signal = vec![400.0f32; 40_000];
        let mut out = vec![0u16; signal.len()];
        q.quantize(&signal, 3, &mut out);
        let n = out.len() as f64;
        let mean = out.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = out
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        // 1 ADU per electron at gain 4: mean 256 + 400, variance 400 + 9 (+1/12 rounding).
        assert!((mean - 656.0).abs() < 0.5, "mean {mean}");
        assert!((var - 409.0).abs() < 15.0, "variance {var}");
        let mut again = vec![0u16; signal.len()];
        q.quantize(&signal, 3, &mut again);
        assert_eq!(out, again);
        q.quantize(&signal, 4, &mut again);
        assert_ne!(out, again, "another row draws other noise");
    }

    #[test]
    fn clipping_stays_within_bit_depth() {
        let m = SensorPreset::Imx219.model();
        let q = Quantizer::new(&m, 16_000, 10, 1);
        let mut out = vec![0u16; 8];
        q.quantize(&[1e9, -5.0, 0.0, 1e6, 3.0, 1e12, 7.0, 1e5], 0, &mut out);
        assert!(out.iter().all(|&v| v <= 1023));
        assert_eq!(out[0], 1023);
    }

    #[test]
    fn yuyv_line_reads_back_as_the_rgb() {
        let r = [200u16, 200, 10, 10];
        let g = [100u16, 100, 10, 10];
        let b = [50u16, 50, 240, 240];
        let mut line = [0u8; 8];
        pack_yuyv_line(&r, &g, &b, &mut line);
        let f = PixelFormat {
            fourcc: *b"YUYV",
            width: 4,
            height: 1,
            stride: 8,
            bit_depth: 8,
            cfa: Cfa::None,
            packing: Yuyv,
        };
        let img = to_image16(&f, &line).unwrap();
        for (px, want) in img
            .data
            .chunks(3)
            .zip([[200, 100, 50], [10, 10, 240]].iter().flat_map(|w| [w, w]))
        {
            for (got, want) in px.iter().zip(want) {
                assert!((i32::from(*got) - want).abs() <= 3, "{px:?} vs {want:?}");
            }
        }
    }
}
