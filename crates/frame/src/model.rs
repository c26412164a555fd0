//! The frame model shared by every stage: what a camera delivered and when.
//!
//! A [`PixelFormat`] describes a stream (every frame of one journal segment has the same
//! one); a [`Frame`] is the exact bytes the camera delivered plus [`FrameMeta`]. Nothing in
//! this module transforms pixels: unpacking and conversion to samples live in
//! [`crate::pixels`], so that what is stored is always what the camera gave.

use std::fmt;

/// Nanoseconds since the Unix epoch, UTC.
pub type UtcNanos = i64;

/// Colour filter array layout of a raw sensor, named by its top-left 2x2 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cfa {
    /// No colour filter array: monochrome samples, or already-demosaiced pixels.
    None,
    /// Red, green / green, blue.
    Rggb,
    /// Blue, green / green, red.
    Bggr,
    /// Green, red / blue, green.
    Grbg,
    /// Green, blue / red, green.
    Gbrg,
}

impl Cfa {
    /// The on-disk code of this pattern (see `formats/segment.md`).
    pub fn code(self) -> u8 {
        match self {
            Cfa::None => 0,
            Cfa::Rggb => 1,
            Cfa::Bggr => 2,
            Cfa::Grbg => 3,
            Cfa::Gbrg => 4,
        }
    }

    /// The pattern with this on-disk code, if it is one.
    pub fn from_code(code: u8) -> Option<Cfa> {
        Some(match code {
            0 => Cfa::None,
            1 => Cfa::Rggb,
            2 => Cfa::Bggr,
            3 => Cfa::Grbg,
            4 => Cfa::Gbrg,
            _ => return None,
        })
    }

    /// The FITS `BAYERPAT` / conventional name ("RGGB"), or `None` for no CFA.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Cfa::None => None,
            Cfa::Rggb => Some("RGGB"),
            Cfa::Bggr => Some("BGGR"),
            Cfa::Grbg => Some("GRBG"),
            Cfa::Gbrg => Some("GBRG"),
        }
    }

    /// Colour of the sample at (x, y): 0 red, 1 green, 2 blue. `None` for no CFA.
    pub fn colour_at(self, x: usize, y: usize) -> Option<usize> {
        let pattern: [usize; 4] = match self {
            Cfa::None => return None,
            Cfa::Rggb => [0, 1, 1, 2],
            Cfa::Bggr => [2, 1, 1, 0],
            Cfa::Grbg => [1, 0, 2, 1],
            Cfa::Gbrg => [1, 2, 0, 1],
        };
        Some(pattern[(y & 1) * 2 + (x & 1)])
    }
}

/// How samples are laid out in the bytes of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packing {
    /// One byte per sample (8-bit mono or Bayer).
    U8,
    /// One little-endian 16-bit word per sample, value in the low `bit_depth` bits.
    U16Le,
    /// MIPI CSI-2 packed 10-bit: 4 samples in 5 bytes (4 high bytes, then the low 2 bits of each).
    Csi2P10,
    /// MIPI CSI-2 packed 12-bit: 2 samples in 3 bytes (2 high bytes, then the low 4 bits of each).
    Csi2P12,
    /// YUYV 4:2:2, 2 bytes per pixel (Y0 U Y1 V).
    Yuyv,
    /// 8-bit RGB, 3 bytes per pixel.
    Rgb24,
    /// Motion JPEG: one JPEG image per frame, variable size.
    Mjpeg,
    /// 16-bit RGB: three little-endian 16-bit words (R, G, B) per pixel, values in the low
    /// `bit_depth` bits (16-bit colour TIFF and PNG imports). Format 2.0 and later.
    Rgb48,
}

impl Packing {
    /// The on-disk code of this packing (see `formats/segment.md`).
    pub fn code(self) -> u8 {
        match self {
            Packing::U8 => 0,
            Packing::U16Le => 1,
            Packing::Csi2P10 => 2,
            Packing::Csi2P12 => 3,
            Packing::Yuyv => 4,
            Packing::Rgb24 => 5,
            Packing::Mjpeg => 6,
            Packing::Rgb48 => 7,
        }
    }

    /// The packing with this on-disk code, if it is one.
    pub fn from_code(code: u8) -> Option<Packing> {
        Some(match code {
            0 => Packing::U8,
            1 => Packing::U16Le,
            2 => Packing::Csi2P10,
            3 => Packing::Csi2P12,
            4 => Packing::Yuyv,
            5 => Packing::Rgb24,
            6 => Packing::Mjpeg,
            7 => Packing::Rgb48,
            _ => return None,
        })
    }

    /// The lowest major version of the segment format that has this packing: segments
    /// of a packing a 1.x reader lacks are written as 2.0, so that such a reader refuses
    /// them as newer rather than taking them for damage.
    pub fn format_major(self) -> u16 {
        match self {
            Packing::Rgb48 => 2,
            _ => 1,
        }
    }

    /// Minimum bytes one line of `width` pixels needs (before any line padding).
    /// `None` for MJPEG, whose frames have no line structure.
    pub fn line_bytes(self, width: u32) -> Option<u64> {
        let w = u64::from(width);
        Some(match self {
            Packing::U8 => w,
            Packing::U16Le | Packing::Yuyv => w * 2,
            Packing::Csi2P10 => w.div_ceil(4) * 5,
            Packing::Csi2P12 => w.div_ceil(2) * 3,
            Packing::Rgb24 => w * 3,
            Packing::Rgb48 => w * 6,
            Packing::Mjpeg => return None,
        })
    }
}

/// The description of a stream of frames: everything needed to interpret their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelFormat {
    /// The V4L2 fourcc the device reported (e.g. `pRCC`, `RG12`, `YUYV`), informative.
    pub fourcc: [u8; 4],
    /// Pixels per line.
    pub width: u32,
    /// Lines.
    pub height: u32,
    /// Bytes per line as delivered, including any padding the driver adds.
    pub stride: u32,
    /// Significant bits per sample (8, 10, 12, 16).
    pub bit_depth: u8,
    /// The colour filter layout (`None` for mono and RGB).
    pub cfa: Cfa,
    /// How samples are laid out in bytes.
    pub packing: Packing,
}

/// Why a [`PixelFormat`] cannot describe real frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("frame size {width}x{height} is out of range (1..={MAX_DIMENSION} on each side, at most {MAX_PIXELS} pixels)")]
    /// The size is out of range.
    Dimensions {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    #[error("stride {stride} is smaller than the {need} bytes one line of this format needs")]
    /// Lines are shorter than the packing needs.
    Stride {
        /// Bytes per line given.
        stride: u32,
        /// Bytes one line needs.
        need: u64,
    },
    /// The bit depth does not fit the packing.
    #[error("bit depth {0} does not fit the packing {1:?}")]
    BitDepth(u8, Packing),
    /// The frame would be larger than the cap.
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(u64),
}

/// Largest width or height accepted anywhere (caps allocations from untrusted headers).
pub const MAX_DIMENSION: u32 = 32_768;
/// Most pixels in a frame accepted anywhere: 64 Mi, above the largest astronomy sensors
/// (61 MP). Every command's memory is a small multiple of one frame, so this cap, not
/// the 32768x32768 a header could claim, is what a hostile file can make us allocate.
pub const MAX_PIXELS: u64 = 1 << 26;
/// Largest frame, in bytes, accepted anywhere (caps allocations from untrusted headers):
/// [`MAX_PIXELS`] of 16-bit samples plus a quarter for line padding.
pub const MAX_FRAME_BYTES: u64 = 160 * 1024 * 1024;

impl PixelFormat {
    /// Checks that the format is internally consistent and within the global caps.
    pub fn validate(&self) -> Result<(), FormatError> {
        if self.width == 0
            || self.height == 0
            || self.width > MAX_DIMENSION
            || self.height > MAX_DIMENSION
            || u64::from(self.width) * u64::from(self.height) > MAX_PIXELS
        {
            return Err(FormatError::Dimensions {
                width: self.width,
                height: self.height,
            });
        }
        let depth_ok = match self.packing {
            Packing::U8 | Packing::Yuyv | Packing::Rgb24 | Packing::Mjpeg => self.bit_depth == 8,
            Packing::U16Le | Packing::Rgb48 => (9..=16).contains(&self.bit_depth),
            Packing::Csi2P10 => self.bit_depth == 10,
            Packing::Csi2P12 => self.bit_depth == 12,
        };
        if !depth_ok {
            return Err(FormatError::BitDepth(self.bit_depth, self.packing));
        }
        if let Some(need) = self.packing.line_bytes(self.width) {
            if u64::from(self.stride) < need {
                return Err(FormatError::Stride {
                    stride: self.stride,
                    need,
                });
            }
        }
        let size = self.max_frame_bytes();
        if size > MAX_FRAME_BYTES {
            return Err(FormatError::TooLarge(size));
        }
        Ok(())
    }

    /// Bytes of one frame as delivered (`stride * height`). For MJPEG this is the largest
    /// frame accepted, since its frames vary in size.
    pub fn max_frame_bytes(&self) -> u64 {
        u64::from(self.stride) * u64::from(self.height)
    }

    /// Whether every frame has exactly [`max_frame_bytes`](Self::max_frame_bytes) bytes.
    pub fn fixed_size(&self) -> bool {
        self.packing != Packing::Mjpeg
    }

    /// Whether frames hold raw sensor samples in a colour filter array layout.
    pub fn is_bayer(&self) -> bool {
        self.cfa != Cfa::None
    }

    /// The fourcc as text, with unprintable bytes shown as `?` ([`fourcc_text`]).
    pub fn fourcc_str(&self) -> String {
        fourcc_text(self.fourcc)
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{} {} {}-bit {:?}",
            self.width,
            self.height,
            self.fourcc_str(),
            self.bit_depth,
            self.packing
        )?;
        if let Some(cfa) = self.cfa.name() {
            write!(f, " {cfa}")?;
        }
        write!(f, " stride {}", self.stride)
    }
}

/// What is known about one exposure besides its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameMeta {
    /// Journal sequence number: contiguous over the stored frames of a journal, assigned
    /// by the journal writer (sources leave it 0).
    pub seq: u64,
    /// Start of the exposure, UTC nanoseconds.
    pub time_utc_ns: UtcNanos,
    /// Exposure time in microseconds.
    pub exposure_us: u32,
    /// Total gain in thousandths (1000 = unity gain).
    pub gain_milli: u32,
    /// The driver's frame sequence number (V4L2 `sequence`); gaps mean dropped frames.
    pub driver_seq: u32,
    /// The driver's timestamp (V4L2, usually CLOCK_MONOTONIC), nanoseconds.
    pub driver_ts_ns: u64,
}

impl FrameMeta {
    /// End of the exposure, UTC nanoseconds.
    pub fn end_utc_ns(&self) -> UtcNanos {
        self.time_utc_ns + i64::from(self.exposure_us) * 1000
    }
}

/// One exposure: the exact bytes the camera delivered and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The stream format.
    pub format: PixelFormat,
    /// When and how the frame was taken.
    pub meta: FrameMeta,
    /// The bytes exactly as delivered.
    pub data: Vec<u8>,
}

/// A V4L2 fourcc as text, with unprintable bytes shown as `?`.
pub fn fourcc_text(fourcc: [u8; 4]) -> String {
    fourcc
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hq() -> PixelFormat {
        PixelFormat {
            fourcc: *b"pRCC",
            width: 4056,
            height: 3040,
            stride: 6112,
            bit_depth: 12,
            cfa: Cfa::Rggb,
            packing: Packing::Csi2P12,
        }
    }

    #[test]
    fn codes_round_trip() {
        for code in 0..=255u8 {
            if let Some(c) = Cfa::from_code(code) {
                assert_eq!(c.code(), code);
            }
            if let Some(p) = Packing::from_code(code) {
                assert_eq!(p.code(), code);
            }
        }
        assert_eq!(Cfa::from_code(5), None);
        assert_eq!(Packing::from_code(7), Some(Packing::Rgb48));
        assert_eq!(Packing::from_code(8), None);
    }

    #[test]
    fn packed_line_sizes() {
        assert_eq!(Packing::Csi2P12.line_bytes(4056), Some(6084));
        assert_eq!(Packing::Csi2P10.line_bytes(3280), Some(4100));
        assert_eq!(Packing::Csi2P10.line_bytes(3281), Some(4105));
        assert_eq!(Packing::Mjpeg.line_bytes(640), None);
    }

    #[test]
    fn validate_catches_inconsistent_formats() {
        assert_eq!(hq().validate(), Ok(()));
        let mut f = hq();
        f.stride = 6000;
        assert!(matches!(f.validate(), Err(FormatError::Stride { .. })));
        let mut f = hq();
        f.bit_depth = 10;
        assert!(matches!(f.validate(), Err(FormatError::BitDepth(..))));
        let mut f = hq();
        f.width = 0;
        assert!(matches!(f.validate(), Err(FormatError::Dimensions { .. })));
        // More pixels than any sensor: refused before any size is computed from it.
        let mut f = hq();
        f.width = 30_000;
        f.height = 30_000;
        f.stride = 45_000;
        assert!(matches!(f.validate(), Err(FormatError::Dimensions { .. })));
        // 64 Mi pixels fit; with a stride far past the line, the bytes do not.
        let mut f = hq();
        f.width = 8192;
        f.height = 8192;
        f.stride = 12_288;
        assert_eq!(f.validate(), Ok(()));
        f.stride = 32_768;
        assert!(matches!(f.validate(), Err(FormatError::TooLarge(_))));
    }

    #[test]
    fn cfa_colours() {
        assert_eq!(Cfa::Rggb.colour_at(0, 0), Some(0));
        assert_eq!(Cfa::Rggb.colour_at(1, 1), Some(2));
        assert_eq!(Cfa::Bggr.colour_at(0, 0), Some(2));
        assert_eq!(Cfa::Grbg.colour_at(1, 0), Some(0));
        assert_eq!(Cfa::Gbrg.colour_at(0, 1), Some(0));
        assert_eq!(Cfa::None.colour_at(0, 0), None);
    }
}
