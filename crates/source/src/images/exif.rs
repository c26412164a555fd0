//! EXIF in image headers: finding the block (JPEG APP1, PNG `eXIf`, a TIFF file itself)
//! and reading the few fields nightcap uses (times, offset, exposure). Every offset is
//! checked against the block, so a truncated or hostile header yields fewer fields, never
//! a panic.

use super::civil_seconds;
use nightcap_frame::UtcNanos;

/// The EXIF fields nightcap uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExifFields {
    /// `DateTimeOriginal`, else `DateTime`: "YYYY:MM:DD HH:MM:SS".
    pub date_time: Option<String>,
    /// `SubSecTimeOriginal`: decimal fraction digits.
    pub sub_sec: Option<String>,
    /// `OffsetTimeOriginal`: "+HH:MM".
    pub offset: Option<String>,
    /// `ExposureTime`, µs.
    pub exposure_us: Option<u32>,
}

impl ExifFields {
    /// The UTC time of the recorded date-time; without an offset tag it is taken to be
    /// `naive_offset_s` east of UTC.
    pub fn time_utc_ns(&self, naive_offset_s: i32) -> Option<UtcNanos> {
        let t = self.date_time.as_deref()?.as_bytes();
        let field = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = std::str::from_utf8(t.get(r)?).ok()?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        if t.len() < 19 || t[4] != b':' || t[7] != b':' || t[13] != b':' || t[16] != b':' {
            return None;
        }
        let secs = civil_seconds(
            i64::from(field(0..4)?),
            field(5..7)?,
            field(8..10)?,
            field(11..13)?,
            field(14..16)?,
            field(17..19)?,
        )?;
        let offset_s = self
            .offset
            .as_deref()
            .and_then(parse_offset)
            .unwrap_or(i64::from(naive_offset_s));
        let frac_ns = self.sub_sec.as_deref().map_or(0, |s| {
            let digits: String = s
                .trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .take(9)
                .collect();
            format!("{digits:0<9}").parse::<i64>().unwrap_or(0)
        });
        Some((secs - offset_s) * 1_000_000_000 + frac_ns)
    }
}

/// "+HH:MM" / "-HH:MM" as seconds east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h: i64 = std::str::from_utf8(b.get(1..3)?).ok()?.parse().ok()?;
    let m: i64 = std::str::from_utf8(b.get(4..6)?).ok()?.parse().ok()?;
    (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// The TIFF-structured EXIF block in the first bytes of a JPEG, PNG or TIFF file.
pub fn exif_block(head: &[u8]) -> Option<&[u8]> {
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return Some(head);
    }
    if head.starts_with(&[0xff, 0xd8]) {
        return jpeg_exif(head);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return png_exif(head);
    }
    None
}

fn jpeg_exif(b: &[u8]) -> Option<&[u8]> {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xff {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xff {
            i += 1; // fill byte
            continue;
        }
        // Start of scan or end of image: no more metadata segments.
        if marker == 0xda || marker == 0xd9 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let body = b.get(i + 4..i + 2 + len)?;
        if marker == 0xe1 && body.starts_with(b"Exif\0\0") {
            return Some(&body[6..]);
        }
        i += 2 + len;
    }
    None
}

fn png_exif(b: &[u8]) -> Option<&[u8]> {
    let mut i = 8;
    while i + 8 <= b.len() {
        let len = u32::from_be_bytes(b[i..i + 4].try_into().ok()?) as usize;
        let kind = &b[i + 4..i + 8];
        if kind == b"IDAT" || kind == b"IEND" {
            return None;
        }
        let body = b.get(i + 8..(i + 8).checked_add(len)?)?;
        if kind == b"eXIf" {
            // Some writers keep the JPEG-style "Exif\0\0" prefix.
            return Some(body.strip_prefix(b"Exif\0\0").unwrap_or(body));
        }
        i += 12 + len;
    }
    None
}

/// Reads the EXIF fields nightcap uses from a TIFF-structured block. Malformed or
/// truncated blocks give whatever was readable.
pub fn exif_fields(tiff: &[u8]) -> ExifFields {
    let mut out = ExifFields::default();
    let Some(t) = Tiff::new(tiff) else { return out };
    let Some(ifd0) = t.u32_at(4) else { return out };
    let mut exif_ifd = None;
    for e in t.entries(ifd0) {
        match e.tag {
            0x0132 => out.date_time = t.ascii(&e),
            0x8769 => exif_ifd = t.u32_at(e.value_at),
            _ => {}
        }
    }
    if let Some(off) = exif_ifd {
        for e in t.entries(off) {
            match e.tag {
                0x9003 => out.date_time = t.ascii(&e).or(out.date_time.take()),
                0x9291 => out.sub_sec = t.ascii(&e),
                0x9011 => out.offset = t.ascii(&e),
                0x829a if e.typ == 5 => {
                    out.exposure_us = t.rational_us(&e);
                }
                _ => {}
            }
        }
    }
    out
}

struct Tiff<'a> {
    b: &'a [u8],
    le: bool,
}

struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    /// Offset of the entry's 4-byte value/offset field.
    value_at: u32,
}

impl<'a> Tiff<'a> {
    /// Most entries read from one IFD (a real EXIF IFD has a few dozen).
    const MAX_ENTRIES: u16 = 512;

    fn new(b: &'a [u8]) -> Option<Tiff<'a>> {
        let le = match b.get(..4)? {
            b"II*\0" => true,
            b"MM\0*" => false,
            _ => return None,
        };
        Some(Tiff { b, le })
    }

    fn u16_at(&self, off: u32) -> Option<u16> {
        let s: [u8; 2] = self
            .b
            .get(off as usize..(off as usize).checked_add(2)?)?
            .try_into()
            .ok()?;
        Some(if self.le {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        })
    }

    fn u32_at(&self, off: u32) -> Option<u32> {
        let s: [u8; 4] = self
            .b
            .get(off as usize..(off as usize).checked_add(4)?)?
            .try_into()
            .ok()?;
        Some(if self.le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }

    fn entries(&self, ifd: u32) -> Vec<Entry> {
        let n = self.u16_at(ifd).unwrap_or(0).min(Self::MAX_ENTRIES);
        (0..u32::from(n))
            .map_while(|k| {
                let at = ifd.checked_add(2 + 12 * k)?;
                Some(Entry {
                    tag: self.u16_at(at)?,
                    typ: self.u16_at(at.checked_add(2)?)?,
                    count: self.u32_at(at.checked_add(4)?)?,
                    value_at: at.checked_add(8)?,
                })
            })
            .collect()
    }

    fn ascii(&self, e: &Entry) -> Option<String> {
        if e.typ != 2 || e.count == 0 || e.count > 256 {
            return None;
        }
        let at = if e.count <= 4 {
            e.value_at
        } else {
            self.u32_at(e.value_at)?
        };
        let bytes = self
            .b
            .get(at as usize..(at as usize).checked_add(e.count as usize)?)?;
        let text: Vec<u8> = bytes.iter().copied().take_while(|&c| c != 0).collect();
        String::from_utf8(text)
            .ok()
            .filter(|s| !s.trim().is_empty())
    }

    fn rational_us(&self, e: &Entry) -> Option<u32> {
        let at = self.u32_at(e.value_at)?;
        let (num, den) = (self.u32_at(at)?, self.u32_at(at.checked_add(4)?)?);
        if den == 0 {
            return None;
        }
        let us = (u64::from(num) * 1_000_000 + u64::from(den) / 2) / u64::from(den);
        Some(u32::try_from(us).unwrap_or(u32::MAX))
    }
}
