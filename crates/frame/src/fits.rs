//! FITS, the subset nightcap writes and reads: raw 16-bit images in the sensor's own
//! layout, one primary HDU, by hand.
//!
//! The layout: `BITPIX = 16` with `BZERO = 32768`, `BSCALE = 1` (the standard convention
//! for unsigned 16-bit data), `NAXIS = 2` for mono and CFA mosaics or `3` for RGB (three
//! planes, R then G then B), big-endian samples, rows top-down (`ROWORDER = 'TOP-DOWN'`),
//! header and data padded to 2880-byte blocks. A CFA mosaic carries `BAYERPAT` so
//! astronomy tools (Siril, PixInsight) can debayer it.
//!
//! Writing is in two pieces: [`FitsHeader`] builds the cards and [`write_data`] streams
//! the data unit (the stack crate's output module puts them in a file atomically with a
//! stack's metadata). [`read_fits`] and [`probe_fits`] read the same subset (master darks,
//! imported FITS frames, checks of exports): they treat their input as untrusted, so sizes
//! are checked against [`MAX_DIMENSION`] and [`MAX_FRAME_BYTES`] before anything is
//! allocated, and anything outside the subset is a typed error.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::pixels::Image16;
use crate::{Cfa, MAX_DIMENSION, MAX_FRAME_BYTES};

/// Bytes in a FITS block: headers and data are padded to whole blocks.
pub const BLOCK: usize = 2880;
/// Bytes in a header card.
pub const CARD: usize = 80;
/// Header blocks read before giving up on finding `END` (36 cards per block).
const MAX_HEADER_BLOCKS: usize = 256;

/// A header value nightcap writes.
#[derive(Debug, Clone, PartialEq)]
pub enum FitsValue {
    /// A string (quoted in the card).
    Str(String),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A logical, `T` or `F`.
    Bool(bool),
}

/// What is wrong with a FITS file (or with a header card we were asked to write).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitsProblem {
    /// The file ends inside the header.
    #[error("file ends inside the header (no END card)")]
    TruncatedHeader,
    /// No END card within the header blocks read.
    #[error("no END card in the first {MAX_HEADER_BLOCKS} header blocks")]
    HeaderTooLong,
    #[error("header card {index} is not valid: {card:?}")]
    /// A header card is not valid.
    BadCard {
        /// Its place among the cards (0-based).
        index: usize,
        /// Its text.
        card: String,
    },
    /// A key the subset needs is missing.
    #[error("missing header key {0}")]
    Missing(&'static str),
    /// A key holds a value outside the subset.
    #[error("header key {key} = {value} is not supported (nightcap reads {expected})")]
    Unsupported {
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// What the subset reads.
        expected: &'static str,
    },
    /// The image is larger than the format's caps.
    #[error("image {width}x{height}x{planes} exceeds the size limit")]
    TooLarge {
        /// Its width.
        width: u64,
        /// Its height.
        height: u64,
        /// Its planes.
        planes: u64,
    },
    #[error("data is {got} bytes, the header announces {need}")]
    /// The data unit is shorter than the header says.
    TruncatedData {
        /// Bytes present.
        got: u64,
        /// Bytes the header announces.
        need: u64,
    },
    /// A key that cannot be written (malformed, reserved or repeated).
    #[error("key {0:?} cannot be written: keys are 1-8 characters of A-Z 0-9 - _ and not reserved or repeated")]
    BadKey(String),
    /// A real value that is NaN or infinite.
    #[error("value of {0} is not a finite number")]
    NotFinite(String),
}

/// A FITS file as read: every header card with a value (strings unquoted) and the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitsFile {
    /// Every header card with a value: key and value (strings unquoted).
    pub header: Vec<(String, String)>,
    /// The image.
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

/// Why a FITS file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FitsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    #[error("{path} is not a FITS file nightcap can read: {problem}")]
    /// The file is not in the subset nightcap reads.
    Fits {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: FitsProblem,
    },
}

/// Builds a header of 80-character cards: each key at most once, values formatted as
/// FITS wants them, `END` and the padding added by [`FitsHeader::finish`].
#[derive(Debug, Default)]
pub struct FitsHeader {
    text: Vec<u8>,
    keys: Vec<String>,
}

impl FitsHeader {
    /// An empty header.
    pub fn new() -> FitsHeader {
        FitsHeader {
            text: Vec::with_capacity(BLOCK),
            keys: Vec::new(),
        }
    }

    /// Adds the card `key = value / comment` (the comment is dropped if it does not fit).
    /// A key that is not 1-8 characters of `A-Z 0-9 - _`, or is repeated, is refused.
    pub fn card(&mut self, key: &str, value: &FitsValue, comment: &str) -> Result<(), FitsProblem> {
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

    /// The header bytes: the cards, `END`, padded to a whole block.
    pub fn finish(mut self) -> Vec<u8> {
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

// ---- writing --------------------------------------------------------------------------

/// Writes the data unit of `img`: each colour plane in turn, big-endian, padded to a
/// whole block; in pieces of at most 64 Ki samples, so no copy of the image is made.
pub fn write_data(w: &mut impl Write, img: &Image16) -> std::io::Result<()> {
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
    /// Every header card with a value: key and value (strings unquoted).
    pub header: Vec<(String, String)>,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Planes: 1 (mono or mosaic) or 3 (RGB).
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
pub fn probe_fits(path: &Path) -> Result<FitsProbe, FitsError> {
    let fits_err = |problem| FitsError::Fits {
        path: PathBuf::from(path),
        problem,
    };
    let mut file = File::open(path).map_err(|e| io(path, e))?;
    let (header, _) = read_header(&mut file).map_err(fits_err)?;
    let (width, height, planes) = geometry(&header).map_err(fits_err)?;
    Ok(FitsProbe {
        header,
        width,
        height,
        planes,
    })
}

/// Reads a 16-bit FITS image (the subset this module describes).
pub fn read_fits(path: &Path) -> Result<FitsFile, FitsError> {
    let fits_err = |problem| FitsError::Fits {
        path: PathBuf::from(path),
        problem,
    };
    let mut file = File::open(path).map_err(|e| io(path, e))?;
    let file_len = file.metadata().map_err(|e| io(path, e))?.len();
    let (header, header_len) = read_header(&mut file).map_err(fits_err)?;
    let (width, height, planes) = geometry(&header).map_err(fits_err)?;
    let plane_len = width as usize * height as usize;
    let need = (plane_len * usize::from(planes) * 2) as u64;
    let got = file_len.saturating_sub(header_len);
    if got < need {
        return Err(fits_err(FitsProblem::TruncatedData { got, need }));
    }
    let mut raw = vec![0u8; need as usize];
    file.read_exact(&mut raw).map_err(|e| io(path, e))?;
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

fn io(path: &Path, source: std::io::Error) -> FitsError {
    FitsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_escaped_and_capped() {
        assert_eq!(quote("max"), "'max     '");
        assert_eq!(quote("it's"), "'it''s   '");
        assert_eq!(quote(&"x".repeat(100)).len(), 70);
        assert_eq!(quote("é"), "'?       '");
        assert_eq!(float_text(300.0), "300.0");
        assert_eq!(float_text(1e-7), "1E-7");
    }
}
