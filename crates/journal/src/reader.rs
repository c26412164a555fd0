//! Reading segments and journals: open through the footer index or by scanning, return
//! frames bit-exactly, report every damage with segment, offset and seq.
//!
//! Promises: no panic and no allocation above the format caps on any input; a frame is
//! returned only if its header CRC, payload CRC and zstd checksum match and it decodes to
//! exactly `raw_len` bytes; a damaged frame in a sealed segment costs that frame only; an
//! active segment yields its valid prefix. Every segment is read with `pread` (see
//! [`SegmentBytes`] for why sealed ones are no longer memory-mapped).

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::codec::{CodecError, CodecSpec, Compression, Decoder, Transform};
use super::error::{Damage, JournalError};
use super::format::{
    decode_footer, FormatFault, FrameStats, Gap, IndexEntry, Kind, RecordHeader, SegmentHeader,
    SegmentName, SegmentState, Trailer, HEADER_LEN, MAX_FOOTER_LEN, RECORD_HEADER_LEN, TRAILER_LEN,
};
use super::recovery::{on_bad_record, Action};
use nightcap_frame::pixels::{to_image16, Image16, PixelError};
use nightcap_frame::{Frame, FrameMeta, PixelFormat};

/// The bytes of a segment: read on demand from its file, or already in memory (images
/// built by tests and the fuzzer, which never touch the file system).
///
/// Sealed segments were memory-mapped, with frame payloads read through the file. The
/// mapping saved a system call per record header and cost memory: on a kernel with large
/// page-cache folios (6.18 here, 8 MiB readahead), faulting in a header mapped whole
/// folios, and a 12 MP stack of 64 frames peaked at 286-351 MB instead of 254-258 MB with
/// every read through `pread`, at the same speed (1.26-1.29 s). Nothing was read in place
/// (every read copied), so the mapping bought nothing else.
pub enum SegmentBytes {
    /// Read with `pread` from the file.
    File(File),
    /// Held in memory.
    Memory(Vec<u8>),
}

impl SegmentBytes {
    /// Reads `len` bytes at `offset` into `buf`; Err(short count) if the file is shorter.
    fn read_into(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let in_memory: &[u8] = match self {
            SegmentBytes::File(f) => return read_at(f, offset, len, buf),
            SegmentBytes::Memory(v) => v,
        };
        buf.clear();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let slice = start
            .checked_add(len)
            .and_then(|end| in_memory.get(start..end))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.extend_from_slice(slice);
        Ok(())
    }
}

/// Reads `len` bytes at `offset` of `f` into `buf` (whose allocation is reused).
fn read_at(f: &File, offset: u64, len: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
    // Every byte is overwritten by the read: only growth needs zero-filling.
    buf.truncate(len);
    buf.resize(len, 0);
    f.read_exact_at(buf, offset)
}

/// How a segment's record list was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenedBy {
    /// From the footer index, without scanning.
    Footer,
    /// By scanning a sealed segment whose footer or trailer is damaged.
    Scan,
    /// By scanning an active segment for its valid prefix.
    Prefix,
}

/// A segment opened for reading.
pub struct Segment {
    /// The segment file.
    pub path: PathBuf,
    /// Its parsed name.
    pub name: SegmentName,
    /// Its header (or the copy that stood in for a damaged one).
    pub header: SegmentHeader,
    /// File length in bytes.
    pub len: u64,
    /// Valid records (frames, gaps, notes, unknown skippable kinds) in file order.
    pub records: Vec<IndexEntry>,
    /// Whether the footer or a scan indexed it.
    pub opened_by: OpenedBy,
    /// End of the last valid record (where a writer would append next).
    pub valid_end: u64,
    /// Damage found while opening.
    pub damage: Vec<Damage>,
    /// The seq the next segment's first frame should have: one past the last frame, or
    /// past the frames a repair set aside at the end of this segment.
    pub next_seq: u64,
    /// The STATS entries, by the seq of the frame each describes (the first per seq).
    stats: Vec<IndexEntry>,
    bytes: SegmentBytes,
}

impl Segment {
    /// Opens a segment file. Errors are I/O errors and headers that cannot be used (bad
    /// magic, CRC, newer major version); damage after the header is reported, not an error.
    pub fn open(path: &Path, name: SegmentName) -> Result<Segment, JournalError> {
        let file = File::open(path).map_err(JournalError::io("opening", path))?;
        let len = file
            .metadata()
            .map_err(JournalError::io("reading size of", path))?
            .len();
        Segment::parse(path, name, SegmentBytes::File(file), len)
    }

    /// A segment whose bytes are already in memory; `path` only names it in damage
    /// reports. Reads exactly as [`Segment::open`] reads a file with these bytes.
    pub fn from_bytes(
        path: &Path,
        name: SegmentName,
        bytes: Vec<u8>,
    ) -> Result<Segment, JournalError> {
        let len = bytes.len() as u64;
        Segment::parse(path, name, SegmentBytes::Memory(bytes), len)
    }

    fn parse(
        path: &Path,
        name: SegmentName,
        bytes: SegmentBytes,
        len: u64,
    ) -> Result<Segment, JournalError> {
        let mut buf = Vec::new();
        if len < HEADER_LEN as u64 {
            return Err(JournalError::Segment {
                path: path.to_path_buf(),
                fault: FormatFault::Short(len as usize, HEADER_LEN),
            });
        }
        bytes
            .read_into(0, HEADER_LEN, &mut buf)
            .map_err(JournalError::io("reading", path))?;
        let header = SegmentHeader::decode(&buf).map_err(|fault| JournalError::Segment {
            path: path.to_path_buf(),
            fault,
        })?;
        let mut seg = Segment {
            path: path.to_path_buf(),
            name,
            header,
            len,
            records: Vec::new(),
            opened_by: OpenedBy::Prefix,
            valid_end: HEADER_LEN as u64,
            damage: Vec::new(),
            next_seq: header.first_seq,
            stats: Vec::new(),
            bytes,
        };
        if seg.name.state == SegmentState::Sealed {
            if let Some(fault) = seg.try_footer(&mut buf)? {
                seg.report(
                    len.saturating_sub(TRAILER_LEN as u64),
                    None,
                    format!("{fault}; scanning instead"),
                );
                seg.scan(&mut buf)?;
                seg.opened_by = OpenedBy::Scan;
            } else {
                seg.opened_by = OpenedBy::Footer;
            }
        } else {
            seg.scan(&mut buf)?;
        }
        seg.check_sequence();
        seg.stats = seg
            .records
            .iter()
            .filter(|e| e.kind == Kind::Stats)
            .copied()
            .collect();
        seg.stats.sort_by_key(|e| e.seq);
        seg.stats.dedup_by_key(|e| e.seq);
        Ok(seg)
    }

    fn report(&mut self, offset: u64, seq: Option<u64>, what: String) {
        self.damage.push(Damage {
            segment: self.path.clone(),
            offset,
            seq,
            what,
        });
    }

    /// Reads the record list from the trailer and footer. `Ok(Some(fault))` when they
    /// are damaged (the caller scans instead).
    fn try_footer(&mut self, buf: &mut Vec<u8>) -> Result<Option<FormatFault>, JournalError> {
        let Some(trailer_at) = self.len.checked_sub(TRAILER_LEN as u64) else {
            return Ok(Some(FormatFault::Trailer));
        };
        self.bytes
            .read_into(trailer_at, TRAILER_LEN, buf)
            .map_err(JournalError::io("reading", &self.path))?;
        let trailer = match Trailer::decode(buf, &self.header, self.len) {
            Ok(t) => t,
            Err(f) => return Ok(Some(f)),
        };
        let room = trailer_at - trailer.footer_offset;
        self.bytes
            .read_into(trailer.footer_offset, RECORD_HEADER_LEN, buf)
            .map_err(JournalError::io("reading", &self.path))?;
        let fh = match RecordHeader::decode(buf, &self.header, room) {
            Ok(h) if h.kind == Kind::Footer && h.stored_len <= MAX_FOOTER_LEN => h,
            Ok(_) => return Ok(Some(FormatFault::Footer)),
            Err(f) => return Ok(Some(f)),
        };
        self.bytes
            .read_into(
                trailer.footer_offset + RECORD_HEADER_LEN as u64,
                fh.stored_len as usize,
                buf,
            )
            .map_err(JournalError::io("reading", &self.path))?;
        if super::format::crc(buf) != fh.payload_crc {
            return Ok(Some(FormatFault::PayloadCrc));
        }
        match decode_footer(buf, trailer.footer_offset) {
            Ok(entries) if entries.len() as u64 == trailer.entry_count => {
                let records: Vec<IndexEntry> = entries
                    .into_iter()
                    .filter(|e| e.kind != Kind::Footer)
                    .collect();
                if !self.index_agrees(&records, trailer.footer_offset, buf)? {
                    return Ok(Some(FormatFault::Footer));
                }
                self.records = records;
                self.valid_end = trailer.footer_offset;
                Ok(None)
            }
            Ok(_) | Err(_) => Ok(Some(FormatFault::Footer)),
        }
    }

    /// Whether a footer's index (which passed its checksum) describes the records really
    /// there: entries back to back from the header to the footer, each at a valid record
    /// header of the same kind, seq and time. The index is derived data; a footer that
    /// left a record out, or points at a bad one, would silently cost intact frames, so
    /// any disagreement makes the reader scan instead. Costs one 64-byte read per record.
    fn index_agrees(
        &self,
        records: &[IndexEntry],
        footer_offset: u64,
        buf: &mut Vec<u8>,
    ) -> Result<bool, JournalError> {
        let mut expect = HEADER_LEN as u64;
        for e in records {
            if e.offset != expect || e.offset + RECORD_HEADER_LEN as u64 > footer_offset {
                return Ok(false);
            }
            self.bytes
                .read_into(e.offset, RECORD_HEADER_LEN, buf)
                .map_err(JournalError::io("reading", &self.path))?;
            match RecordHeader::decode(buf, &self.header, self.len - e.offset) {
                Ok(h) if h.kind == e.kind && h.seq == e.seq && h.time_ns == e.time_ns => {
                    expect = h.next_offset(e.offset);
                }
                _ => return Ok(false),
            }
        }
        Ok(expect == footer_offset)
    }

    /// Scans records from the header on, applying the recovery policy.
    fn scan(&mut self, buf: &mut Vec<u8>) -> Result<(), JournalError> {
        let state = self.name.state;
        let mut off = HEADER_LEN as u64;
        let mut resyncing: Option<u64> = None;
        while off + RECORD_HEADER_LEN as u64 <= self.len {
            let record = match self.record_at(off, state, buf) {
                // An active segment being sealed while we read it shrinks to its final
                // length: what we could not read is past its records.
                Err(JournalError::Io { source, .. })
                    if state != SegmentState::Sealed
                        && source.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    break
                }
                other => other?,
            };
            match record {
                Ok(h) if h.kind == Kind::Footer => break,
                Ok(h) => {
                    if let Some(from) = resyncing.take() {
                        self.report(from, None, format!("{} damaged bytes skipped", off - from));
                    }
                    self.records.push(IndexEntry::of(off, &h));
                    off = h.next_offset(off);
                    self.valid_end = off;
                }
                Err(fault) => match on_bad_record(state, &fault) {
                    Action::End => break,
                    Action::Truncate => {
                        self.report(off, None, format!("{fault}: the valid prefix ends here"));
                        break;
                    }
                    Action::Resync => {
                        resyncing.get_or_insert(off);
                        off += super::format::ALIGN;
                    }
                },
            }
        }
        if let Some(from) = resyncing {
            self.report(
                from,
                None,
                format!("{} damaged bytes at the end", self.len - from),
            );
        }
        Ok(())
    }

    /// Decodes the record header at `off`; for active segments also checks the payload
    /// CRC (a record is part of the valid prefix only when intact).
    fn record_at(
        &self,
        off: u64,
        state: SegmentState,
        buf: &mut Vec<u8>,
    ) -> Result<Result<RecordHeader, FormatFault>, JournalError> {
        self.bytes
            .read_into(off, RECORD_HEADER_LEN, buf)
            .map_err(JournalError::io("reading", &self.path))?;
        let h = match RecordHeader::decode(buf, &self.header, self.len - off) {
            Ok(h) => h,
            Err(f) => return Ok(Err(f)),
        };
        if state != SegmentState::Sealed {
            self.bytes
                .read_into(off + RECORD_HEADER_LEN as u64, h.stored_len as usize, buf)
                .map_err(JournalError::io("reading", &self.path))?;
            if super::format::crc(buf) != h.payload_crc {
                return Ok(Err(FormatFault::PayloadCrc));
            }
        }
        Ok(Ok(h))
    }

    /// Reports frames whose seq does not continue from the previous one, and drops
    /// records that repeat a frame already indexed (a duplicated or replayed record): the
    /// first copy is kept, so no frame is ever returned twice. A hole that a repair's
    /// set-aside GAP accounts for is not damage: repair already reported it and kept the
    /// records in the original.
    fn check_sequence(&mut self) {
        let mut expect = self.header.first_seq;
        let mut seen = std::collections::HashSet::new();
        let mut duplicates = std::collections::HashSet::new();
        let records: Vec<(u64, u64, Kind)> = self
            .records
            .iter()
            .filter(|e| matches!(e.kind, Kind::Frame | Kind::Gap))
            .map(|e| (e.offset, e.seq, e.kind))
            .collect();
        for (offset, seq, kind) in records {
            if kind == Kind::Gap {
                if let Some(count) = self.set_aside_count(offset) {
                    // Explains `seq - count .. seq` when it follows the frames before it.
                    if seq.checked_sub(count) == Some(expect) {
                        expect = seq;
                    }
                }
                continue;
            }
            if !seen.insert(seq) {
                duplicates.insert(offset);
                self.report(
                    offset,
                    Some(seq),
                    format!("frame seq {seq} appears again (duplicated record ignored)"),
                );
                continue;
            }
            if seq > expect {
                let what = if seq == expect + 1 {
                    format!("frame seq {expect} is missing (damaged record)")
                } else {
                    format!(
                        "frames seq {expect}..={} are missing (damaged records)",
                        seq - 1
                    )
                };
                self.report(offset, Some(expect), what);
            } else if seq < expect {
                self.report(
                    offset,
                    Some(seq),
                    format!("frame seq {seq} out of order (expected {expect})"),
                );
            }
            expect = expect.max(seq + 1);
        }
        self.next_seq = expect;
        if !duplicates.is_empty() {
            self.records
                .retain(|e| e.kind != Kind::Frame || !duplicates.contains(&e.offset));
        }
    }

    /// The count of the set-aside GAP at `offset`, or `None` for any other GAP (or one
    /// that cannot be read, which the readers of GAPs report).
    fn set_aside_count(&self, offset: u64) -> Option<u64> {
        let entry = self.records.iter().find(|e| e.offset == offset)?;
        let gap = self.read_gap(entry).ok()?;
        (gap.reason == super::format::GapReason::SetAside).then_some(gap.count)
    }

    /// The FRAME entries.
    pub fn frames(&self) -> impl Iterator<Item = &IndexEntry> {
        self.records.iter().filter(|e| e.kind == Kind::Frame)
    }

    /// Reads and verifies the record at `entry`, returning its header and payload in `buf`.
    pub fn read_record(
        &self,
        entry: &IndexEntry,
        buf: &mut Vec<u8>,
    ) -> Result<RecordHeader, ReadError> {
        let h = self.read_header(entry)?;
        let damage = |what: String| self.damaged(entry, what);
        self.bytes
            .read_into(
                entry.offset + RECORD_HEADER_LEN as u64,
                h.stored_len as usize,
                buf,
            )
            .map_err(|e| damage(format!("unreadable payload: {e}")))?;
        if super::format::crc(buf) != h.payload_crc {
            return Err(damage(FormatFault::PayloadCrc.to_string()));
        }
        Ok(h)
    }

    /// The damage of the record at `entry`, in words.
    fn damaged(&self, entry: &IndexEntry, what: String) -> ReadError {
        ReadError::Damaged(Damage {
            segment: self.path.clone(),
            offset: entry.offset,
            seq: Some(entry.seq),
            what,
        })
    }

    /// Reads and verifies the header of the record at `entry` (not its payload).
    pub fn read_header(&self, entry: &IndexEntry) -> Result<RecordHeader, ReadError> {
        let damage = |what: String| self.damaged(entry, what);
        let room = self.len.saturating_sub(entry.offset);
        // The header goes to its own small buffer: `buf` keeps its length, so reading the
        // payload over it zero-fills nothing when frames are the same size.
        let mut head = Vec::with_capacity(RECORD_HEADER_LEN);
        self.bytes
            .read_into(entry.offset, RECORD_HEADER_LEN, &mut head)
            .map_err(|e| damage(format!("unreadable: {e}")))?;
        let h =
            RecordHeader::decode(&head, &self.header, room).map_err(|f| damage(f.to_string()))?;
        if h.kind != entry.kind || h.seq != entry.seq || h.time_ns != entry.time_ns {
            return Err(damage("record does not match the footer index".into()));
        }
        Ok(h)
    }

    /// Reads, verifies and decodes one frame into `out` (reusing its allocation).
    pub fn read_frame(
        &self,
        entry: &IndexEntry,
        dec: &mut Decoder,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<FrameMeta, ReadError> {
        self.read_frame_with(entry, scratch, |spec, format, stored, raw_len| {
            dec.decode(spec, format, stored, raw_len, out)
        })
    }

    /// Reads and verifies one frame and decodes it straight to samples
    /// ([`Decoder::decode_rows`]): `sink(first_row, samples)` gets bands of `band_rows`
    /// rows, and only once the whole payload has verified.
    pub fn read_frame_rows(
        &self,
        entry: &IndexEntry,
        dec: &mut Decoder,
        scratch: &mut Vec<u8>,
        band_rows: usize,
        sink: &mut dyn FnMut(usize, &[u16]),
    ) -> Result<FrameMeta, ReadError> {
        self.read_frame_with(entry, scratch, |spec, format, stored, raw_len| {
            dec.decode_rows(spec, format, stored, raw_len, band_rows, sink)
        })
    }

    /// Reads and verifies one FRAME record, then runs `decode` on its payload.
    fn read_frame_with(
        &self,
        entry: &IndexEntry,
        scratch: &mut Vec<u8>,
        decode: impl FnOnce(CodecSpec, &PixelFormat, &[u8], usize) -> Result<(), CodecError>,
    ) -> Result<FrameMeta, ReadError> {
        let h = self.read_record(entry, scratch)?;
        let bad = |what: String| self.damaged(entry, what);
        let spec = CodecSpec {
            transform: Transform::from_code(h.transform).ok_or_else(|| {
                bad(format!(
                    "unknown transform code {} (newer nightcap?)",
                    h.transform
                ))
            })?,
            compression: Compression::from_code(h.compression)
                .ok_or_else(|| bad(format!("unknown compression code {}", h.compression)))?,
        };
        decode(spec, &self.header.format, scratch, h.raw_len as usize)
            .map_err(|e| bad(format!("payload does not decode: {e}")))?;
        Ok(frame_meta(&h))
    }

    /// The text of NOTE `entry` if its payload starts with one of `prefixes` (only the
    /// header and the first bytes are read for any other NOTE); `None` for a damaged one.
    pub fn note_starting_with(&self, entry: &IndexEntry, prefixes: &[&str]) -> Option<String> {
        let h = self.read_header(entry).ok()?;
        let longest = prefixes.iter().map(|p| p.len()).max().unwrap_or(0);
        let mut head = Vec::new();
        self.bytes
            .read_into(
                entry.offset + RECORD_HEADER_LEN as u64,
                longest.min(h.stored_len as usize),
                &mut head,
            )
            .ok()?;
        if !prefixes.iter().any(|p| head.starts_with(p.as_bytes())) {
            return None;
        }
        let mut buf = Vec::new();
        self.read_record(entry, &mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    /// A frame's metadata from its verified header, without reading its payload (whose
    /// damage is then not seen).
    pub fn read_frame_meta(&self, entry: &IndexEntry) -> Result<FrameMeta, ReadError> {
        self.read_header(entry).map(|h| frame_meta(&h))
    }

    /// Reads a GAP record.
    pub fn read_gap(&self, entry: &IndexEntry) -> Result<Gap, ReadError> {
        let mut buf = Vec::new();
        self.read_record(entry, &mut buf)?;
        Gap::decode(&buf).map_err(|f| self.damaged(entry, f.to_string()))
    }

    /// The STATS entry of the frame `seq`, if its writer measured it.
    pub fn stats_entry(&self, seq: u64) -> Option<&IndexEntry> {
        let i = self.stats.binary_search_by_key(&seq, |e| e.seq).ok()?;
        self.stats.get(i)
    }

    /// Reads a STATS record.
    pub fn read_stats(&self, entry: &IndexEntry) -> Result<FrameStats, ReadError> {
        let mut buf = Vec::new();
        self.read_record(entry, &mut buf)?;
        FrameStats::decode(&buf).map_err(|f| self.damaged(entry, f.to_string()))
    }

    /// Reads a NOTE record's text.
    pub fn read_note(&self, entry: &IndexEntry) -> Result<String, ReadError> {
        let mut buf = Vec::new();
        self.read_record(entry, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Stored (compressed) bytes of all FRAME records, from their headers' offsets.
    pub fn stored_frame_bytes(&self) -> u64 {
        let mut total = 0;
        let mut it = self.records.iter().peekable();
        while let Some(e) = it.next() {
            if e.kind == Kind::Frame {
                let next = it.peek().map_or(self.valid_end, |n| n.offset);
                total += next.saturating_sub(e.offset);
            }
        }
        total
    }
}

/// The iterator of [`Journal::samples`].
pub struct Samples<'a> {
    journal: &'a Journal,
    frames: std::vec::IntoIter<FrameRef>,
    decoder: Decoder,
    scratch: Vec<u8>,
}

impl Iterator for Samples<'_> {
    type Item = Result<(FrameMeta, Image16), SamplesError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.frames.next()?;
        let read = self
            .journal
            .read_frame(&r, &mut self.decoder, &mut self.scratch)
            .map_err(SamplesError::Read)
            .and_then(|frame| {
                to_image16(&frame.format, &frame.data)
                    .map(|image| (frame.meta, image))
                    .map_err(|source| SamplesError::Pixels {
                        seq: frame.meta.seq,
                        source,
                    })
            });
        Some(read)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.frames.size_hint()
    }
}

/// Why [`Journal::samples`] could not hand out one frame.
#[derive(Debug, thiserror::Error)]
pub enum SamplesError {
    /// The frame's record is damaged (the journal's other frames are still read).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The frame's bytes do not convert to samples (an MJPEG frame without the `mjpeg`
    /// feature, or one that does not decode).
    #[error("frame {seq}: {source}")]
    Pixels {
        /// The frame's sequence number.
        seq: u64,
        /// What the conversion found.
        source: PixelError,
    },
}

/// Why one record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The record is damaged (what and where).
    #[error("{0}")]
    Damaged(Damage),
}

/// Opens a segment found by [`list_segments`] in a journal that may be being written:
/// an `.active` sealed since the listing is opened under its `.seg` name, and a segment
/// deleted by retention since then is skipped (`None`; the seq hole it leaves is
/// reported as a deleted segment, as if it had been deleted before the listing).
fn open_listed(path: &Path, name: &SegmentName) -> Option<Result<Segment, JournalError>> {
    let gone = |r: &Result<Segment, JournalError>| matches!(r, Err(JournalError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound);
    let first = Segment::open(path, name.clone());
    if !gone(&first) {
        return Some(first);
    }
    if name.state != SegmentState::Active {
        return None;
    }
    let sealed = SegmentName {
        state: SegmentState::Sealed,
        ..name.clone()
    };
    let again = Segment::open(
        &path.with_extension(SegmentState::Sealed.extension()),
        sealed,
    );
    (!gone(&again)).then_some(again)
}

/// The frame metadata a FRAME record's header holds.
fn frame_meta(h: &RecordHeader) -> FrameMeta {
    FrameMeta {
        seq: h.seq,
        time_utc_ns: h.time_ns,
        exposure_us: h.exposure_us,
        gain_milli: h.gain_milli,
        driver_seq: h.driver_seq,
        driver_ts_ns: h.driver_ts_ns,
    }
}

/// Lists the segment files of `dir`, ordered by segment number (then state).
pub fn list_segments(dir: &Path) -> Result<Vec<(PathBuf, SegmentName)>, JournalError> {
    let (out, _) = list_with_strays(dir)?;
    Ok(out)
}

/// Segment files with their parsed names, in journal order.
type Listing = Vec<(PathBuf, SegmentName)>;

/// Segment files (regular files, or links to them) and "strays": entries named like a
/// segment that are not regular files (a directory, FIFO, socket, dangling link or link
/// loop). Strays are never opened: a FIFO would block the reader forever.
fn list_with_strays(dir: &Path) -> Result<(Listing, Vec<Damage>), JournalError> {
    let meta = fs::metadata(dir).map_err(|e| JournalError::NotAJournal {
        dir: dir.to_path_buf(),
        why: format!("{e} (check the path)"),
    })?;
    if !meta.is_dir() {
        return Err(JournalError::NotAJournal {
            dir: dir.to_path_buf(),
            why: "not a directory".into(),
        });
    }
    let mut out = Vec::new();
    let mut strays = Vec::new();
    for entry in fs::read_dir(dir).map_err(JournalError::io("listing", dir))? {
        let entry = entry.map_err(JournalError::io("listing", dir))?;
        let name = entry.file_name();
        let Some(parsed) = name.to_str().and_then(SegmentName::parse) else {
            continue;
        };
        let path = entry.path();
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => out.push((path, parsed)),
            // Renamed since the listing (a segment being sealed): the reader finds it
            // under its new name.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.push((path, parsed)),
            found => strays.push(Damage {
                what: format!(
                    "named like a segment but {}: not read (remove or rename it)",
                    match found {
                        Ok(m) if m.is_dir() => "a directory".to_string(),
                        Ok(_) => "not a regular file (a FIFO, socket or device)".to_string(),
                        Err(e) => format!("cannot be examined ({e})"),
                    }
                ),
                segment: path,
                offset: 0,
                seq: None,
            }),
        }
    }
    out.sort_by_key(|(_, n)| (n.segno, n.state));
    strays.sort_by(|a, b| a.segment.cmp(&b.segment));
    Ok((out, strays))
}

/// A frame's place in a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    /// Index into [`Journal::segments`].
    pub segment: usize,
    /// The frame's footer index entry (as recorded: reads check records against it).
    pub entry: IndexEntry,
    /// The frame's exposure start, UTC ns: `entry.time_ns`, or the re-timed start of a
    /// frame stamped before the clock was set ([`crate::retime`]). Windows, names and
    /// metadata use this.
    pub time_ns: i64,
}

/// Frames re-timed because they were stamped before the system clock was set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retimed {
    /// New exposure start (UTC ns) by frame seq.
    pub times: std::collections::BTreeMap<u64, i64>,
    /// Per capture: the first and last seq moved and how far the first one moved, ns.
    pub runs: Vec<(u64, u64, i64)>,
}

/// All readable segments of a journal directory, in order.
pub struct Journal {
    /// The journal directory.
    pub dir: PathBuf,
    /// Its readable segments, in order.
    pub segments: Vec<Segment>,
    /// Segments that could not be opened at all, and seq holes between segments.
    pub damage: Vec<Damage>,
    /// Frames whose times are corrected as they are handed out ([`crate::retime`]).
    pub retimed: Retimed,
}

impl Journal {
    /// Opens every segment of `dir` (`.seg` and `.active`; `.tmp` files are never valid).
    /// A segment written by a newer major version is an error: reading on would misread it.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        let (mut files, strays) = list_with_strays(dir)?;
        files.retain(|(_, name)| name.state != SegmentState::Tmp);
        // One file per segment, in its latest state: a listing taken while a segment is
        // sealed can name its file as `.active` and as `.seg` (readdir is not atomic with
        // a rename), and reading it under both names would return its frames twice.
        files.sort_by_key(|(_, n)| (n.segno, std::cmp::Reverse(n.state)));
        files
            .dedup_by(|later, kept| later.1.segno == kept.1.segno && later.1.stamp == kept.1.stamp);
        if let Some(pair) = files.windows(2).find(|p| p[0].1.segno == p[1].1.segno) {
            return Err(JournalError::TwoJournals {
                dir: dir.to_path_buf(),
                segno: pair[0].1.segno,
                a: pair[0].0.clone(),
                b: pair[1].0.clone(),
            });
        }
        let opened = files
            .iter()
            .filter_map(|(path, name)| open_listed(path, name));
        let mut journal = Journal::assemble(dir, opened)?;
        journal.damage.extend(strays);
        Ok(journal)
    }

    /// A journal of segments already in memory (`(name, bytes)` in journal order), read
    /// exactly as [`Journal::open`] reads a directory holding these files. `dir` only
    /// names it.
    pub fn from_memory(
        dir: &Path,
        files: Vec<(SegmentName, Vec<u8>)>,
    ) -> Result<Journal, JournalError> {
        let opened = files
            .into_iter()
            .filter(|(name, _)| name.state != SegmentState::Tmp)
            .map(|(name, bytes)| {
                let label = format!(
                    "{:08}-{}.{}",
                    name.segno,
                    name.stamp,
                    name.state.extension()
                );
                Segment::from_bytes(&dir.join(label), name, bytes)
            });
        Journal::assemble(dir, opened)
    }

    fn assemble(
        dir: &Path,
        opened: impl Iterator<Item = Result<Segment, JournalError>>,
    ) -> Result<Journal, JournalError> {
        let mut segments = Vec::new();
        let mut damage = Vec::new();
        for opened in opened {
            match opened {
                Ok(s) => segments.push(s),
                Err(
                    e @ JournalError::Segment {
                        fault: FormatFault::NewerMajor { .. },
                        ..
                    },
                ) => return Err(e),
                Err(JournalError::Segment { path, fault }) => damage.push(Damage {
                    segment: path,
                    offset: 0,
                    seq: None,
                    what: format!("segment unreadable: {fault}"),
                }),
                // A file that cannot be opened at all (permissions): that file's
                // problem, reported; the other segments are still read.
                Err(JournalError::Io {
                    path,
                    op: "opening",
                    source,
                }) if source.kind() != std::io::ErrorKind::NotFound => damage.push(Damage {
                    segment: path,
                    offset: 0,
                    seq: None,
                    what: format!("cannot open: {source} (check its permissions)"),
                }),
                Err(e) => return Err(e),
            }
        }
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            segments,
            damage,
            retimed: Retimed::default(),
        };
        journal.check_continuity();
        journal.retimed = journal.find_retiming();
        Ok(journal)
    }

    /// The frames to re-time: from the clock NOTEs of captures, the frames of each
    /// capture that started before the clock was set ([`crate::retime`]). Only NOTEs
    /// whose text starts as a capture's NOTEs do are read whole, and frame headers only
    /// within the windows found; a journal without such NOTEs costs one small read per
    /// NOTE.
    fn find_retiming(&self) -> Retimed {
        use crate::retime::{self, ClockNote, FrameTimes};
        let mut notes = Vec::new();
        for s in &self.segments {
            for e in s.records.iter().filter(|e| e.kind == Kind::Note) {
                if let Some(text) = s.note_starting_with(e, &[retime::RUN_START, retime::SYNCED]) {
                    notes.extend(ClockNote::parse(e.seq, &text));
                }
            }
        }
        let mut out = Retimed::default();
        if !notes
            .iter()
            .any(|n| matches!(n, ClockNote::Unsynced { .. }))
        {
            return out;
        }
        let end = self.segments.iter().map(|s| s.next_seq).max().unwrap_or(0);
        let frames = self.frames_as_recorded();
        for w in retime::windows(&notes, end) {
            let times: Vec<FrameTimes> = frames
                .iter()
                .filter(|r| (w.first..=w.last).contains(&r.entry.seq))
                .filter_map(|r| {
                    let m = self.segments[r.segment].read_frame_meta(&r.entry).ok()?;
                    Some(FrameTimes {
                        seq: m.seq,
                        time_ns: m.time_utc_ns,
                        driver_ts_ns: m.driver_ts_ns,
                    })
                })
                .collect();
            let moved = retime::shifts(&times);
            if let (Some(first), Some(last)) = (moved.first(), moved.last()) {
                let was = times
                    .iter()
                    .find(|t| t.seq == first.0)
                    .map_or(0, |t| t.time_ns);
                out.runs
                    .push((first.0, last.0, first.1.saturating_sub(was)));
            }
            out.times.extend(moved);
        }
        out
    }

    fn check_continuity(&mut self) {
        let mut prev_end: Option<u64> = None;
        for seg in &self.segments {
            let first = seg.header.first_seq;
            if let Some(end) = prev_end {
                if first < end {
                    self.damage.push(Damage {
                        segment: seg.path.clone(),
                        offset: 0,
                        seq: Some(first),
                        what: format!("starts at frame seq {first}, but the segments before it already reach seq {}: its frames overlap theirs (a segment of another journal?)", end - 1),
                    });
                }
                if first > end {
                    self.damage.push(Damage {
                        segment: seg.path.clone(),
                        offset: 0,
                        seq: Some(end),
                        what: format!("frames seq {end}..{first} are not in the journal (segment deleted by retention or lost)"),
                    });
                }
            }
            let last = seg.next_seq;
            prev_end = Some(prev_end.map_or(last, |p| p.max(last)));
        }
    }

    /// Every frame, in journal order, with its (re-timed) exposure start.
    pub fn frames(&self) -> Vec<FrameRef> {
        let mut all = self.frames_as_recorded();
        if !self.retimed.times.is_empty() {
            for r in &mut all {
                if let Some(&t) = self.retimed.times.get(&r.entry.seq) {
                    r.time_ns = t;
                }
            }
        }
        all
    }

    /// The frames whose (re-timed) exposure starts in `from..to` (either end open), in
    /// journal order.
    pub fn frames_in(&self, from: Option<i64>, to: Option<i64>) -> Vec<FrameRef> {
        let mut all = self.frames();
        all.retain(|r| from.is_none_or(|t| r.time_ns >= t) && to.is_none_or(|t| r.time_ns < t));
        all
    }

    /// Every frame with the time its record holds.
    fn frames_as_recorded(&self) -> Vec<FrameRef> {
        self.segments
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.frames().map(move |e| FrameRef {
                    segment: i,
                    entry: *e,
                    time_ns: e.time_ns,
                })
            })
            .collect()
    }

    /// `meta` with its re-timed exposure start, if its frame was re-timed.
    pub fn retime(&self, mut meta: FrameMeta) -> FrameMeta {
        if let Some(&t) = self.retimed.times.get(&meta.seq) {
            meta.time_utc_ns = t;
        }
        meta
    }

    /// All damage found while opening (per segment and across segments).
    pub fn all_damage(&self) -> Vec<Damage> {
        let mut all = self.damage.clone();
        for s in &self.segments {
            all.extend(s.damage.iter().cloned());
        }
        all
    }

    /// Reads one frame into a new [`Frame`].
    pub fn read_frame(
        &self,
        r: &FrameRef,
        dec: &mut Decoder,
        scratch: &mut Vec<u8>,
    ) -> Result<Frame, ReadError> {
        let seg = &self.segments[r.segment];
        let mut data = Vec::new();
        let meta = self.retime(seg.read_frame(&r.entry, dec, scratch, &mut data)?);
        Ok(Frame {
            format: seg.header.format,
            meta,
            data,
        })
    }

    /// One frame's metadata, from its record header only (fast: no payload is read, so
    /// a damaged payload is not noticed here).
    pub fn frame_meta(&self, r: &FrameRef) -> Result<FrameMeta, ReadError> {
        self.segments[r.segment]
            .read_frame_meta(&r.entry)
            .map(|m| self.retime(m))
    }

    /// Every readable frame in journal order, decoded to samples: the simplest way to
    /// get pictures out of a journal. Each item is one frame's metadata and its samples
    /// (raw sensor formats stay in their CFA layout; see [`nightcap_frame::pixels`]), or
    /// why that frame could not be read; a damaged frame costs only itself, so iteration
    /// goes on after an error. One decoder and one scratch buffer serve every frame.
    pub fn samples(&self) -> Samples<'_> {
        Samples {
            journal: self,
            frames: self.frames().into_iter(),
            decoder: Decoder::new(),
            scratch: Vec::new(),
        }
    }

    /// The statistics its writer stored for frame `r` (a STATS record): `None` when
    /// there are none (a journal older than format 1.2, an imported frame) or the record
    /// is damaged; the caller then measures the decoded frame.
    pub fn stats(&self, r: &FrameRef) -> Option<FrameStats> {
        let seg = &self.segments[r.segment];
        seg.read_stats(seg.stats_entry(r.entry.seq)?).ok()
    }

    /// Every GAP record (unreadable ones are returned as damage).
    pub fn gaps(&self) -> (Vec<Gap>, Vec<Damage>) {
        let mut gaps = Vec::new();
        let mut damage = Vec::new();
        for seg in &self.segments {
            for e in seg.records.iter().filter(|e| e.kind == Kind::Gap) {
                match seg.read_gap(e) {
                    Ok(g) => gaps.push(g),
                    Err(ReadError::Damaged(d)) => damage.push(d),
                }
            }
        }
        (gaps, damage)
    }
}
