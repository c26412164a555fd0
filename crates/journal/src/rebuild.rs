//! Rebuilding a segment header that cannot be read, from the segment's own records and
//! the headers of its neighbours.
//!
//! The 256-byte header is the only place a segment states its stream (size, pixel
//! format) and its salt, so one damaged byte there (an SD card's usual failure) would
//! otherwise cost every frame behind it. Every record header repeats the low half of
//! the salt and is protected by its own CRC, and the segments of one capture share one
//! stream description, so the header can be rebuilt:
//!
//! - the salt, from the first record header whose magic and CRC are intact;
//! - the first seq, from that record (a FRAME's own seq; a GAP's or NOTE's "next" seq);
//! - first of all, from the segment's own copies of its header (format 1.1: a NOTE at
//!   offset 512 and, once sealed, one before the footer), when one is intact;
//! - the stream description and compression settings, from the damaged header itself
//!   when its fields still make sense, else from the nearest readable segment.
//!
//! A rebuilt header is only a candidate: [`super::repair`] accepts it only if every
//! frame of the segment then decodes to exactly its `raw_len` bytes with valid
//! checksums, so a wrong guess can never produce a wrong frame.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::error::JournalError;
use super::format::{crc, SegmentHeader, SegmentName, HEADER_LEN, RECORD_HEADER_LEN, RECORD_MAGIC};
use nightcap_frame::PixelFormat;

/// Bytes read per step while looking for the first intact record header.
const CHUNK: usize = 1 << 20;

/// Candidate headers for the segment at `path` (named `name`), most likely first: built
/// from the damaged header's own fields, then from each neighbour's. Empty when no
/// intact record header exists (nothing to rebuild from).
pub fn candidates(
    path: &Path,
    name: &SegmentName,
    neighbours: &[SegmentHeader],
) -> Result<Vec<SegmentHeader>, JournalError> {
    let file = File::open(path).map_err(JournalError::io("opening", path))?;
    let len = file
        .metadata()
        .map_err(JournalError::io("reading size of", path))?
        .len();
    let mut damaged = vec![0u8; HEADER_LEN];
    let got = file.read_at(&mut damaged, 0).unwrap_or(0);
    damaged.truncate(got);
    let Some((salt_lo, first_seq)) = first_record(&file, len, path)? else {
        return Ok(Vec::new());
    };
    let base = |format: PixelFormat, from: Option<&SegmentHeader>| SegmentHeader {
        run_id: from.map_or(0, |h| h.run_id),
        segno: name.segno,
        salt: u64::from(salt_lo),
        created_ns: created_ns(name).unwrap_or(0),
        first_seq,
        format,
        default_transform: from.map_or(0, |h| h.default_transform),
        default_compression: from.map_or(0, |h| h.default_compression),
        zstd_level: from.map_or(0, |h| h.zstd_level),
    };
    let mut out = Vec::new();
    for copy in own_copies(&file, len) {
        // A copy names its segment's salt: it must be the one the records carry.
        if copy.salt as u32 == salt_lo && !out.contains(&copy) {
            out.push(copy);
        }
    }
    // A flipped bit in the CRC, the magic or a reserved byte leaves the fields right.
    if let Ok(h) = SegmentHeader::fields(&damaged) {
        let mut own = base(h.format, Some(&h));
        if h.salt as u32 == salt_lo {
            own.salt = h.salt;
        }
        out.push(own);
    }
    for n in neighbours {
        if !out.iter().any(|c| c.format == n.format) {
            out.push(base(n.format, Some(n)));
        }
    }
    Ok(out)
}

/// The segment's own intact copies of its header: the NOTE at offset 512 and the one just
/// before the footer (found through the trailer's footer offset).
fn own_copies(file: &File, len: u64) -> Vec<SegmentHeader> {
    use super::format::TRAILER_LEN;
    use super::segment::{header_from_copy, HEADER_COPY_AT, HEADER_COPY_RECORD};
    let mut places = vec![HEADER_COPY_AT];
    let mut trailer = [0u8; TRAILER_LEN];
    if len >= TRAILER_LEN as u64
        && file
            .read_exact_at(&mut trailer, len - TRAILER_LEN as u64)
            .is_ok()
    {
        // Trailer: footer_offset u64 | entry_count u64 | magic[8] | salt_lo | crc.
        let footer_offset = le64(&trailer, 0);
        if let Some(at) = footer_offset.checked_sub(HEADER_COPY_RECORD) {
            places.push(at);
        }
    }
    let mut out = Vec::new();
    for at in places {
        let mut rec = vec![0u8; HEADER_COPY_RECORD as usize];
        if at + HEADER_COPY_RECORD > len || file.read_exact_at(&mut rec, at).is_err() {
            continue;
        }
        let h = &rec[..RECORD_HEADER_LEN];
        if !intact_record_header(h) {
            continue;
        }
        let stored = le32(h, 8) as usize;
        let Some(payload) = rec.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + stored) else {
            continue;
        };
        if crc(payload) != le32(h, 44) {
            continue;
        }
        if let Some(copy) = header_from_copy(payload) {
            out.push(copy);
        }
    }
    out
}

/// The salt and seq of the first intact record header at an aligned offset.
fn first_record(file: &File, len: u64, path: &Path) -> Result<Option<(u32, u64)>, JournalError> {
    let mut buf = vec![0u8; CHUNK + RECORD_HEADER_LEN];
    let mut at = HEADER_LEN as u64;
    while at + RECORD_HEADER_LEN as u64 <= len {
        let want = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..want], at)
            .map_err(JournalError::io("reading", path))?;
        let mut off = 0usize;
        while off + RECORD_HEADER_LEN <= want {
            let h = &buf[off..off + RECORD_HEADER_LEN];
            if intact_record_header(h) {
                return Ok(Some((le32(h, 56), le64(h, 16))));
            }
            off += super::format::ALIGN as usize;
        }
        at += CHUNK as u64;
    }
    Ok(None)
}

/// The creation time in a segment's name (`YYYYMMDDTHHMMSSZ`), UTC ns.
fn created_ns(name: &SegmentName) -> Option<i64> {
    let s = &name.stamp;
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        s.get(0..4)?,
        s.get(4..6)?,
        s.get(6..8)?,
        s.get(9..11)?,
        s.get(11..13)?,
        s.get(13..15)?
    );
    nightcap_frame::time::parse_utc(&text).ok()
}

/// Whether `h` (a record header's 64 bytes) has the record magic and its own CRC: it can
/// be trusted without the segment header.
fn intact_record_header(h: &[u8]) -> bool {
    h[0..4] == RECORD_MAGIC && crc(&h[..60]) == le32(h, 60)
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
