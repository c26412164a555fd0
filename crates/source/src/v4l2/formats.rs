//! V4L2 pixel formats: what a fourcc means and which offered format to capture.
//!
//! Owns the table from V4L2 fourccs to the crate's [`PixelFormat`] vocabulary (bit depth,
//! colour filter layout, packing) and the ranking used when the user did not name a
//! format. Pure: nothing here touches a device.

use nightcap_frame::{Cfa, Packing, PixelFormat};

/// What kind of data a format carries, best first for night-sky capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FormatClass {
    /// Raw sensor samples in a colour filter array layout.
    RawBayer,
    /// Monochrome samples (raw from a mono sensor, or luma).
    Mono,
    /// Processed colour (YUYV, RGB24).
    Colour,
    /// Motion JPEG: lossy, variable size.
    Mjpeg,
}

/// The meaning of one fourcc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourccInfo {
    pub bit_depth: u8,
    pub cfa: Cfa,
    pub packing: Packing,
    pub class: FormatClass,
}

const fn info(bit_depth: u8, cfa: Cfa, packing: Packing, class: FormatClass) -> FourccInfo {
    FourccInfo {
        bit_depth,
        cfa,
        packing,
        class,
    }
}

/// The meaning of a V4L2 fourcc, or `None` for formats nightcap does not store.
pub fn fourcc_info(fourcc: [u8; 4]) -> Option<FourccInfo> {
    use FormatClass::{Colour, Mjpeg, Mono, RawBayer};
    use Packing::{Csi2P10, Csi2P12, Rgb24, U16Le, Yuyv, U8};
    let cfa = |c: u8| match c {
        b'R' => Cfa::Rggb,
        b'B' => Cfa::Bggr,
        b'G' => Cfa::Gbrg,
        b'g' => Cfa::Grbg,
        _ => Cfa::None,
    };
    Some(match &fourcc {
        // 8-bit Bayer: BA81 is BGGR (historic name), the others spell their order.
        b"BA81" => info(8, Cfa::Bggr, U8, RawBayer),
        b"GBRG" => info(8, Cfa::Gbrg, U8, RawBayer),
        b"GRBG" => info(8, Cfa::Grbg, U8, RawBayer),
        b"RGGB" => info(8, Cfa::Rggb, U8, RawBayer),
        // Unpacked 10/12/14-bit Bayer in 16-bit LE words: BA10 is GRBG, BG10 BGGR.
        b"BG10" => info(10, Cfa::Bggr, U16Le, RawBayer),
        b"GB10" => info(10, Cfa::Gbrg, U16Le, RawBayer),
        b"BA10" => info(10, Cfa::Grbg, U16Le, RawBayer),
        b"RG10" => info(10, Cfa::Rggb, U16Le, RawBayer),
        b"BG12" => info(12, Cfa::Bggr, U16Le, RawBayer),
        b"GB12" => info(12, Cfa::Gbrg, U16Le, RawBayer),
        b"BA12" => info(12, Cfa::Grbg, U16Le, RawBayer),
        b"RG12" => info(12, Cfa::Rggb, U16Le, RawBayer),
        b"BG14" => info(14, Cfa::Bggr, U16Le, RawBayer),
        b"GB14" => info(14, Cfa::Gbrg, U16Le, RawBayer),
        b"GR14" => info(14, Cfa::Grbg, U16Le, RawBayer),
        b"RG14" => info(14, Cfa::Rggb, U16Le, RawBayer),
        // 16-bit Bayer: BYR2 is BGGR16.
        b"BYR2" => info(16, Cfa::Bggr, U16Le, RawBayer),
        b"GB16" => info(16, Cfa::Gbrg, U16Le, RawBayer),
        b"GR16" => info(16, Cfa::Grbg, U16Le, RawBayer),
        b"RG16" => info(16, Cfa::Rggb, U16Le, RawBayer),
        // MIPI CSI-2 packed: p + order letter (g = GRBG, G = GBRG) + AA (10) / CC (12).
        [b'p', c, b'A', b'A'] if cfa(*c) != Cfa::None => info(10, cfa(*c), Csi2P10, RawBayer),
        [b'p', c, b'C', b'C'] if cfa(*c) != Cfa::None => info(12, cfa(*c), Csi2P12, RawBayer),
        b"GREY" => info(8, Cfa::None, U8, Mono),
        b"Y10 " => info(10, Cfa::None, U16Le, Mono),
        b"Y12 " => info(12, Cfa::None, U16Le, Mono),
        b"Y14 " => info(14, Cfa::None, U16Le, Mono),
        b"Y16 " => info(16, Cfa::None, U16Le, Mono),
        b"Y10P" => info(10, Cfa::None, Csi2P10, Mono),
        b"Y12P" => info(12, Cfa::None, Csi2P12, Mono),
        b"YUYV" => info(8, Cfa::None, Yuyv, Colour),
        b"RGB3" => info(8, Cfa::None, Rgb24, Colour),
        b"MJPG" | b"JPEG" => info(8, Cfa::None, Packing::Mjpeg, Mjpeg),
        _ => return None,
    })
}

/// Why a device's format cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatMapError {
    #[error(
        "pixel format {0} is not one nightcap can store (raw Bayer, mono, YUYV, RGB3 or MJPG)"
    )]
    UnknownFourcc(String),
    #[error("the driver reports an inconsistent format ({0}); reload the driver or reconnect the camera")]
    Invalid(String),
}

pub use nightcap_frame::fourcc_text;

/// The [`PixelFormat`] of frames a device delivers in `fourcc` at `width`x`height`
/// with `bytesperline` bytes per line (0 means "not reported": the packed minimum; for
/// MJPEG, whose "stride" only bounds the frame size, 3 bytes per pixel).
pub fn pixel_format(
    fourcc: [u8; 4],
    width: u32,
    height: u32,
    bytesperline: u32,
) -> Result<PixelFormat, FormatMapError> {
    let info =
        fourcc_info(fourcc).ok_or_else(|| FormatMapError::UnknownFourcc(fourcc_text(fourcc)))?;
    let stride = match (bytesperline, info.packing.line_bytes(width)) {
        (0, Some(need)) => {
            u32::try_from(need).map_err(|_| FormatMapError::Invalid(format!("width {width}")))?
        }
        (0, None) => width.saturating_mul(3),
        (bpl, _) => bpl,
    };
    let format = PixelFormat {
        fourcc,
        width,
        height,
        stride,
        bit_depth: info.bit_depth,
        cfa: info.cfa,
        packing: info.packing,
    };
    format
        .validate()
        .map_err(|e| FormatMapError::Invalid(format!("{}: {e}", fourcc_text(fourcc))))?;
    Ok(format)
}

/// One (format, size) pair a device offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
}

/// The format [`choose_format`] picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    pub info: FourccInfo,
}

/// Picks the best format to capture from what a device offers: raw Bayer first (highest
/// bit depth, then largest size), then high-depth mono, then 8-bit mono, then YUYV/RGB,
/// then MJPEG. At equal depth and size a CSI-2 packed format wins over its unpacked twin
/// (same samples, fewer bytes). Unknown fourccs are ignored; `None` if nothing is usable.
pub fn choose_format(offered: &[Offered]) -> Option<Choice> {
    offered
        .iter()
        .filter_map(|o| {
            fourcc_info(o.fourcc).map(|info| Choice {
                fourcc: o.fourcc,
                width: o.width,
                height: o.height,
                info,
            })
        })
        .filter(|c| c.width > 0 && c.height > 0)
        .max_by_key(rank)
}

/// Sort key of a candidate: larger is better.
fn rank(c: &Choice) -> (u8, u8, u64, bool, [u8; 4]) {
    let tier = match c.info.class {
        FormatClass::RawBayer => 4,
        FormatClass::Mono if c.info.bit_depth > 8 => 3,
        FormatClass::Mono => 2,
        FormatClass::Colour => 1,
        FormatClass::Mjpeg => 0,
    };
    let packed = matches!(c.info.packing, Packing::Csi2P10 | Packing::Csi2P12);
    // The fourcc is the last key only to make the choice deterministic; YUYV sorts
    // after RGB3, preferred because webcams deliver it natively.
    (
        tier,
        c.info.bit_depth,
        u64::from(c.width) * u64::from(c.height),
        packed,
        c.fourcc,
    )
}

/// The mode a sensor sub-device is set to (`VIDIOC_SUBDEV_G_FMT` on its source pad).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorMode {
    /// Media-bus code, e.g. `MEDIA_BUS_FMT_SRGGB12_1X12` = 0x3012.
    pub code: u32,
    pub width: u32,
    pub height: u32,
}

/// Bit depth and CFA of a raw media-bus code (`linux/media-bus-format.h`).
pub fn mbus_code_info(code: u32) -> Option<(u8, Cfa)> {
    use Cfa::{Bggr, Gbrg, Grbg, Rggb};
    Some(match code {
        0x3001 => (8, Bggr),
        0x3013 => (8, Gbrg),
        0x3002 => (8, Grbg),
        0x3014 => (8, Rggb),
        0x3007 => (10, Bggr),
        0x300e => (10, Gbrg),
        0x300a => (10, Grbg),
        0x300f => (10, Rggb),
        0x3008 => (12, Bggr),
        0x3010 => (12, Gbrg),
        0x3011 => (12, Grbg),
        0x3012 => (12, Rggb),
        0x3019 => (14, Bggr),
        0x301a => (14, Gbrg),
        0x301b => (14, Grbg),
        0x301c => (14, Rggb),
        0x301d => (16, Bggr),
        0x301e => (16, Gbrg),
        0x301f => (16, Grbg),
        0x3020 => (16, Rggb),
        0x2001 => (8, Cfa::None),
        0x200a => (10, Cfa::None),
        0x2013 => (12, Cfa::None),
        0x202d => (14, Cfa::None),
        _ => return None,
    })
}

/// The offered formats a sensor in `mode` can feed: same CFA, bit depth and size. On
/// media-controller drivers (unicam, rp1-cfe) the capture node lists every format it
/// could receive, but streaming fails unless the format matches the sensor's mode. If
/// nothing matches (an unknown code, a driver that converts), all offers are kept.
pub fn filter_for_sensor(offered: &[Offered], mode: &SensorMode) -> Vec<Offered> {
    let Some((depth, cfa)) = mbus_code_info(mode.code) else {
        return offered.to_vec();
    };
    let matching: Vec<Offered> = offered
        .iter()
        .filter(|o| {
            fourcc_info(o.fourcc).is_some_and(|i| i.bit_depth == depth && i.cfa == cfa)
                && (o.width, o.height) == (mode.width, mode.height)
        })
        .copied()
        .collect();
    if matching.is_empty() {
        offered.to_vec()
    } else {
        matching
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourcc_table() {
        let cases: &[(&[u8; 4], u8, Cfa, Packing, FormatClass)] = &[
            (b"BA81", 8, Cfa::Bggr, Packing::U8, FormatClass::RawBayer),
            (b"GBRG", 8, Cfa::Gbrg, Packing::U8, FormatClass::RawBayer),
            (b"GRBG", 8, Cfa::Grbg, Packing::U8, FormatClass::RawBayer),
            (b"RGGB", 8, Cfa::Rggb, Packing::U8, FormatClass::RawBayer),
            (
                b"RG10",
                10,
                Cfa::Rggb,
                Packing::U16Le,
                FormatClass::RawBayer,
            ),
            (
                b"BA10",
                10,
                Cfa::Grbg,
                Packing::U16Le,
                FormatClass::RawBayer,
            ),
            (
                b"BG12",
                12,
                Cfa::Bggr,
                Packing::U16Le,
                FormatClass::RawBayer,
            ),
            (
                b"GB12",
                12,
                Cfa::Gbrg,
                Packing::U16Le,
                FormatClass::RawBayer,
            ),
            (
                b"RG16",
                16,
                Cfa::Rggb,
                Packing::U16Le,
                FormatClass::RawBayer,
            ),
            (
                b"BYR2",
                16,
                Cfa::Bggr,
                Packing::U16Le,
                FormatClass::RawBayer,
            ),
            (
                b"pRAA",
                10,
                Cfa::Rggb,
                Packing::Csi2P10,
                FormatClass::RawBayer,
            ),
            (
                b"pBAA",
                10,
                Cfa::Bggr,
                Packing::Csi2P10,
                FormatClass::RawBayer,
            ),
            (
                b"pGAA",
                10,
                Cfa::Gbrg,
                Packing::Csi2P10,
                FormatClass::RawBayer,
            ),
            (
                b"pgAA",
                10,
                Cfa::Grbg,
                Packing::Csi2P10,
                FormatClass::RawBayer,
            ),
            (
                b"pRCC",
                12,
                Cfa::Rggb,
                Packing::Csi2P12,
                FormatClass::RawBayer,
            ),
            (
                b"pBCC",
                12,
                Cfa::Bggr,
                Packing::Csi2P12,
                FormatClass::RawBayer,
            ),
            (
                b"pGCC",
                12,
                Cfa::Gbrg,
                Packing::Csi2P12,
                FormatClass::RawBayer,
            ),
            (
                b"pgCC",
                12,
                Cfa::Grbg,
                Packing::Csi2P12,
                FormatClass::RawBayer,
            ),
            (b"GREY", 8, Cfa::None, Packing::U8, FormatClass::Mono),
            (b"Y10 ", 10, Cfa::None, Packing::U16Le, FormatClass::Mono),
            (b"Y12 ", 12, Cfa::None, Packing::U16Le, FormatClass::Mono),
            (b"Y16 ", 16, Cfa::None, Packing::U16Le, FormatClass::Mono),
            (b"Y10P", 10, Cfa::None, Packing::Csi2P10, FormatClass::Mono),
            (b"YUYV", 8, Cfa::None, Packing::Yuyv, FormatClass::Colour),
            (b"RGB3", 8, Cfa::None, Packing::Rgb24, FormatClass::Colour),
            (b"MJPG", 8, Cfa::None, Packing::Mjpeg, FormatClass::Mjpeg),
        ];
        for &(fcc, depth, cfa, packing, class) in cases {
            let got = fourcc_info(*fcc).unwrap_or_else(|| panic!("{fcc:?} unmapped"));
            assert_eq!(
                got,
                info(depth, cfa, packing, class),
                "{}",
                fourcc_text(*fcc)
            );
        }
        for unknown in [b"H264", b"NV12", b"pXAA", b"YU12", b"\0\0\0\0"] {
            assert_eq!(fourcc_info(*unknown), None);
        }
    }

    #[test]
    fn pixel_format_uses_driver_stride() {
        // IMX477 full frame on unicam: 4056 px * 1.5 = 6084, aligned to 32 -> 6112.
        let f = pixel_format(*b"pRCC", 4056, 3040, 6112).unwrap();
        assert_eq!(
            (f.stride, f.bit_depth, f.cfa, f.packing),
            (6112, 12, Cfa::Rggb, Packing::Csi2P12)
        );
        let f = pixel_format(*b"pRAA", 3280, 2464, 0).unwrap();
        assert_eq!(f.stride, 4100, "0 bytesperline means the packed minimum");
        assert!(matches!(
            pixel_format(*b"pRCC", 4056, 3040, 6000),
            Err(FormatMapError::Invalid(_))
        ));
        assert!(matches!(
            pixel_format(*b"H264", 640, 480, 0),
            Err(FormatMapError::UnknownFourcc(s)) if s == "H264"
        ));
        let f = pixel_format(*b"MJPG", 1280, 720, 0).unwrap();
        assert_eq!(
            (f.packing, f.max_frame_bytes()),
            (Packing::Mjpeg, 1280 * 720 * 3)
        );
    }

    fn offer(f: &[u8; 4], w: u32, h: u32) -> Offered {
        Offered {
            fourcc: *f,
            width: w,
            height: h,
        }
    }

    #[test]
    fn raw_bayer_highest_depth_then_largest_wins() {
        let offered = [
            offer(b"MJPG", 1920, 1080),
            offer(b"YUYV", 1920, 1080),
            offer(b"pRAA", 4056, 3040),
            offer(b"pRCC", 2028, 1520),
            offer(b"pRCC", 4056, 3040),
            offer(b"RG12", 4056, 3040),
            offer(b"Y16 ", 4056, 3040),
        ];
        let c = choose_format(&offered).unwrap();
        assert_eq!((&c.fourcc, c.width, c.height), (b"pRCC", 4056, 3040));
    }

    #[test]
    fn tiers_without_raw_bayer() {
        let mut offered = vec![
            offer(b"MJPG", 3840, 2160),
            offer(b"YUYV", 640, 480),
            offer(b"GREY", 640, 480),
            offer(b"Y16 ", 320, 240),
            offer(b"H264", 3840, 2160),
        ];
        assert_eq!(&choose_format(&offered).unwrap().fourcc, b"Y16 ");
        offered.retain(|o| &o.fourcc != b"Y16 ");
        assert_eq!(&choose_format(&offered).unwrap().fourcc, b"GREY");
        offered.retain(|o| &o.fourcc != b"GREY");
        let c = choose_format(&offered).unwrap();
        assert_eq!(
            (&c.fourcc, c.width),
            (b"YUYV", 640),
            "uncompressed beats a larger MJPEG"
        );
        offered.retain(|o| &o.fourcc != b"YUYV");
        assert_eq!(&choose_format(&offered).unwrap().fourcc, b"MJPG");
        offered.retain(|o| &o.fourcc != b"MJPG");
        assert_eq!(choose_format(&offered), None, "H264 alone is not usable");
    }

    #[test]
    fn sensor_mode_restricts_the_choice() {
        // unicam lists 10- and 12-bit formats whatever the sensor; an IMX219 gives 10-bit.
        let offered = [
            offer(b"pRCC", 3280, 2464),
            offer(b"RG12", 3280, 2464),
            offer(b"pRAA", 3280, 2464),
            offer(b"RG10", 3280, 2464),
            offer(b"pRAA", 1640, 1232),
            offer(b"pBAA", 3280, 2464),
        ];
        let mode = SensorMode {
            code: 0x300f,
            width: 3280,
            height: 2464,
        };
        let kept = filter_for_sensor(&offered, &mode);
        assert_eq!(
            kept,
            [offer(b"pRAA", 3280, 2464), offer(b"RG10", 3280, 2464)]
        );
        assert_eq!(&choose_format(&kept).unwrap().fourcc, b"pRAA");
        // Flipped sensor (BGGR): the CFA follows.
        let flipped = SensorMode {
            code: 0x3007,
            ..mode
        };
        assert_eq!(
            filter_for_sensor(&offered, &flipped),
            [offer(b"pBAA", 3280, 2464)]
        );
        // Unknown code or no match: everything stays.
        let unknown = SensorMode {
            code: 0x1234,
            ..mode
        };
        assert_eq!(filter_for_sensor(&offered, &unknown).len(), offered.len());
        let other_size = SensorMode {
            width: 4056,
            height: 3040,
            ..mode
        };
        assert_eq!(
            filter_for_sensor(&offered, &other_size).len(),
            offered.len()
        );
        assert_eq!(mbus_code_info(0x3012), Some((12, Cfa::Rggb)));
        assert_eq!(mbus_code_info(0x300a), Some((10, Cfa::Grbg)));
    }
}
