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
