//! EXIF metadata of JPEG and PNG stacks (times, exposure, software, description), as a
//! little-endian TIFF structure, and its insertion into a JPEG as an APP1 segment.
//!
//! A little-endian TIFF structure (what follows `Exif\0\0` in the APP1 segment):
//!   header "II" 42 offset(8)
//!   IFD0:    ImageDescription(0x010E) Software(0x0131) DateTime(0x0132) ExifIFD(0x8769)
//!   ExifIFD: ExposureTime(0x829A) DateTimeOriginal(0x9003) OffsetTime(0x9010) OffsetTimeOriginal(0x9011)
//!   then the out-of-line values (strings longer than 4 bytes, the rational).

use super::meta::OutputMeta;

/// `jpeg` with an APP1 EXIF segment holding `tiff` inserted after its SOI and JFIF
/// APP0 markers, where EXIF readers look for it. A block too long for one segment
/// (over 64 KiB, which the metadata never is) is left out: the sidecar carries it.
pub(crate) fn with_exif(jpeg: Vec<u8>, tiff: &[u8]) -> Vec<u8> {
    const EXIF_HEADER: &[u8] = b"Exif\0\0";
    let Ok(len) = u16::try_from(2 + EXIF_HEADER.len() + tiff.len()) else {
        return jpeg;
    };
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] {
        return jpeg;
    }
    // After SOI, skip an APP0 (JFIF) segment if there is one.
    let mut at = 2;
    if jpeg[2..4] == [0xFF, 0xE0] && jpeg.len() >= 6 {
        let app0 = usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
        at = (4 + app0).min(jpeg.len());
    }
    let mut out = Vec::with_capacity(jpeg.len() + 4 + usize::from(len));
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(EXIF_HEADER);
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[at..]);
    out
}

const ASCII: u16 = 2;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
/// The APP1 segment holds at most 65533 bytes; keep the description well inside.
const MAX_DESCRIPTION: usize = 60_000;

struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    /// Value bytes; ≤ 4 are stored inline, longer ones out of line.
    value: Vec<u8>,
}

fn ascii(tag: u16, s: &str) -> Entry {
    let mut value: Vec<u8> = s
        .bytes()
        .map(|b| if (0x20..0x7f).contains(&b) { b } else { b'?' })
        .collect();
    value.push(0);
    Entry {
        tag,
        kind: ASCII,
        count: value.len() as u32,
        value,
    }
}

/// Exposure time in seconds as a TIFF rational, reduced to fit in 32 bits.
fn exposure_rational(us: u64) -> (u32, u32) {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(us, 1_000_000).max(1);
    let (n, d) = (us / g, 1_000_000 / g);
    match u32::try_from(n) {
        Ok(n) => (n, d as u32),
        // Over ~71 minutes in µs: whole seconds are precise enough.
        Err(_) => (u32::try_from(us / 1_000_000).unwrap_or(u32::MAX), 1),
    }
}

/// Builds the EXIF TIFF block for `meta` (without the `Exif\0\0` prefix).
pub fn exif_tiff(meta: &OutputMeta) -> Vec<u8> {
    let date = nightcap_frame::time::utc_exif(meta.start_utc_ns);
    let mut description = meta.to_json();
    if description.len() > MAX_DESCRIPTION {
        description = format!("{} stack (description too long for EXIF)", meta.mode);
    }
    let (num, den) = exposure_rational(meta.exposure_total_us);
    let mut rational = num.to_le_bytes().to_vec();
    rational.extend_from_slice(&den.to_le_bytes());
    let ifd0 = vec![
        ascii(0x010E, &description),
        ascii(0x0131, &meta.software),
        ascii(0x0132, &date),
        Entry {
            tag: 0x8769,
            kind: LONG,
            count: 1,
            value: vec![0; 4], // patched with the Exif IFD offset below
        },
    ];
    let exif = vec![
        Entry {
            tag: 0x829A,
            kind: RATIONAL,
            count: 1,
            value: rational,
        },
        ascii(0x9003, &date),
        // OffsetTime (of DateTime, 0x0132) and OffsetTimeOriginal (of DateTimeOriginal):
        // both times are UTC. (0x9010 alone, written before, is not the Original's.)
        ascii(0x9010, "+00:00"),
        ascii(0x9011, "+00:00"),
    ];
    let mut out = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let ifd0_len = ifd_len(&ifd0);
    let exif_offset = 8 + ifd0_len;
    write_ifd(&mut out, ifd0, Some(exif_offset as u32));
    write_ifd(&mut out, exif, None);
    out
}

/// Bytes an IFD takes including its out-of-line values (padded to even offsets).
fn ifd_len(entries: &[Entry]) -> usize {
    let extra: usize = entries
        .iter()
        .filter(|e| e.value.len() > 4)
        .map(|e| e.value.len().next_multiple_of(2))
        .sum();
    2 + 12 * entries.len() + 4 + extra
}

/// Appends one IFD (entries sorted by tag, as TIFF requires) and its values at the end of
/// `out`; `exif_ptr` fills the value of the 0x8769 entry.
fn write_ifd(out: &mut Vec<u8>, mut entries: Vec<Entry>, exif_ptr: Option<u32>) {
    entries.sort_by_key(|e| e.tag);
    let start = out.len();
    let mut data_at = start + 2 + 12 * entries.len() + 4;
    let mut data = Vec::new();
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for e in &entries {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.kind.to_le_bytes());
        out.extend_from_slice(&e.count.to_le_bytes());
        if e.tag == 0x8769 {
            out.extend_from_slice(&exif_ptr.unwrap_or(0).to_le_bytes());
        } else if e.value.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..e.value.len()].copy_from_slice(&e.value);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&(data_at as u32).to_le_bytes());
            data.extend_from_slice(&e.value);
            if e.value.len() % 2 == 1 {
                data.push(0);
            }
            data_at += e.value.len().next_multiple_of(2);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    out.extend_from_slice(&data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_goes_after_soi_and_jfif_or_is_left_out() {
        let app0 = [0xFF, 0xE0, 0x00, 0x04, b'J', b'F'];
        let body = [0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xD9];
        let with_jfif: Vec<u8> = [&[0xFF, 0xD8][..], &app0, &body].concat();
        let out = with_exif(with_jfif.clone(), b"TIFF");
        let app1 = [
            0xFF, 0xE1, 0x00, 0x0C, b'E', b'x', b'i', b'f', 0, 0, b'T', b'I', b'F', b'F',
        ];
        assert_eq!(out, [&[0xFF, 0xD8][..], &app0, &app1, &body].concat());
        let bare: Vec<u8> = [&[0xFF, 0xD8][..], &body].concat();
        assert_eq!(
            with_exif(bare.clone(), b"TIFF"),
            [&[0xFF, 0xD8][..], &app1, &body].concat()
        );
        // Too long for one segment, or not a JPEG: unchanged.
        assert_eq!(with_exif(bare.clone(), &vec![0; 70_000]), bare);
        assert_eq!(with_exif(vec![1, 2, 3], b"TIFF"), vec![1, 2, 3]);
    }

    #[test]
    fn exposure_rationals() {
        assert_eq!(exposure_rational(5_000_000), (5, 1));
        assert_eq!(exposure_rational(250), (1, 4000));
        assert_eq!(exposure_rational(1_500_000), (3, 2));
        assert_eq!(exposure_rational(10_000_000_000_123), (10_000_000, 1));
    }
}
