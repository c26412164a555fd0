//! Parsers for argument values shared by several commands.

use std::path::PathBuf;

/// Where `capture` takes frames from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The first V4L2 camera that streams a format nightcap can store (the default).
    Camera,
    Sim,
    V4l2(PathBuf),
    Images(PathBuf),
}

/// `camera`, `sim`, `v4l2:/dev/video0` (or a bare `/dev/videoN`), `images:DIR`.
pub fn parse_source(text: &str) -> Result<SourceSpec, String> {
    match text.split_once(':') {
        _ if text == "camera" => Ok(SourceSpec::Camera),
        _ if text == "sim" => Ok(SourceSpec::Sim),
        Some(("v4l2", path)) if !path.is_empty() => Ok(SourceSpec::V4l2(path.into())),
        Some(("images", dir)) if !dir.is_empty() => Ok(SourceSpec::Images(dir.into())),
        _ if text.starts_with("/dev/video") => Ok(SourceSpec::V4l2(text.into())),
        _ => Err(format!(
            "'{text}' is not a source: use camera, v4l2:/dev/video0, sim or images:DIR"
        )),
    }
}

/// Byte sizes: `1048576`, `512K`, `256M`, `8G`, `1T` (binary units; `MiB`, `GB` also read as binary).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let err =
        || format!("'{text}' is not a size: use a number with an optional unit, e.g. 512M or 8G");
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| err())?;
    let scale: u64 = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(err()),
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || !(0.0..1.8e19).contains(&bytes) {
        return Err(err());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(parse_source("sim"), Ok(SourceSpec::Sim));
        assert_eq!(
            parse_source("v4l2:/dev/video2"),
            Ok(SourceSpec::V4l2("/dev/video2".into()))
        );
        assert_eq!(
            parse_source("/dev/video0"),
            Ok(SourceSpec::V4l2("/dev/video0".into()))
        );
        assert_eq!(
            parse_source("images:frames"),
            Ok(SourceSpec::Images("frames".into()))
        );
        for bad in ["", "cam", "v4l2:", "images:"] {
            assert!(parse_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("256M"), Ok(256 << 20));
        assert_eq!(parse_bytes("8G"), Ok(8 << 30));
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("1.5K"), Ok(1536));
        for bad in ["", "G", "5X", "-1M", "1e30T"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}

/// A V4L2 fourcc as typed: 1 to 4 printable ASCII characters, padded with spaces
/// (`Y10` is `Y10 `).
pub fn parse_fourcc(text: &str) -> Result<[u8; 4], String> {
    let ok = (1..=4).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(format!(
            "'{text}' is not a pixel format: give its fourcc, e.g. RG12, pRCC, YUYV or GREY (`nightcap devices` lists a camera's)"
        ));
    }
    let mut code = [b' '; 4];
    code[..text.len()].copy_from_slice(text.as_bytes());
    Ok(code)
}

/// A frame size as typed, `WIDTHxHEIGHT` (`1920x1080`), each side 1 to 32768.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("'{text}' is not a frame size: use WIDTHxHEIGHT, e.g. 1920x1080");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let side = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| (1..=nightcap_frame::MAX_DIMENSION).contains(v))
    };
    Ok((side(w).ok_or_else(bad)?, side(h).ok_or_else(bad)?))
}

#[cfg(test)]
mod camera_format_tests {
    use super::*;

    #[test]
    fn fourccs_and_sizes_as_typed() {
        assert_eq!(parse_fourcc("RG12"), Ok(*b"RG12"));
        assert_eq!(parse_fourcc("Y10"), Ok(*b"Y10 "));
        assert!(parse_fourcc("").is_err());
        assert!(parse_fourcc("RGGB12").is_err());
        assert!(parse_fourcc("R G").is_err());
        assert_eq!(parse_size("1920x1080"), Ok((1920, 1080)));
        assert_eq!(parse_size("320X180"), Ok((320, 180)));
        for bad in ["1920", "0x10", "10x", "x10", "40000x10", "ax b"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
