//! The bytes of segment format v1: constants, and encoding/decoding of the segment header,
//! record headers, GAP payloads, the footer index and the trailer, plus segment file names.
//!
//! `formats/segment.md` is the normative spec; every layout below repeats it as a grammar
//! comment. Decoding never panics and never trusts a length: every check a reader needs
//! before allocating (caps, ranges, CRCs) happens here, in pure functions.

use nightcap_frame::time::utc_iso_basic;
use nightcap_frame::{Cfa, FrameMeta, Packing, PixelFormat, MAX_FRAME_BYTES};

/// `\x89NCJ\r\n\x1a\n`: non-ASCII first byte, CR-LF and ^Z catch text-mode mangling.
pub const SEGMENT_MAGIC: [u8; 8] = [0x89, b'N', b'C', b'J', b'\r', b'\n', 0x1a, b'\n'];
/// The newest major version this reader understands: it reads 1.x and 2.x.
pub const MAJOR: u16 = 2;
/// The minor version written in 1.x segments (those of every packing but 16-bit RGB):
/// 2 since STATS records (1.1 added the header copies).
pub const MINOR: u16 = 2;
/// The minor version written in 2.x segments: 1 since STATS records.
pub const MINOR_2: u16 = 1;

/// The version a segment of frames packed as `packing` is written in: 1.1, or 2.0 for
/// the packings 2.0 added (a 1.x reader refuses those segments as newer).
pub fn version_for(packing: Packing) -> (u16, u16) {
    match packing.format_major() {
        1 => (1, MINOR),
        major => (major, MINOR_2),
    }
}
/// Bytes of the segment header.
pub const HEADER_LEN: usize = 256;
/// Record magic `\x8aNCR`.
pub const RECORD_MAGIC: [u8; 4] = [0x8a, b'N', b'C', b'R'];
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 64;
/// Records start at multiples of this.
pub const ALIGN: u64 = 64;
/// Bytes of the trailer at the end of a sealed segment.
pub const TRAILER_LEN: usize = 32;
/// The trailer's magic: `NCJEND` followed by the bytes 1 and 0.
pub const TRAILER_MAGIC: [u8; 8] = [b'N', b'C', b'J', b'E', b'N', b'D', 1, 0];
/// Bytes of one footer index entry.
pub const INDEX_ENTRY_LEN: usize = 32;

/// Largest GAP payload.
pub const MAX_GAP_LEN: u32 = 4096;
/// Largest NOTE payload.
pub const MAX_NOTE_LEN: u32 = 65536;
/// Largest STATS payload (a keogram column of [`MAX_STATS_ROWS`] RGB rows fits).
pub const MAX_STATS_LEN: u32 = 4096;
/// Most rows of the keogram column a STATS record holds.
pub const MAX_STATS_ROWS: u16 = 480;
/// Largest FOOTER payload (two million records).
pub const MAX_FOOTER_LEN: u32 = 64 * 1024 * 1024;
/// Record flag: a reader that does not know the kind skips the record.
pub const FLAG_SKIPPABLE: u8 = 1;

/// Rounds `n` up to the record alignment.
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// CRC-32C.
pub fn crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
fn i64_at(b: &[u8], off: usize) -> i64 {
    u64_at(b, off) as i64
}

/// What is wrong with a header, record or trailer. Pure data: the caller adds the
/// segment and offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatFault {
    /// The magic bytes are not nightcap's.
    #[error("not a nightcap segment (bad magic)")]
    BadMagic,
    #[error("written by a newer nightcap: format {major}.{minor}, this reader understands 1.x and {MAJOR}.x; upgrade nightcap")]
    /// A segment of a newer major format version.
    NewerMajor {
        /// Its major version.
        major: u16,
        /// Its minor version.
        minor: u16,
    },
    /// The header's CRC does not match.
    #[error("header checksum mismatch")]
    HeaderCrc,
    /// A header field holds a value the format does not allow.
    #[error("header field out of range: {0}")]
    HeaderField(&'static str),
    /// Zero bytes where a record would start: the end of what was written.
    #[error("no record here (zero bytes: end of written data)")]
    Zero,
    /// The record's magic bytes are wrong.
    #[error("bad record magic")]
    RecordMagic,
    /// The record header's CRC does not match.
    #[error("record header checksum mismatch")]
    RecordCrc,
    /// The record's salt is not this segment's (a stale record of another segment).
    #[error("record belongs to another segment (salt mismatch)")]
    Salt,
    /// A record field holds a value the format does not allow.
    #[error("record field out of range: {0}")]
    RecordField(&'static str),
    /// The record would end past the end of the file.
    #[error("record runs past the end of the file")]
    PastEnd,
    /// The payload's CRC does not match.
    #[error("payload checksum mismatch")]
    PayloadCrc,
    /// The trailer is missing or invalid.
    #[error("bad trailer")]
    Trailer,
    /// The footer index is invalid.
    #[error("bad footer index")]
    Footer,
    /// Fewer bytes (first) than the structure needs (second).
    #[error("truncated: {0} bytes where {1} are needed")]
    Short(usize, usize),
}

/// The segment header.
///
/// ```text
/// 0  magic[8] | 8 major u16 | 10 minor u16 | 12 header_len u32 | 16 run_id u64
/// 24 segno u64 | 32 salt u64 | 40 created_ns i64 | 48 first_seq u64
/// 56 fourcc[4] | 60 width u32 | 64 height u32 | 68 stride u32
/// 72 bit_depth u8 | 73 cfa u8 | 74 packing u8 | 75 default_transform u8
/// 76 default_compression u8 | 77 zstd_level i8 | 78..252 zero | 252 header_crc u32
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Random id of the writer run that created the segment.
    pub run_id: u64,
    /// The segment's number in the journal.
    pub segno: u64,
    /// Random per-segment salt; every record carries its low 32 bits.
    pub salt: u64,
    /// When the segment was created, UTC ns.
    pub created_ns: i64,
    /// Seq of the segment's first frame.
    pub first_seq: u64,
    /// The stream format of every frame in the segment.
    pub format: PixelFormat,
    /// Transform code records use unless they say otherwise.
    pub default_transform: u8,
    /// Compression code records use unless they say otherwise.
    pub default_compression: u8,
    /// The zstd level frames were written with (informative).
    pub zstd_level: i8,
}

impl SegmentHeader {
    /// The header's bytes, CRC included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        let (major, minor) = version_for(self.format.packing);
        b[8..10].copy_from_slice(&major.to_le_bytes());
        b[10..12].copy_from_slice(&minor.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.run_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.segno.to_le_bytes());
        b[32..40].copy_from_slice(&self.salt.to_le_bytes());
        b[40..48].copy_from_slice(&self.created_ns.to_le_bytes());
        b[48..56].copy_from_slice(&self.first_seq.to_le_bytes());
        let f = &self.format;
        b[56..60].copy_from_slice(&f.fourcc);
        b[60..64].copy_from_slice(&f.width.to_le_bytes());
        b[64..68].copy_from_slice(&f.height.to_le_bytes());
        b[68..72].copy_from_slice(&f.stride.to_le_bytes());
        b[72] = f.bit_depth;
        b[73] = f.cfa.code();
        b[74] = f.packing.code();
        b[75] = self.default_transform;
        b[76] = self.default_compression;
        b[77] = self.zstd_level as u8;
        let c = crc(&b[..252]);
        b[252..256].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Reads a header, checking magic, version, CRC and every field.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, FormatFault> {
        if b.len() < HEADER_LEN {
            return Err(FormatFault::Short(b.len(), HEADER_LEN));
        }
        if b[0..8] != SEGMENT_MAGIC {
            return Err(FormatFault::BadMagic);
        }
        let (major, minor) = (u16_at(b, 8), u16_at(b, 10));
        if !(1..=MAJOR).contains(&major) {
            // Checked before the CRC: a newer major may have moved the CRC. But a header
            // of a major we read with a damaged `major` field is damage, not a newer
            // file: with the field put back, its CRC matches.
            let mut ours = [0u8; 252];
            ours.copy_from_slice(&b[..252]);
            let put_back = (1..=MAJOR).any(|m| {
                ours[8..10].copy_from_slice(&m.to_le_bytes());
                crc(&ours) == u32_at(b, 252)
            });
            if put_back || major == 0 {
                return Err(FormatFault::HeaderField("major"));
            }
            return Err(FormatFault::NewerMajor { major, minor });
        }
        if crc(&b[..252]) != u32_at(b, 252) {
            return Err(FormatFault::HeaderCrc);
        }
        if u32_at(b, 12) as usize != HEADER_LEN {
            return Err(FormatFault::HeaderField("header_len"));
        }
        let header = SegmentHeader::fields(b)?;
        // A packing newer than the header's version cannot be in it.
        if header.format.packing.format_major() > major {
            return Err(FormatFault::HeaderField("packing"));
        }
        Ok(header)
    }

    /// The fields of a header's bytes (at least [`HEADER_LEN`]) whose magic, version and
    /// CRC are not checked: only that the stream description is valid. For rebuilding a
    /// damaged header, whose fields may still be right when its CRC is not.
    pub fn fields(b: &[u8]) -> Result<SegmentHeader, FormatFault> {
        if b.len() < HEADER_LEN {
            return Err(FormatFault::Short(b.len(), HEADER_LEN));
        }
        let cfa = Cfa::from_code(b[73]).ok_or(FormatFault::HeaderField("cfa"))?;
        let packing = Packing::from_code(b[74]).ok_or(FormatFault::HeaderField("packing"))?;
        let format = PixelFormat {
            fourcc: b[56..60].try_into().expect("4 bytes"),
            width: u32_at(b, 60),
            height: u32_at(b, 64),
            stride: u32_at(b, 68),
            bit_depth: b[72],
            cfa,
            packing,
        };
        format
            .validate()
            .map_err(|_| FormatFault::HeaderField("pixel format"))?;
        Ok(SegmentHeader {
            run_id: u64_at(b, 16),
            segno: u64_at(b, 24),
            salt: u64_at(b, 32),
            created_ns: i64_at(b, 40),
            first_seq: u64_at(b, 48),
            format,
            default_transform: b[75],
            default_compression: b[76],
            zstd_level: b[77] as i8,
        })
    }

    /// The low 32 bits of the salt, as records carry them.
    pub fn salt_lo(&self) -> u32 {
        self.salt as u32
    }
}

/// Record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A frame: metadata in the header, the camera's bytes as payload.
    Frame,
    /// A GAP: frames missed, when and why.
    Gap,
    /// A NOTE: free text (sources, clock state, padding, header copies).
    Note,
    /// The footer index of a sealed segment.
    Footer,
    /// A frame's statistics (since 1.2 and 2.1): sky, noise, stars, a keogram column.
    Stats,
    /// A kind this reader does not know, marked skippable by its writer.
    Unknown(u8),
}

impl Kind {
    /// The kind's byte in a record header.
    pub fn code(self) -> u8 {
        match self {
            Kind::Frame => 1,
            Kind::Gap => 2,
            Kind::Note => 3,
            Kind::Footer => 4,
            Kind::Stats => 5,
            Kind::Unknown(c) => c,
        }
    }

    fn from_code(code: u8) -> Kind {
        match code {
            1 => Kind::Frame,
            2 => Kind::Gap,
            3 => Kind::Note,
            4 => Kind::Footer,
            5 => Kind::Stats,
            c => Kind::Unknown(c),
        }
    }
}

/// A record header.
///
/// ```text
/// 0  magic[4] "\x8aNCR" | 4 kind u8 | 5 flags u8 | 6 transform u8 | 7 compression u8
/// 8  stored_len u32 | 12 raw_len u32 | 16 seq u64 | 24 time_ns i64
/// 32 exposure_us u32 | 36 gain_milli u32 | 40 driver_seq u32 | 44 payload_crc u32
/// 48 driver_ts_ns u64 | 56 salt_lo u32 | 60 header_crc u32 (CRC of 0..60)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// What the record holds.
    pub kind: Kind,
    /// Flag bits (bit 0: a reader that does not know the kind may skip it).
    pub flags: u8,
    /// Transform code of the payload.
    pub transform: u8,
    /// Compression code of the payload.
    pub compression: u8,
    /// Payload bytes as stored.
    pub stored_len: u32,
    /// Payload bytes once decoded.
    pub raw_len: u32,
    /// The frame's seq (for GAP and NOTE, the seq of the next frame).
    pub seq: u64,
    /// Exposure start (GAP, NOTE: when written), UTC ns.
    pub time_ns: i64,
    /// Exposure time, microseconds.
    pub exposure_us: u32,
    /// Gain in thousandths.
    pub gain_milli: u32,
    /// The driver's frame counter.
    pub driver_seq: u32,
    /// CRC-32C of the stored payload.
    pub payload_crc: u32,
    /// The driver's timestamp, ns.
    pub driver_ts_ns: u64,
    /// The segment's salt, low 32 bits.
    pub salt_lo: u32,
}

impl RecordHeader {
    /// A header for a FRAME record of `meta` whose `raw_len`-byte frame was stored as
    /// `payload` by the transform and compression `codes`; `seq` and `salt_lo` are the
    /// segment's to fill in when it is appended.
    pub fn frame_record(meta: &FrameMeta, codes: (u8, u8), raw_len: usize, payload: &[u8]) -> Self {
        RecordHeader {
            kind: Kind::Frame,
            flags: 0,
            transform: codes.0,
            compression: codes.1,
            stored_len: payload.len() as u32,
            raw_len: raw_len as u32,
            seq: 0,
            time_ns: meta.time_utc_ns,
            exposure_us: meta.exposure_us,
            gain_milli: meta.gain_milli,
            driver_seq: meta.driver_seq,
            payload_crc: crc(payload),
            driver_ts_ns: meta.driver_ts_ns,
            salt_lo: 0,
        }
    }

    /// A header for a non-FRAME record with `payload`.
    pub fn meta_record(kind: Kind, seq: u64, time_ns: i64, payload: &[u8], salt_lo: u32) -> Self {
        RecordHeader {
            kind,
            flags: if kind == Kind::Footer {
                0
            } else {
                FLAG_SKIPPABLE
            },
            transform: 0,
            compression: 0,
            stored_len: payload.len() as u32,
            raw_len: payload.len() as u32,
            seq,
            time_ns,
            exposure_us: 0,
            gain_milli: 0,
            driver_seq: 0,
            payload_crc: crc(payload),
            driver_ts_ns: 0,
            salt_lo,
        }
    }

    /// The record header's bytes, CRC included.
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0..4].copy_from_slice(&RECORD_MAGIC);
        b[4] = self.kind.code();
        b[5] = self.flags;
        b[6] = self.transform;
        b[7] = self.compression;
        b[8..12].copy_from_slice(&self.stored_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.time_ns.to_le_bytes());
        b[32..36].copy_from_slice(&self.exposure_us.to_le_bytes());
        b[36..40].copy_from_slice(&self.gain_milli.to_le_bytes());
        b[40..44].copy_from_slice(&self.driver_seq.to_le_bytes());
        b[44..48].copy_from_slice(&self.payload_crc.to_le_bytes());
        b[48..56].copy_from_slice(&self.driver_ts_ns.to_le_bytes());
        b[56..60].copy_from_slice(&self.salt_lo.to_le_bytes());
        let c = crc(&b[..60]);
        b[60..64].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes and validates a record header found at some offset of a segment whose
    /// header is `seg`, with `room` bytes of file from the record's start to the end.
    pub fn decode(b: &[u8], seg: &SegmentHeader, room: u64) -> Result<RecordHeader, FormatFault> {
        if b.len() < RECORD_HEADER_LEN {
            return Err(FormatFault::Short(b.len(), RECORD_HEADER_LEN));
        }
        if b[..RECORD_HEADER_LEN].iter().all(|&x| x == 0) {
            return Err(FormatFault::Zero);
        }
        if b[0..4] != RECORD_MAGIC {
            return Err(FormatFault::RecordMagic);
        }
        if crc(&b[..60]) != u32_at(b, 60) {
            return Err(FormatFault::RecordCrc);
        }
        let h = RecordHeader {
            kind: Kind::from_code(b[4]),
            flags: b[5],
            transform: b[6],
            compression: b[7],
            stored_len: u32_at(b, 8),
            raw_len: u32_at(b, 12),
            seq: u64_at(b, 16),
            time_ns: i64_at(b, 24),
            exposure_us: u32_at(b, 32),
            gain_milli: u32_at(b, 36),
            driver_seq: u32_at(b, 40),
            payload_crc: u32_at(b, 44),
            driver_ts_ns: u64_at(b, 48),
            salt_lo: u32_at(b, 56),
        };
        if h.salt_lo != seg.salt_lo() {
            return Err(FormatFault::Salt);
        }
        h.check_limits(seg)?;
        if RECORD_HEADER_LEN as u64 + u64::from(h.stored_len) > room {
            return Err(FormatFault::PastEnd);
        }
        Ok(h)
    }

    fn check_limits(&self, seg: &SegmentHeader) -> Result<(), FormatFault> {
        if self.flags & !FLAG_SKIPPABLE != 0 {
            return Err(FormatFault::RecordField("flags"));
        }
        let meta_cap = match self.kind {
            Kind::Frame => return self.check_frame_limits(seg),
            Kind::Gap => MAX_GAP_LEN,
            Kind::Note => MAX_NOTE_LEN,
            Kind::Footer => MAX_FOOTER_LEN,
            Kind::Stats => MAX_STATS_LEN,
            Kind::Unknown(_) if self.flags & FLAG_SKIPPABLE != 0 => MAX_FOOTER_LEN,
            Kind::Unknown(_) => return Err(FormatFault::RecordField("unknown kind")),
        };
        if self.stored_len > meta_cap || self.raw_len != self.stored_len {
            return Err(FormatFault::RecordField("length"));
        }
        Ok(())
    }

    fn check_frame_limits(&self, seg: &SegmentHeader) -> Result<(), FormatFault> {
        let max = seg.format.max_frame_bytes().min(MAX_FRAME_BYTES);
        let raw = u64::from(self.raw_len);
        if raw > max || (seg.format.fixed_size() && raw != max) {
            return Err(FormatFault::RecordField("raw_len"));
        }
        if u64::from(self.stored_len) > max_stored_len(raw) {
            return Err(FormatFault::RecordField("stored_len"));
        }
        Ok(())
    }

    /// Offset of the next record after this one, which starts at `offset`.
    pub fn next_offset(&self, offset: u64) -> u64 {
        align_up(offset + RECORD_HEADER_LEN as u64 + u64::from(self.stored_len))
    }
}

/// The largest stored payload a FRAME of `raw_len` bytes may have (zstd's worst case is
/// far below this).
pub fn max_stored_len(raw_len: u64) -> u64 {
    raw_len + raw_len / 8 + 65536
}

/// Why frames were missed (GAP `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapReason {
    /// The journal writer fell behind and frames were dropped.
    WriterBehind,
    /// The camera delivered no frame in time.
    Timeout,
    /// The driver's frame counter skipped (frames dropped before they reached nightcap).
    DriverSkip,
    /// The driver flagged buffers as corrupt.
    CorruptBuffer,
    /// The camera disappeared.
    CameraGone,
    /// The disk was full.
    DiskFull,
    /// Capture restarted after an unclean shutdown.
    Restart,
    /// Any other reason (the text says).
    Other,
    /// Damaged records that `nightcap repair` left out of a rewritten segment (kept in
    /// the original beside it). Unlike the others, the frames it counts had taken seq
    /// numbers: the GAP's header seq is the seq after them, so it explains the hole
    /// `seq - count .. seq` (format.md 3.3).
    SetAside,
}

impl GapReason {
    /// The reason's code in a GAP payload.
    pub fn code(self) -> u32 {
        match self {
            GapReason::WriterBehind => 1,
            GapReason::Timeout => 2,
            GapReason::DriverSkip => 3,
            GapReason::CorruptBuffer => 4,
            GapReason::CameraGone => 5,
            GapReason::DiskFull => 6,
            GapReason::Restart => 7,
            GapReason::Other => 8,
            GapReason::SetAside => 9,
        }
    }

    /// The reason of a code (unknown codes are `Other`).
    pub fn from_code(code: u32) -> GapReason {
        match code {
            1 => GapReason::WriterBehind,
            2 => GapReason::Timeout,
            3 => GapReason::DriverSkip,
            4 => GapReason::CorruptBuffer,
            5 => GapReason::CameraGone,
            6 => GapReason::DiskFull,
            7 => GapReason::Restart,
            9 => GapReason::SetAside,
            _ => GapReason::Other,
        }
    }

    /// The reason in words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            GapReason::WriterBehind => "writer fell behind, frames dropped",
            GapReason::Timeout => "camera timed out",
            GapReason::DriverSkip => "driver skipped frames",
            GapReason::CorruptBuffer => "camera delivered a corrupt frame",
            GapReason::CameraGone => "camera disappeared",
            GapReason::DiskFull => "disk full",
            GapReason::Restart => "restart after unclean shutdown",
            GapReason::Other => "other",
            GapReason::SetAside => "damaged records set aside by repair",
        }
    }
}

/// A GAP payload.
///
/// ```text
/// 0 count u64 | 8 start_ns i64 | 16 end_ns i64 | 24 reason u32 | 28 text_len u32 | 32 text[text_len]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// Frames missed (0 when unknown).
    pub count: u64,
    /// Start of the gap, UTC ns.
    pub start_ns: i64,
    /// End of the gap, UTC ns.
    pub end_ns: i64,
    /// Why.
    pub reason: GapReason,
    /// Details in words.
    pub text: String,
}

impl Gap {
    /// The GAP payload's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = self.text.as_bytes();
        let cap = MAX_GAP_LEN as usize - 32;
        if text.len() > cap {
            let mut end = cap;
            while !self.text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
        }
        let mut b = Vec::with_capacity(32 + text.len());
        b.extend_from_slice(&self.count.to_le_bytes());
        b.extend_from_slice(&self.start_ns.to_le_bytes());
        b.extend_from_slice(&self.end_ns.to_le_bytes());
        b.extend_from_slice(&self.reason.code().to_le_bytes());
        b.extend_from_slice(&(text.len() as u32).to_le_bytes());
        b.extend_from_slice(text);
        b
    }

    /// Reads a GAP payload.
    pub fn decode(b: &[u8]) -> Result<Gap, FormatFault> {
        if b.len() < 32 {
            return Err(FormatFault::Short(b.len(), 32));
        }
        let text_len = u32_at(b, 28) as usize;
        let text = b
            .get(32..32 + text_len.min(b.len()))
            .filter(|t| t.len() == text_len)
            .ok_or(FormatFault::RecordField("gap text_len"))?;
        Ok(Gap {
            count: u64_at(b, 0),
            start_ns: i64_at(b, 8),
            end_ns: i64_at(b, 16),
            reason: GapReason::from_code(u32_at(b, 24)),
            text: String::from_utf8_lossy(text).into_owned(),
        })
    }
}

/// A STATS payload: what one frame looks like, measured once by the writer so readers
/// need not decode the frame again (cloud rejection, the status page's charts and
/// keogram). The figures are those of `nightcap_stack::stats` (2x2 cells of a fixed
/// subsample of rows); `cells = 0` means the frame was too small to measure.
///
/// ```text
/// 0  cells u32 | 4 stars u32 | 8 sky f32 | 12 noise f32 | 16 bright_fraction f32
/// 20 saturated_fraction f32 | 24 background_r f32 | 28 background_g f32
/// 32 background_b f32 | 36 column_rows u16 | 38 column_channels u8 | 39 zero
/// 40..64 zero | 64 column[column_rows * column_channels] u16
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FrameStats {
    /// 2x2 cells measured (0: the frame was too small).
    pub cells: u32,
    /// Stars found among them.
    pub stars: u32,
    /// Median cell sum: the sky background of a 2x2 cell.
    pub sky: f32,
    /// Robust noise of a cell sum.
    pub noise: f32,
    /// Fraction of cells far above the sky (lit cloud, lights).
    pub bright_fraction: f32,
    /// Fraction of samples at the stream's largest value.
    pub saturated_fraction: f32,
    /// Median sample per colour (red, green, blue; the one value thrice for mono).
    pub background: [f32; 3],
    /// Channels of the keogram column (1 or 3; 0 with no column).
    pub column_channels: u8,
    /// The keogram column at the frame's centre, top to bottom, at most
    /// [`MAX_STATS_ROWS`] rows (averaged down), channels interleaved.
    #[serde(skip)]
    pub column: Vec<u16>,
}

impl FrameStats {
    /// Rows of the keogram column.
    pub fn column_rows(&self) -> usize {
        self.column
            .len()
            .checked_div(usize::from(self.column_channels))
            .unwrap_or(0)
    }

    /// The STATS payload's bytes (a column longer than the format allows is left out).
    pub fn encode(&self) -> Vec<u8> {
        let ch = usize::from(self.column_channels);
        let rows = self.column_rows();
        let column = rows <= usize::from(MAX_STATS_ROWS)
            && matches!(ch, 1 | 3)
            && rows * ch == self.column.len();
        let (rows, ch) = if column { (rows, ch) } else { (0, 0) };
        let mut b = Vec::with_capacity(64 + 2 * rows * ch);
        b.extend_from_slice(&self.cells.to_le_bytes());
        b.extend_from_slice(&self.stars.to_le_bytes());
        for v in [
            self.sky,
            self.noise,
            self.bright_fraction,
            self.saturated_fraction,
        ]
        .into_iter()
        .chain(self.background)
        {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&(rows as u16).to_le_bytes());
        b.push(ch as u8);
        b.resize(64, 0);
        if column {
            for v in &self.column {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        b
    }

    /// Reads a STATS payload. Longer payloads are read (later minor versions may add
    /// fields after the column); a column that does not fit the payload is damage.
    pub fn decode(b: &[u8]) -> Result<FrameStats, FormatFault> {
        if b.len() < 64 {
            return Err(FormatFault::Short(b.len(), 64));
        }
        let f = |off| f32::from_bits(u32_at(b, off));
        let rows = usize::from(u16_at(b, 36));
        let ch = b[38];
        if rows > usize::from(MAX_STATS_ROWS) || !matches!((rows, ch), (0, 0) | (1.., 1 | 3)) {
            return Err(FormatFault::RecordField("stats column"));
        }
        let n = rows * usize::from(ch);
        let column = b
            .get(64..64 + 2 * n)
            .ok_or(FormatFault::RecordField("stats column"))?
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        Ok(FrameStats {
            cells: u32_at(b, 0),
            stars: u32_at(b, 4),
            sky: f(8),
            noise: f(12),
            bright_fraction: f(16),
            saturated_fraction: f(20),
            background: [f(24), f(28), f(32)],
            column_channels: ch,
            column,
        })
    }
}

/// One footer index entry: where a record is and what it is.
///
/// ```text
/// 0 offset u64 | 8 seq u64 | 16 time_ns i64 | 24 kind u8 | 25 zero[3] | 28 exposure_us u32
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Byte offset of the record in the segment.
    pub offset: u64,
    /// The record's seq.
    pub seq: u64,
    /// The record's time, UTC ns.
    pub time_ns: i64,
    /// The record's kind.
    pub kind: Kind,
    /// Exposure time (frames), microseconds.
    pub exposure_us: u32,
}

impl IndexEntry {
    /// The index entry of the record at `offset` with header `h`.
    pub fn of(offset: u64, h: &RecordHeader) -> IndexEntry {
        IndexEntry {
            offset,
            seq: h.seq,
            time_ns: h.time_ns,
            kind: h.kind,
            exposure_us: h.exposure_us,
        }
    }
}

/// Encodes a FOOTER payload: `entry_count u64` then the entries.
pub fn encode_footer(entries: &[IndexEntry]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + entries.len() * INDEX_ENTRY_LEN);
    b.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        b.extend_from_slice(&e.offset.to_le_bytes());
        b.extend_from_slice(&e.seq.to_le_bytes());
        b.extend_from_slice(&e.time_ns.to_le_bytes());
        b.push(e.kind.code());
        b.extend_from_slice(&[0, 0, 0]);
        b.extend_from_slice(&e.exposure_us.to_le_bytes());
    }
    b
}

/// Decodes a FOOTER payload, checking that entries are in increasing offset order,
/// aligned, and inside `HEADER_LEN..records_end`.
pub fn decode_footer(b: &[u8], records_end: u64) -> Result<Vec<IndexEntry>, FormatFault> {
    if b.len() < 8 {
        return Err(FormatFault::Footer);
    }
    let count = u64_at(b, 0);
    if count
        .checked_mul(INDEX_ENTRY_LEN as u64)
        .and_then(|n| n.checked_add(8))
        != Some(b.len() as u64)
    {
        return Err(FormatFault::Footer);
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut prev_end = HEADER_LEN as u64;
    for chunk in b[8..].chunks_exact(INDEX_ENTRY_LEN) {
        let e = IndexEntry {
            offset: u64_at(chunk, 0),
            seq: u64_at(chunk, 8),
            time_ns: i64_at(chunk, 16),
            kind: Kind::from_code(chunk[24]),
            exposure_us: u32_at(chunk, 28),
        };
        let ok = e.offset.is_multiple_of(ALIGN)
            && e.offset >= prev_end
            && e.offset + RECORD_HEADER_LEN as u64 <= records_end
            && e.kind != Kind::Footer;
        if !ok {
            return Err(FormatFault::Footer);
        }
        prev_end = e.offset + RECORD_HEADER_LEN as u64;
        entries.push(e);
    }
    Ok(entries)
}

/// The fixed-size trailer at the end of a sealed segment.
///
/// ```text
/// 0 footer_offset u64 | 8 entry_count u64 | 16 magic[8] "NCJEND\x01\x00" | 24 salt_lo u32 | 28 crc u32 (of 0..28)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Byte offset of the footer record.
    pub footer_offset: u64,
    /// Index entries in the footer.
    pub entry_count: u64,
    /// The segment's salt, low 32 bits.
    pub salt_lo: u32,
}

impl Trailer {
    /// The trailer's bytes.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        b[0..8].copy_from_slice(&self.footer_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.entry_count.to_le_bytes());
        b[16..24].copy_from_slice(&TRAILER_MAGIC);
        b[24..28].copy_from_slice(&self.salt_lo.to_le_bytes());
        let c = crc(&b[..28]);
        b[28..32].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes the trailer of a file of `file_len` bytes whose header is `seg`.
    pub fn decode(b: &[u8], seg: &SegmentHeader, file_len: u64) -> Result<Trailer, FormatFault> {
        if b.len() < TRAILER_LEN
            || b[16..24] != TRAILER_MAGIC
            || crc(&b[..28]) != u32_at(b, 28)
            || u32_at(b, 24) != seg.salt_lo()
        {
            return Err(FormatFault::Trailer);
        }
        let t = Trailer {
            footer_offset: u64_at(b, 0),
            entry_count: u64_at(b, 8),
            salt_lo: u32_at(b, 24),
        };
        let trailer_at = file_len
            .checked_sub(TRAILER_LEN as u64)
            .ok_or(FormatFault::Trailer)?;
        if !t.footer_offset.is_multiple_of(ALIGN)
            || t.footer_offset < HEADER_LEN as u64
            || t.footer_offset + RECORD_HEADER_LEN as u64 > trailer_at
        {
            return Err(FormatFault::Trailer);
        }
        Ok(t)
    }
}

/// The state of a segment file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentState {
    /// Being written by a rewrite, never valid (`.tmp`).
    Tmp,
    /// Being appended to (`.active`).
    Active,
    /// Sealed: footer and trailer written, immutable (`.seg`).
    Sealed,
}

impl SegmentState {
    /// The file-name extension of the state.
    pub fn extension(self) -> &'static str {
        match self {
            SegmentState::Tmp => "tmp",
            SegmentState::Active => "active",
            SegmentState::Sealed => "seg",
        }
    }
}

/// Extension of the file holding a damaged tail cut off by recovery.
pub const TAIL_EXTENSION: &str = "tail";
/// Name of the writer's lock file.
pub const LOCK_FILE: &str = "journal.lock";

/// A parsed segment file name `SSSSSSSS-YYYYMMDDTHHMMSSZ.ext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentName {
    /// The segment's number.
    pub segno: u64,
    /// The creation stamp, `YYYYmmddTHHMMSSZ`.
    pub stamp: String,
    /// The state the extension names.
    pub state: SegmentState,
}

impl SegmentName {
    /// Builds the file name of segment `segno` created at `created_ns`.
    pub fn file_name(segno: u64, created_ns: i64, state: SegmentState) -> String {
        format!("{}.{}", Self::stem(segno, created_ns), state.extension())
    }

    /// The name without extension.
    pub fn stem(segno: u64, created_ns: i64) -> String {
        format!("{segno:08}-{}", utc_iso_basic(created_ns))
    }

    /// Parses a file name; `None` for files that are not segments.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let (stem, ext) = name.rsplit_once('.')?;
        let state = match ext {
            "tmp" => SegmentState::Tmp,
            "active" => SegmentState::Active,
            "seg" => SegmentState::Sealed,
            _ => return None,
        };
        let (num, stamp) = stem.split_once('-')?;
        if num.len() < 8 || !num.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let stamp_ok = stamp.len() == 16
            && stamp.as_bytes()[8] == b'T'
            && stamp.as_bytes()[15] == b'Z'
            && stamp[..8]
                .bytes()
                .chain(stamp[9..15].bytes())
                .all(|c| c.is_ascii_digit());
        if !stamp_ok {
            return None;
        }
        Some(SegmentName {
            segno: num.parse().ok()?,
            stamp: stamp.to_string(),
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_payloads_round_trip_and_hostile_ones_are_refused() {
        let s = FrameStats {
            cells: 1_000,
            stars: 42,
            sky: 812.5,
            noise: 7.25,
            bright_fraction: 0.01,
            saturated_fraction: 0.002,
            background: [200.0, 210.0, 190.0],
            column_channels: 3,
            column: (0..3 * 480).map(|v| v as u16).collect(),
        };
        let b = s.encode();
        assert_eq!(b.len(), 64 + 2 * 3 * 480);
        assert!(b.len() <= MAX_STATS_LEN as usize);
        assert_eq!(FrameStats::decode(&b), Ok(s.clone()));
        // A later minor version's fields after the column are ignored.
        let mut longer = b.clone();
        longer.extend_from_slice(&[7; 100]);
        assert_eq!(FrameStats::decode(&longer), Ok(s.clone()));
        // Short, a column past the payload, too tall, or of 2 channels: damage.
        assert!(FrameStats::decode(&b[..63]).is_err());
        assert!(FrameStats::decode(&b[..b.len() - 2]).is_err());
        for (rows, ch) in [(481u16, 3u8), (10, 2), (0, 3), (10, 0)] {
            let mut bad = b.clone();
            bad[36..38].copy_from_slice(&rows.to_le_bytes());
            bad[38] = ch;
            assert!(FrameStats::decode(&bad).is_err(), "{rows} rows of {ch}");
        }
        // A column that does not fit the format is left out when encoding.
        let odd = FrameStats {
            column: vec![1; 5],
            ..s
        };
        let d = FrameStats::decode(&odd.encode()).unwrap();
        assert_eq!((d.column_rows(), d.column_channels), (0, 0));
    }

    fn seg() -> SegmentHeader {
        SegmentHeader {
            run_id: 7,
            segno: 3,
            salt: 0x1122_3344_5566_7788,
            created_ns: 1_700_000_000_000_000_000,
            first_seq: 42,
            format: PixelFormat {
                fourcc: *b"pRCC",
                width: 64,
                height: 48,
                stride: 96,
                bit_depth: 12,
                cfa: Cfa::Rggb,
                packing: Packing::Csi2P12,
            },
            default_transform: 2,
            default_compression: 1,
            zstd_level: 1,
        }
    }

    fn frame_header() -> RecordHeader {
        RecordHeader {
            kind: Kind::Frame,
            flags: 0,
            transform: 1,
            compression: 1,
            stored_len: 1000,
            raw_len: 96 * 48,
            seq: 42,
            time_ns: 5,
            exposure_us: 5_000_000,
            gain_milli: 1000,
            driver_seq: 9,
            payload_crc: 0xdead_beef,
            driver_ts_ns: 77,
            salt_lo: 0x5566_7788,
        }
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn header_round_trip_and_every_bit_flip_detected() {
        let h = seg();
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        for bit in 0..HEADER_LEN * 8 {
            let mut c = b;
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(SegmentHeader::decode(&c).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn newer_major_is_named() {
        // A newer writer's header: its major, its checksum.
        let mut b = seg().encode();
        b[8] = 3;
        let c = crc(&b[..252]);
        b[252..256].copy_from_slice(&c.to_le_bytes());
        assert_eq!(
            SegmentHeader::decode(&b),
            Err(FormatFault::NewerMajor {
                major: 3,
                minor: MINOR
            })
        );
    }

    #[test]
    fn a_damaged_major_field_is_damage_not_a_newer_version() {
        // One flipped bit in `major` of a 1.x header: the checksum matches with 1 put back.
        for bit in 0..16 {
            let mut b = seg().encode();
            b[8 + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                SegmentHeader::decode(&b),
                Err(FormatFault::HeaderField("major")),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn sixteen_bit_rgb_segments_are_format_2_and_others_stay_1_x() {
        let rgb48 = SegmentHeader {
            format: PixelFormat {
                fourcc: *b"RGB6",
                width: 64,
                height: 48,
                stride: 384,
                bit_depth: 16,
                cfa: Cfa::None,
                packing: Packing::Rgb48,
            },
            ..seg()
        };
        let b = rgb48.encode();
        assert_eq!((u16_at(&b, 8), u16_at(&b, 10)), (2, 1));
        assert_eq!(SegmentHeader::decode(&b), Ok(rgb48));
        let b1 = seg().encode();
        assert_eq!((u16_at(&b1, 8), u16_at(&b1, 10)), (1, 2));
        // A 1.x header cannot hold the new packing: damage, even with a good checksum.
        let mut old = b;
        old[8] = 1;
        let c = crc(&old[..252]);
        old[252..256].copy_from_slice(&c.to_le_bytes());
        assert_eq!(
            SegmentHeader::decode(&old),
            Err(FormatFault::HeaderField("packing"))
        );
        // One flipped bit in `major` of a 2.0 header is damage too.
        for bit in 0..16 {
            let mut d = b;
            d[8 + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                SegmentHeader::decode(&d),
                Err(FormatFault::HeaderField("major")),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn record_round_trip_and_validation() {
        let s = seg();
        let h = frame_header();
        let b = h.encode();
        assert_eq!(RecordHeader::decode(&b, &s, 2000), Ok(h));
        assert_eq!(
            RecordHeader::decode(&b, &s, 1000),
            Err(FormatFault::PastEnd)
        );
        assert_eq!(
            RecordHeader::decode(&[0; 64], &s, 2000),
            Err(FormatFault::Zero)
        );
        let mut other = s;
        other.salt = 1;
        assert_eq!(
            RecordHeader::decode(&b, &other, 2000),
            Err(FormatFault::Salt)
        );
        for bit in 0..RECORD_HEADER_LEN * 8 {
            let mut c = b;
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(RecordHeader::decode(&c, &s, 1 << 20).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn record_lengths_are_capped_before_allocation() {
        let s = seg();
        let mut h = frame_header();
        h.raw_len = u32::MAX;
        assert!(RecordHeader::decode(&h.encode(), &s, u64::MAX).is_err());
        let mut h = frame_header();
        h.stored_len = u32::MAX;
        assert!(RecordHeader::decode(&h.encode(), &s, u64::MAX).is_err());
        let h = RecordHeader::meta_record(Kind::Note, 0, 0, &[0; 10], s.salt_lo());
        let mut h2 = h;
        h2.stored_len = MAX_NOTE_LEN + 1;
        h2.raw_len = h2.stored_len;
        assert!(RecordHeader::decode(&h2.encode(), &s, u64::MAX).is_err());
        let mut unknown = h;
        unknown.kind = Kind::Unknown(9);
        assert!(RecordHeader::decode(&unknown.encode(), &s, 1 << 20).is_ok());
        unknown.flags = 0;
        assert!(RecordHeader::decode(&unknown.encode(), &s, 1 << 20).is_err());
    }

    #[test]
    fn gap_round_trip_and_truncated_text() {
        let g = Gap {
            count: 3,
            start_ns: 10,
            end_ns: 20,
            reason: GapReason::Timeout,
            text: "camera timed out ✓".into(),
        };
        let b = g.encode();
        assert_eq!(Gap::decode(&b), Ok(g.clone()));
        assert!(Gap::decode(&b[..b.len() - 1]).is_err());
        assert!(Gap::decode(&b[..20]).is_err());
        let long = Gap {
            text: "é".repeat(5000),
            ..g
        };
        assert!(long.encode().len() <= MAX_GAP_LEN as usize);
        assert!(Gap::decode(&long.encode()).is_ok());
    }

    #[test]
    fn footer_round_trip_and_checks() {
        let entries: Vec<IndexEntry> = (0..5)
            .map(|i| IndexEntry {
                offset: 256 + i * 128,
                seq: i,
                time_ns: i as i64,
                kind: Kind::Frame,
                exposure_us: 5,
            })
            .collect();
        let b = encode_footer(&entries);
        assert_eq!(decode_footer(&b, 4096), Ok(entries.clone()));
        assert!(decode_footer(&b, 700).is_err());
        assert!(decode_footer(&b[..b.len() - 1], 4096).is_err());
        let mut unsorted = entries.clone();
        unsorted.swap(1, 2);
        assert!(decode_footer(&encode_footer(&unsorted), 4096).is_err());
        let mut huge = b.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_footer(&huge, 4096).is_err());
    }

    #[test]
    fn trailer_round_trip_and_range() {
        let s = seg();
        let t = Trailer {
            footer_offset: 512,
            entry_count: 2,
            salt_lo: s.salt_lo(),
        };
        let b = t.encode();
        assert_eq!(Trailer::decode(&b, &s, 1024), Ok(t));
        assert!(Trailer::decode(&b, &s, 600).is_err());
        let mut c = b;
        c[0] ^= 1;
        assert!(Trailer::decode(&c, &s, 1024).is_err());
    }

    #[test]
    fn names_round_trip_and_sort_in_order() {
        let t = 1_795_999_500_000_000_000;
        let n = SegmentName::file_name(12, t, SegmentState::Sealed);
        assert_eq!(n, "00000012-20261130T004500Z.seg");
        let p = SegmentName::parse(&n).unwrap();
        assert_eq!((p.segno, p.state), (12, SegmentState::Sealed));
        assert!(SegmentName::file_name(9, t, SegmentState::Sealed) < n);
        for bad in [
            "x.seg",
            "00000012.seg",
            "0000001-20261203T195000Z.seg",
            "00000012-20261203T195000Z.txt",
            "00000012-2026120xT195000Z.seg",
        ] {
            assert_eq!(SegmentName::parse(bad), None, "{bad}");
        }
        assert_eq!(utc_iso_basic(0), "19700101T000000Z");
        assert_eq!(utc_iso_basic(951_782_400_000_000_000), "20000229T000000Z");
    }
}
