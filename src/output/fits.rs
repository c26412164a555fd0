//! FITS: raw 16-bit stacks in the sensor's own layout, written and read by hand.
//!
//! Writes one primary HDU: `BITPIX = 16` with `BZERO = 32768`, `BSCALE = 1` (the standard
//! convention for unsigned 16-bit data), `NAXIS = 2` for mono and CFA mosaics or `3` for
//! RGB (three planes, R then G then B), big-endian samples, rows top-down
//! (`ROWORDER = 'TOP-DOWN'`), header and data padded to 2880-byte blocks. Values are the
//! stacked samples, never stretched; a CFA mosaic carries `BAYERPAT` and zero offsets so
//! astronomy tools (Siril, PixInsight) can debayer it.
//!
//! [`read_fits`] reads back exactly what this module writes (and other files that use the
//! same subset): it is the loader of `--dark` master darks, so it treats its input as
//! untrusted: sizes are checked against [`MAX_DIMENSION`] and [`MAX_FRAME_BYTES`] before
//! anything is allocated, and anything outside the subset is a typed error.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{check_shape, write_atomic, OutputError, OutputMeta};
use crate::frame::{Cfa, MAX_DIMENSION, MAX_FRAME_BYTES};
use crate::pixels::Image16;

const BLOCK: usize = 2880;
const CARD: usize = 80;
/// Header blocks read before giving up on finding `END` (36 cards per block).
const MAX_HEADER_BLOCKS: usize = 256;

/// A header value nightcap writes.
#[derive(Debug, Clone, PartialEq)]
pub enum FitsValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// What is wrong with a FITS file (or with a header card we were asked to write).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitsProblem {
    #[error("file ends inside the header (no END card)")]
    TruncatedHeader,
    #[error("no END card in the first {MAX_HEADER_BLOCKS} header blocks")]
    HeaderTooLong,
    #[error("header card {index} is not valid: {card:?}")]
    BadCard { index: usize, card: String },
    #[error("missing header key {0}")]
    Missing(&'static str),
    #[error("header key {key} = {value} is not supported (nightcap reads {expected})")]
    Unsupported {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("image {width}x{height}x{planes} exceeds the size limit")]
    TooLarge {
        width: u64,
        height: u64,
        planes: u64,
    },
    #[error("data is {got} bytes, the header announces {need}")]
    TruncatedData { got: u64, need: u64 },
    #[error("key {0:?} cannot be written: keys are 1-8 characters of A-Z 0-9 - _ and not reserved or repeated")]
    BadKey(String),
    #[error("value of {0} is not a finite number")]
    NotFinite(String),
}

/// A FITS file as read: every header card with a value (strings unquoted) and the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitsFile {
    pub header: Vec<(String, String)>,
    pub image: Image16,
}

impl FitsFile {
    /// The value of header key `key` (first occurrence).
    pub fn get(&self, key: &str) -> Option<&str> {
        lookup(&self.header, key)
    }
}

fn lookup<'a>(header: &'a [(String, String)], key: &str) -> Option<&'a str> {
    header
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

// ---- writing --------------------------------------------------------------------------

/// Keys that only this module sets; `extra` may not repeat them.
const RESERVED: &[&str] = &[
    "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "BZERO", "BSCALE", "END",
];

/// Builds a header of 80-character cards.
struct Header {
    text: Vec<u8>,
    keys: Vec<String>,
}

impl Header {
    fn card(&mut self, key: &str, value: &FitsValue, comment: &str) -> Result<(), FitsProblem> {
        let key_ok = !key.is_empty()
            && key.len() <= 8
            && key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !key_ok || self.keys.iter().any(|k| k == key) {
            return Err(FitsProblem::BadKey(key.to_string()));
        }
        self.keys.push(key.to_string());
        let value = match value {
            FitsValue::Str(s) => quote(s),
            FitsValue::Int(i) => format!("{i:>20}"),
            FitsValue::Bool(b) => format!("{:>20}", if *b { "T" } else { "F" }),
            FitsValue::Float(f) if f.is_finite() => format!("{:>20}", float_text(*f)),
            FitsValue::Float(_) => return Err(FitsProblem::NotFinite(key.to_string())),
        };
        let mut card = format!("{key:<8}= {value}");
        if !comment.is_empty() && card.len() + 3 + comment.len() <= CARD {
            card.push_str(" / ");
            card.push_str(comment);
        }
        let mut bytes = card.into_bytes();
        bytes.resize(CARD, b' ');
        self.text.extend_from_slice(&bytes);
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        let mut end = b"END".to_vec();
        end.resize(CARD, b' ');
        self.text.extend_from_slice(&end);
        let len = self.text.len().next_multiple_of(BLOCK);
        self.text.resize(len, b' ');
        self.text
    }
}

/// A FITS string value: quoted, `'` doubled, printable ASCII only, at most 68 characters
/// between the quotes, padded to at least 8 (the fixed-format minimum).
fn quote(s: &str) -> String {
    let mut inner = String::new();
    for c in s.chars() {
        let c = if (' '..='~').contains(&c) { c } else { '?' };
        let piece = if c == '\'' { "''" } else { "" };
        let add = if piece.is_empty() { 1 } else { 2 };
        if inner.len() + add > 68 {
            break;
        }
        if piece.is_empty() {
            inner.push(c);
        } else {
            inner.push_str(piece);
        }
    }
    format!("'{inner:<8}'")
}

/// A real number as FITS wants it: always with a decimal point or exponent, `E` exponent.
fn float_text(f: f64) -> String {
    let s = format!("{f:?}").replace('e', "E");
    if s.contains('.') || s.contains('E') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The header cards of an image `img` with metadata `meta` and `extra` keys.
fn header(
    img: &Image16,
    meta: &OutputMeta,
    extra: &[(&str, FitsValue)],
) -> Result<Vec<u8>, FitsProblem> {
    use FitsValue::{Bool, Float, Int, Str};
    let mut h = Header {
        text: Vec::with_capacity(BLOCK),
        keys: Vec::new(),
    };
    h.card("SIMPLE", &Bool(true), "conforms to FITS standard")?;
    h.card("BITPIX", &Int(16), "16-bit samples")?;
    h.card("NAXIS", &Int(if img.channels == 3 { 3 } else { 2 }), "")?;
    h.card("NAXIS1", &Int(img.width.into()), "width")?;
    h.card("NAXIS2", &Int(img.height.into()), "height")?;
    if img.channels == 3 {
        h.card("NAXIS3", &Int(3), "planes R, G, B")?;
    }
    h.card("BZERO", &Int(32768), "unsigned 16-bit data")?;
    h.card("BSCALE", &Int(1), "")?;
    let start = crate::time::utc_iso(meta.start_utc_ns);
    h.card("DATE-OBS", &Str(start), "UTC start of the window")?;
    h.card(
        "DATE-END",
        &Str(crate::time::utc_iso(meta.end_utc_ns)),
        "UTC end",
    )?;
    let exptime = meta.exposure_total_us as f64 / 1e6;
    h.card("EXPTIME", &Float(exptime), "s, total exposure")?;
    h.card("NCOMBINE", &Int(meta.frames.into()), "frames combined")?;
    h.card("NREJECT", &Int(meta.rejected.into()), "frames rejected")?;
    h.card("PARTIAL", &Bool(meta.partial), "window cut short")?;
    if let Some(name) = img.cfa.name() {
        h.card("BAYERPAT", &Str(name.into()), "CFA pattern")?;
        h.card("XBAYROFF", &Int(0), "")?;
        h.card("YBAYROFF", &Int(0), "")?;
    }
    h.card("BITDEPTH", &Int(img.bit_depth.into()), "significant bits")?;
    h.card("STACKMOD", &Str(meta.mode.clone()), "stacking mode")?;
    h.card("ROWORDER", &Str("TOP-DOWN".into()), "")?;
    h.card("CREATOR", &Str(meta.software.clone()), "")?;
    h.card("SWCREATE", &Str(meta.software.clone()), "")?;
    for (key, value) in extra {
        if RESERVED.contains(key) {
            return Err(FitsProblem::BadKey(key.to_string()));
        }
        h.card(key, value, "")?;
    }
    Ok(h.finish())
}

/// The data unit: planes in order, big-endian with the BZERO offset, padded with zeros.
/// Writes the data unit of `img`: each colour plane in turn, big-endian, padded to a
/// whole block; in pieces of at most [`CHUNK`] samples, so no copy of the image is made.
fn write_data(w: &mut impl Write, img: &Image16) -> std::io::Result<()> {
    let ch = usize::from(img.channels);
    let mut buf = Vec::with_capacity(2 * CHUNK);
    for plane in 0..ch {
        let mut samples = img.data.iter().skip(plane).step_by(ch).peekable();
        while samples.peek().is_some() {
            buf.clear();
            // Subtracting 32768 from an unsigned value and storing it as i16 is flipping
            // bit 15.
            buf.extend(
                samples
                    .by_ref()
                    .take(CHUNK)
                    .flat_map(|&v| (v ^ 0x8000).to_be_bytes()),
            );
            w.write_all(&buf)?;
        }
    }
    let len = img.data.len() * 2;
    w.write_all(&vec![0; len.next_multiple_of(BLOCK) - len])
}

/// Samples converted at a time when the data unit is written.
const CHUNK: usize = 1 << 16;

/// Writes `img` (raw samples, any layout) as a FITS file, atomically.
pub fn write_fits(
    path: &Path,
    img: &Image16,
    meta: &OutputMeta,
    extra: &[(&str, FitsValue)],
) -> Result<(), OutputError> {
    check_shape(img)?;
    let fits_err = |problem| OutputError::Fits {
        path: path.to_path_buf(),
        problem,
    };
    let head = header(img, meta, extra).map_err(fits_err)?;
    write_atomic(path, |w| {
        w.write_all(&head)
            .and_then(|()| write_data(w, img))
            .map_err(|e| OutputError::io(path, e))
    })
}

// ---- reading --------------------------------------------------------------------------

/// Parses one card into (key, value); `None` for cards without a value (COMMENT, blank).
fn parse_card(card: &[u8], index: usize) -> Result<Option<(String, String)>, FitsProblem> {
    let bad = || FitsProblem::BadCard {
        index,
        card: String::from_utf8_lossy(card).into_owned(),
    };
    if !card.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(bad());
    }
    // Checked ASCII above, so this is valid UTF-8.
    let text = std::str::from_utf8(card).map_err(|_| bad())?;
    let key = text[..8].trim_end().to_string();
    if &text[8..10] != "= " {
        return Ok(None);
    }
    let rest = text[10..].trim_start();
    let value = if let Some(body) = rest.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = body.chars().peekable();
        loop {
            match chars.next() {
                None => return Err(bad()),
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    out.push('\'');
                }
                Some('\'') => break,
                Some(c) => out.push(c),
            }
        }
        out.trim_end().to_string()
    } else {
        rest.split('/').next().unwrap_or("").trim().to_string()
    };
    Ok(Some((key, value)))
}

/// Reads cards until `END`; returns the header and its length in bytes.
fn read_header(file: &mut impl Read) -> Result<(Vec<(String, String)>, u64), FitsProblem> {
    let mut cards = Vec::new();
    let mut block = vec![0u8; BLOCK];
    for n in 0..MAX_HEADER_BLOCKS {
        file.read_exact(&mut block)
            .map_err(|_| FitsProblem::TruncatedHeader)?;
        for (i, card) in block.chunks_exact(CARD).enumerate() {
            if card.starts_with(b"END") && card[3..].iter().all(|&b| b == b' ') {
                return Ok((cards, ((n + 1) * BLOCK) as u64));
            }
            if let Some(kv) = parse_card(card, n * 36 + i)? {
                cards.push(kv);
            }
        }
    }
    Err(FitsProblem::HeaderTooLong)
}

fn int_key(header: &[(String, String)], key: &'static str) -> Result<i64, FitsProblem> {
    let v = lookup(header, key).ok_or(FitsProblem::Missing(key))?;
    v.parse::<i64>().or_else(|_| {
        // Accept integral reals such as `32768.0`, as some writers produce.
        match v.replace('D', "E").parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(f as i64),
            _ => Err(FitsProblem::Unsupported {
                key,
                value: v.to_string(),
                expected: "an integer",
            }),
        }
    })
}

fn expect(
    header: &[(String, String)],
    key: &'static str,
    want: i64,
    expected: &'static str,
) -> Result<(), FitsProblem> {
    let got = int_key(header, key)?;
    if got == want {
        Ok(())
    } else {
        Err(FitsProblem::Unsupported {
            key,
            value: got.to_string(),
            expected,
        })
    }
}

/// Image geometry (width, height, planes) from a checked header.
fn geometry(header: &[(String, String)]) -> Result<(u32, u32, u8), FitsProblem> {
    if lookup(header, "SIMPLE") != Some("T") {
        return Err(FitsProblem::Missing("SIMPLE"));
    }
    expect(header, "BITPIX", 16, "BITPIX = 16")?;
    expect(header, "BZERO", 32768, "BZERO = 32768 (unsigned 16-bit)")?;
    if lookup(header, "BSCALE").is_some() {
        expect(header, "BSCALE", 1, "BSCALE = 1")?;
    }
    let naxis = int_key(header, "NAXIS")?;
    let planes = match naxis {
        2 => 1,
        3 => int_key(header, "NAXIS3")?,
        _ => {
            return Err(FitsProblem::Unsupported {
                key: "NAXIS",
                value: naxis.to_string(),
                expected: "NAXIS = 2 or 3",
            })
        }
    };
    let (w, h) = (int_key(header, "NAXIS1")?, int_key(header, "NAXIS2")?);
    let max = i64::from(MAX_DIMENSION);
    let too_large = FitsProblem::TooLarge {
        width: w.max(0) as u64,
        height: h.max(0) as u64,
        planes: planes.max(0) as u64,
    };
    if !(1..=max).contains(&w) || !(1..=max).contains(&h) || !matches!(planes, 1 | 3) {
        return Err(if planes == 1 || planes == 3 {
            too_large
        } else {
            FitsProblem::Unsupported {
                key: "NAXIS3",
                value: planes.to_string(),
                expected: "1 or 3 planes",
            }
        });
    }
    if (w * h * planes * 2) as u64 > MAX_FRAME_BYTES {
        return Err(too_large);
    }
    Ok((w as u32, h as u32, planes as u8))
}

/// A FITS file's header and the geometry of its image, read without the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitsProbe {
    pub header: Vec<(String, String)>,
    pub width: u32,
    pub height: u32,
    pub planes: u8,
}

impl FitsProbe {
    /// The value of header key `key` (first occurrence).
    pub fn get(&self, key: &str) -> Option<&str> {
        lookup(&self.header, key)
    }
}

/// The header of a FITS file and the geometry of its image, without reading the data:
/// for timing and measuring files before importing them.
pub fn probe_fits(path: &Path) -> Result<FitsProbe, OutputError> {
    let fits_err = |problem| OutputError::Fits {
        path: PathBuf::from(path),
        problem,
    };
    let mut file = File::open(path).map_err(|e| OutputError::io(path, e))?;
    let (header, _) = read_header(&mut file).map_err(fits_err)?;
    let (width, height, planes) = geometry(&header).map_err(fits_err)?;
    Ok(FitsProbe {
        header,
        width,
        height,
        planes,
    })
}

/// Reads a 16-bit FITS image (the subset [`write_fits`] writes).
pub fn read_fits(path: &Path) -> Result<FitsFile, OutputError> {
    let fits_err = |problem| OutputError::Fits {
        path: PathBuf::from(path),
        problem,
    };
    let mut file = File::open(path).map_err(|e| OutputError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| OutputError::io(path, e))?.len();
    let (header, header_len) = read_header(&mut file).map_err(fits_err)?;
    let (width, height, planes) = geometry(&header).map_err(fits_err)?;
    let plane_len = width as usize * height as usize;
    let need = (plane_len * usize::from(planes) * 2) as u64;
    let got = file_len.saturating_sub(header_len);
    if got < need {
        return Err(fits_err(FitsProblem::TruncatedData { got, need }));
    }
    let mut raw = vec![0u8; need as usize];
    file.read_exact(&mut raw)
        .map_err(|e| OutputError::io(path, e))?;
    let mut data = vec![0u16; raw.len() / 2];
    let ch = usize::from(planes);
    for (i, b) in raw.chunks_exact(2).enumerate() {
        let (plane, idx) = (i / plane_len, i % plane_len);
        data[idx * ch + plane] = u16::from_be_bytes([b[0], b[1]]) ^ 0x8000;
    }
    let cfa = match lookup(&header, "BAYERPAT") {
        Some("RGGB") => Cfa::Rggb,
        Some("BGGR") => Cfa::Bggr,
        Some("GRBG") => Cfa::Grbg,
        Some("GBRG") => Cfa::Gbrg,
        _ => Cfa::None,
    };
    let bit_depth = match int_key(&header, "BITDEPTH") {
        Ok(d @ 1..=16) => d as u8,
        _ => 16,
    };
    let image = Image16 {
        width,
        height,
        channels: planes,
        cfa: if planes == 1 { cfa } else { Cfa::None },
        bit_depth,
        data,
    };
    Ok(FitsFile { header, image })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::image::tests::meta;

    fn mosaic(w: u32, h: u32) -> Image16 {
        let mut img = Image16::zeroed(w, h, 1, Cfa::Rggb, 12);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i as u16).wrapping_mul(977) & 0xfff;
        }
        img
    }

    fn write_read(img: &Image16, extra: &[(&str, FitsValue)]) -> (Vec<u8>, FitsFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.fits");
        write_fits(&path, img, &meta(), extra).unwrap();
        (std::fs::read(&path).unwrap(), read_fits(&path).unwrap())
    }

    #[test]
    fn mosaic_round_trips_with_its_header() {
        let img = mosaic(33, 21);
        let extra = [
            ("GAIN", FitsValue::Float(2.5)),
            ("OBSERVER", FitsValue::Str("O'Brien".into())),
        ];
        let (bytes, back) = write_read(&img, &extra);
        assert_eq!(bytes.len() % BLOCK, 0);
        assert_eq!(back.image, img);
        let text = String::from_utf8_lossy(&bytes[..BLOCK]);
        assert!(text.starts_with(&format!("{:<30}", "SIMPLE  =                    T")));
        for (key, value) in [
            ("BITPIX", "16"),
            ("NAXIS", "2"),
            ("NAXIS1", "33"),
            ("NAXIS2", "21"),
            ("BZERO", "32768"),
            ("BSCALE", "1"),
            ("DATE-OBS", "2026-11-24T02:15:00.000"),
            ("DATE-END", "2026-11-24T02:16:00.000"),
            ("EXPTIME", "60.0"),
            ("NCOMBINE", "12"),
            ("BAYERPAT", "RGGB"),
            ("XBAYROFF", "0"),
            ("YBAYROFF", "0"),
            ("STACKMOD", "max"),
            ("ROWORDER", "TOP-DOWN"),
            ("SWCREATE", "nightcap test"),
            ("GAIN", "2.5"),
            ("OBSERVER", "O'Brien"),
        ] {
            assert_eq!(back.get(key), Some(value), "{key}");
        }
        assert!(text.contains("OBSERVER= 'O''Brien'"));
        // Every card is 80 characters; END is followed only by spaces.
        let end = text.find("END     ").unwrap();
        assert_eq!(end % CARD, 0);
        assert!(text[end + 3..].bytes().all(|b| b == b' '));
    }

    #[test]
    fn rgb_is_written_as_planes_and_round_trips() {
        let mut img = Image16::zeroed(3, 2, 3, Cfa::None, 16);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i as u16) * 1000;
        }
        let (bytes, back) = write_read(&img, &[]);
        assert_eq!(back.image, img);
        assert_eq!(back.get("NAXIS3"), Some("3"));
        // First plane is red: samples 0, 3, 6, ... of the interleaved data.
        let data = &bytes[BLOCK..];
        let first: Vec<u16> = data[..12]
            .chunks(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) ^ 0x8000)
            .collect();
        assert_eq!(first, vec![0, 3000, 6000, 9000, 12000, 15000]);
    }

    #[test]
    fn bzero_extremes() {
        let mut img = Image16::zeroed(2, 1, 1, Cfa::None, 16);
        img.data = vec![0, 65535];
        let (bytes, back) = write_read(&img, &[]);
        // 0 is stored as -32768 (0x8000), 65535 as 32767 (0x7fff).
        assert_eq!(&bytes[BLOCK..BLOCK + 4], &[0x80, 0x00, 0x7f, 0xff]);
        assert!(bytes[BLOCK + 4..].iter().all(|&b| b == 0));
        assert_eq!(back.image.data, vec![0, 65535]);
    }

    #[test]
    fn strings_are_quoted_escaped_and_capped() {
        assert_eq!(quote("max"), "'max     '");
        assert_eq!(quote("it's"), "'it''s   '");
        assert_eq!(quote(&"x".repeat(100)).len(), 70);
        assert_eq!(quote("é"), "'?       '");
        assert_eq!(float_text(300.0), "300.0");
        assert_eq!(float_text(1e-7), "1E-7");
    }

    #[test]
    fn bad_extra_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.fits");
        let img = mosaic(2, 2);
        for key in ["BITPIX", "lower", "TOOLONGKEY", "NCOMBINE", ""] {
            let err = write_fits(&path, &img, &meta(), &[(key, FitsValue::Int(1))]);
            assert!(
                matches!(
                    err,
                    Err(OutputError::Fits {
                        problem: FitsProblem::BadKey(_),
                        ..
                    })
                ),
                "{key}"
            );
        }
        let nan = write_fits(&path, &img, &meta(), &[("X", FitsValue::Float(f64::NAN))]);
        assert!(nan.is_err());
        assert!(!path.exists());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_image_round_trips(
            w in 1u32..40, h in 1u32..30, rgb in proptest::bool::ANY,
            cfa_code in 0u8..5, depth in 8u8..=16, seed in proptest::num::u64::ANY,
        ) {
            let (channels, cfa) = if rgb {
                (3, Cfa::None)
            } else {
                (1, Cfa::from_code(cfa_code).unwrap())
            };
            let mut img = Image16::zeroed(w, h, channels, cfa, depth);
            let mut x = seed | 1;
            let max = img.max_value();
            for v in &mut img.data {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = x as u16 & max;
            }
            let (bytes, back) = write_read(&img, &[]);
            proptest::prop_assert_eq!(bytes.len() % BLOCK, 0);
            proptest::prop_assert_eq!(back.image, img);
        }
    }

    fn problem_of(bytes: &[u8]) -> FitsProblem {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.fits");
        std::fs::write(&path, bytes).unwrap();
        match read_fits(&path) {
            Err(OutputError::Fits { problem, .. }) => problem,
            other => panic!("expected a FITS problem, got {other:?}"),
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (bytes, _) = write_read(&mosaic(40, 40), &[]);
        // Cuts inside the header or the announced data; the zero padding after the data
        // is not needed to read the image.
        for cut in (0..BLOCK + 40 * 40 * 2).step_by(97) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.fits");
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read_fits(&path).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_headers_are_refused_before_allocating() {
        let (bytes, _) = write_read(&mosaic(4, 4), &[]);
        let text = String::from_utf8_lossy(&bytes[..BLOCK]).into_owned();
        let patch = |from: &str, to: &str| {
            let mut b = bytes.clone();
            let t = text.replace(from, &format!("{to:<width$}", width = from.len()));
            b[..BLOCK].copy_from_slice(t.as_bytes());
            b
        };
        let huge = patch(
            "NAXIS1  =                    4",
            "NAXIS1  =           2000000000",
        );
        assert!(matches!(problem_of(&huge), FitsProblem::TooLarge { .. }));
        let bitpix = patch(
            "BITPIX  =                   16",
            "BITPIX  =                  -32",
        );
        assert!(matches!(
            problem_of(&bitpix),
            FitsProblem::Unsupported { key: "BITPIX", .. }
        ));
        let mut no_end = patch("END     ", "XND     ");
        no_end.truncate(BLOCK);
        assert_eq!(problem_of(&no_end), FitsProblem::TruncatedHeader);
        assert_eq!(problem_of(b"SIMPLE"), FitsProblem::TruncatedHeader);
        let mut bad_byte = bytes.clone();
        bad_byte[100] = 0xff;
        assert!(matches!(problem_of(&bad_byte), FitsProblem::BadCard { .. }));
    }
}
