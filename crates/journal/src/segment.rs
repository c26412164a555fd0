//! One active segment being appended: creation (`.tmp` → `.active`), appends into the
//! preallocated file (positional writes), and sealing (footer, trailer, truncate, sync, rename to `.seg`).
//!
//! Promises: a record is written payload first and header last, so a process killed
//! mid-append never leaves a record whose header is valid over a partial payload; space
//! for the footer and trailer is always kept free, so sealing never fails for lack of room;
//! after `seal` returns, the `.seg` file and its directory entry are durable.
//!
//! Page padding: a barrier (fdatasync) first ends the records on a page boundary with a
//! padding NOTE ([`padding`](ActiveSegment::padding), all-zero payload, see
//! [`is_padding`]), so the record after it starts on a fresh [`PAGE`] and a page holding
//! synced bytes is never written again: media that can destroy a whole page being
//! written (no atomic sectors) then cannot lose synced records. The NOTE's payload is
//! already there (the space after the records is zero), so placing it is a single
//! 64-byte header write, done by whoever makes the barrier;
//! [`adopt_padding`](ActiveSegment::adopt_padding) then indexes it. Room for it is
//! always kept ([`has_room_for`](ActiveSegment::has_room_for)).
//!
//! All file and directory operations go through a [`Storage`] (the real file system by
//! default), so power-cut tests can record them.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::JournalError;
use super::format::{
    align_up, encode_footer, IndexEntry, Kind, RecordHeader, SegmentHeader, SegmentName,
    SegmentState, Trailer, HEADER_LEN, INDEX_ENTRY_LEN, RECORD_HEADER_LEN, TRAILER_LEN,
};
use super::storage::{Fs, Storage, StorageFile, WriteArea};

/// The unit a medium may destroy as a whole when a write to it is interrupted (flash
/// pages; also the page cache's unit of writeback).
pub const PAGE: u64 = 4096;

/// Whether a NOTE payload is padding written at a barrier (all zero bytes, or none): it
/// carries nothing, and listings of notes leave it out.
pub fn is_padding(payload: &[u8]) -> bool {
    payload.iter().all(|&b| b == 0)
}

/// The key of the NOTE that repeats a segment's header: written right after the header
/// (at offset 512, behind a padding NOTE, so a zeroed first 512-byte sector leaves it)
/// and again before the footer when the segment is sealed. With it a segment whose
/// header is damaged is rebuilt from its own bytes (see `super::rebuild`).
pub const HEADER_COPY_KEY: &str = "segment_header=";

/// Bytes a header-copy NOTE record takes: its header, the key and 512 hex digits, padded
/// to the record alignment.
pub const HEADER_COPY_RECORD: u64 = 640;

/// Offset of the header-copy NOTE written at creation.
pub const HEADER_COPY_AT: u64 = 512;

/// Whether a NOTE payload is a copy of the segment header (listings leave it out).
pub fn is_header_copy(payload: &[u8]) -> bool {
    payload.starts_with(HEADER_COPY_KEY.as_bytes())
}

/// The payload of the NOTE that repeats `header`.
pub fn header_copy_payload(header: &SegmentHeader) -> Vec<u8> {
    let mut text = String::with_capacity(HEADER_COPY_KEY.len() + 2 * HEADER_LEN);
    text.push_str(HEADER_COPY_KEY);
    for b in header.encode() {
        text.push_str(&format!("{b:02x}"));
    }
    text.into_bytes()
}

/// The header a header-copy NOTE payload holds, if it is one and decodes.
pub fn header_from_copy(payload: &[u8]) -> Option<SegmentHeader> {
    let hex = payload.strip_prefix(HEADER_COPY_KEY.as_bytes())?;
    if hex.len() != 2 * HEADER_LEN {
        return None;
    }
    let bytes: Option<Vec<u8>> = hex
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect();
    SegmentHeader::decode(&bytes?).ok()
}

/// The first bytes of a new segment: its header, a padding NOTE up to offset 512 and the
/// header-copy NOTE, all bound to the segment's salt; and their index entries.
pub(crate) fn opening_bytes(header: &SegmentHeader) -> (Vec<u8>, Vec<IndexEntry>) {
    let mut out = header.encode().to_vec();
    let mut entries = Vec::new();
    let pad = vec![0u8; (HEADER_COPY_AT - HEADER_LEN as u64) as usize - RECORD_HEADER_LEN];
    let copy = header_copy_payload(header);
    for payload in [&pad, &copy] {
        let h = RecordHeader::meta_record(
            Kind::Note,
            header.first_seq,
            header.created_ns,
            payload,
            header.salt_lo(),
        );
        let at = out.len() as u64;
        entries.push(IndexEntry::of(at, &h));
        out.extend_from_slice(&h.encode());
        out.extend_from_slice(payload);
        out.resize(h.next_offset(at) as usize, 0);
    }
    debug_assert_eq!(out.len() as u64, HEADER_COPY_AT + HEADER_COPY_RECORD);
    (out, entries)
}

/// Payload length of the padding NOTE at `end` that makes the next record start on the
/// following page (a NOTE needs at least its header: a smaller gap pads to the page
/// after).
fn pad_payload_len(end: u64) -> usize {
    let mut gap = end.next_multiple_of(PAGE) - end;
    if gap < RECORD_HEADER_LEN as u64 {
        gap += PAGE;
    }
    (gap - RECORD_HEADER_LEN as u64) as usize
}

/// A padding NOTE to place at the end of a segment's records: its payload (zeros) is
/// already in the file, so placing it is writing [`header`](Self::header) at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    /// Where the padding NOTE starts.
    pub offset: u64,
    /// Bound to the segment's salt.
    pub header: RecordHeader,
    /// Where the next record starts: a multiple of [`PAGE`].
    pub end: u64,
}

/// The segment being appended.
pub struct ActiveSegment<S: Storage = Fs> {
    storage: S,
    dir: PathBuf,
    path: PathBuf,
    file: S::File,
    area: <S::File as StorageFile>::Area,
    header: SegmentHeader,
    /// Offset of the next record.
    end: u64,
    entries: Vec<IndexEntry>,
    next_seq: u64,
    first_frame_ns: Option<i64>,
}

/// Bytes the closing header copy, the footer record and the trailer need for `entries`
/// index entries (the copy's own entry included).
pub fn footer_space(entries: usize) -> u64 {
    HEADER_COPY_RECORD
        + align_up((RECORD_HEADER_LEN + 8 + INDEX_ENTRY_LEN * (entries + 1)) as u64)
        + TRAILER_LEN as u64
}

/// Capacity a segment needs to hold one record of `payload` bytes (and its footer).
pub fn capacity_for(payload: u64) -> u64 {
    HEADER_LEN as u64 + align_up(RECORD_HEADER_LEN as u64 + payload) + footer_space(1)
}

impl ActiveSegment {
    /// [`create_with`](Self::create_with) on the real file system.
    pub fn create(
        dir: &Path,
        header: SegmentHeader,
        capacity: u64,
    ) -> Result<ActiveSegment, JournalError> {
        ActiveSegment::create_with(&Fs, dir, header, capacity)
    }
}

impl<S: Storage> ActiveSegment<S> {
    /// Creates segment `header.segno` with `capacity` preallocated bytes and makes it the
    /// active segment: `.tmp`, fallocate, header, sync, rename `.active`, sync directory.
    pub fn create_with(
        storage: &S,
        dir: &Path,
        header: SegmentHeader,
        capacity: u64,
    ) -> Result<ActiveSegment<S>, JournalError> {
        let stem = SegmentName::stem(header.segno, header.created_ns);
        let tmp = dir.join(format!("{stem}.{}", SegmentState::Tmp.extension()));
        let path = dir.join(format!("{stem}.{}", SegmentState::Active.extension()));
        let file = storage
            .create_new(&tmp)
            .map_err(JournalError::io("creating segment", &tmp))?;
        // The header and its copy are durable before the segment is named `.active`.
        let (opening, entries) = opening_bytes(&header);
        let made = file
            .preallocate(capacity)
            .and_then(|()| file.write_bytes(&opening, 0))
            .and_then(|()| file.sync_all());
        if let Err(e) = made {
            let _ = storage.remove_file(&tmp);
            return Err(JournalError::io("preallocating segment", &tmp)(e));
        }
        storage
            .rename(&tmp, &path)
            .map_err(JournalError::io("renaming segment", &tmp))?;
        storage
            .sync_dir(dir)
            .map_err(JournalError::io("syncing directory", dir))?;
        let area = file
            .write_area(capacity)
            .map_err(JournalError::io("opening the write area of", &path))?;
        Ok(ActiveSegment {
            storage: storage.clone(),
            dir: dir.to_path_buf(),
            path,
            file,
            area,
            next_seq: header.first_seq,
            header,
            end: HEADER_COPY_AT + HEADER_COPY_RECORD,
            entries,
            first_frame_ns: None,
        })
    }

    /// Continues an existing `.active` segment whose valid records end at `end` and whose
    /// bytes from `end` on are zero (crash recovery has made sure of both).
    pub fn resume(
        storage: &S,
        dir: &Path,
        path: PathBuf,
        header: SegmentHeader,
        end: u64,
        entries: Vec<IndexEntry>,
    ) -> Result<ActiveSegment<S>, JournalError> {
        let file = storage
            .open_rw(&path)
            .map_err(JournalError::io("opening segment", &path))?;
        let capacity = file
            .size()
            .map_err(JournalError::io("reading size of", &path))?;
        // Re-assert the allocation: the file may have been copied sparse.
        file.preallocate(capacity)
            .map_err(JournalError::io("preallocating segment", &path))?;
        let area = file
            .write_area(capacity)
            .map_err(JournalError::io("opening the write area of", &path))?;
        let next_seq = entries
            .iter()
            .rev()
            .find(|e| e.kind == Kind::Frame)
            .map_or(header.first_seq, |e| e.seq + 1);
        let first_frame_ns = entries
            .iter()
            .find(|e| e.kind == Kind::Frame)
            .map(|e| e.time_ns);
        Ok(ActiveSegment {
            storage: storage.clone(),
            dir: dir.to_path_buf(),
            path,
            file,
            area,
            header,
            end,
            entries,
            next_seq,
            first_frame_ns,
        })
    }

    /// The segment's header.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The segment's file.
    #[cfg(any(test, feature = "internals"))]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number the next FRAME gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Exposure start of the first frame in this segment.
    pub fn first_frame_ns(&self) -> Option<i64> {
        self.first_frame_ns
    }

    /// Number of FRAME records.
    #[cfg(any(test, feature = "internals"))]
    pub fn frames(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.kind == Kind::Frame)
            .count()
    }

    /// Bytes used so far (header and records).
    pub fn used(&self) -> u64 {
        self.end
    }

    /// Bytes allocated for the segment.
    pub fn capacity(&self) -> u64 {
        self.area.area_len()
    }

    /// A clone of the file handle, for the background syncer.
    pub fn file_handle(&self) -> Result<S::File, JournalError> {
        self.file
            .try_clone()
            .map_err(JournalError::io("duplicating handle of", &self.path))
    }

    /// Whether a record with `payload_len` bytes fits, leaving room for the footer.
    pub fn has_room(&self, payload_len: usize) -> bool {
        self.has_room_for(&[payload_len])
    }

    /// Whether records with these payload lengths fit one after the other, leaving room
    /// for the padding NOTE a barrier may add after them (at most a page and an index
    /// entry) and for the footer.
    pub fn has_room_for(&self, payload_lens: &[usize]) -> bool {
        let after = payload_lens.iter().fold(self.end, |at, &len| {
            align_up(at + (RECORD_HEADER_LEN + len) as u64)
        });
        let entries = self.entries.len() + payload_lens.len() + 1;
        after + PAGE + footer_space(entries) <= self.area.area_len()
    }

    /// The padding NOTE a barrier should place now, stamped `time_ns`: none when the
    /// records end on a page boundary, or when it does not fit before the footer space
    /// (a segment resumed from a writer that kept no room for it).
    pub fn padding(&self, time_ns: i64) -> Option<Padding> {
        if self.end.is_multiple_of(PAGE) {
            return None;
        }
        let len = pad_payload_len(self.end);
        let end = self.end + (RECORD_HEADER_LEN + len) as u64;
        if end + footer_space(self.entries.len() + 1) > self.area.area_len() {
            return None;
        }
        let zeros = [0u8; PAGE as usize];
        let header = RecordHeader::meta_record(
            Kind::Note,
            self.next_seq,
            time_ns,
            &zeros[..len],
            self.header.salt_lo(),
        );
        Some(Padding {
            offset: self.end,
            header,
            end,
        })
    }

    /// Takes in a padding NOTE that was placed (its header written) at the end of the
    /// records: indexes it; the next record starts after it.
    pub fn adopt_padding(&mut self, pad: &Padding) {
        debug_assert_eq!(pad.offset, self.end, "padding placed at the end of records");
        debug_assert_eq!(pad.header.next_offset(pad.offset), pad.end);
        self.entries.push(IndexEntry::of(pad.offset, &pad.header));
        self.end = pad.end;
    }

    /// Appends a record. `header.seq` is overwritten with the segment's next seq; the
    /// caller has checked [`has_room`](Self::has_room). Returns the record's seq.
    pub fn append(
        &mut self,
        mut header: RecordHeader,
        payload: &[u8],
    ) -> Result<u64, JournalError> {
        header.seq = self.next_seq;
        header.stored_len = payload.len() as u32;
        self.put(header, payload)?;
        Ok(header.seq)
    }

    /// Appends a record copied from another segment, keeping its seq (repair). The
    /// caller has checked [`has_room`](Self::has_room).
    pub fn append_copy(
        &mut self,
        header: RecordHeader,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        self.put(header, payload)
    }

    /// Writes a record (payload first, header last, so a reader never sees a header whose
    /// payload is not there yet), bound to this segment's salt, and indexes it. On an
    /// error nothing is indexed and the segment must not be appended to again.
    fn put(&mut self, header: RecordHeader, payload: &[u8]) -> Result<(), JournalError> {
        debug_assert!(self.has_room(payload.len()));
        self.put_reserved(header, payload)
    }

    /// [`put`](Self::put) into space set aside for it (the closing header copy, which
    /// [`footer_space`] includes).
    fn put_reserved(
        &mut self,
        mut header: RecordHeader,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        header.salt_lo = self.header.salt_lo();
        let offset = self.end;
        self.area
            .write_at(offset + RECORD_HEADER_LEN as u64, payload)
            .and_then(|()| self.area.write_at(offset, &header.encode()))
            .map_err(JournalError::io("writing a record to", &self.path))?;
        self.end = header.next_offset(offset);
        self.entries.push(IndexEntry::of(offset, &header));
        if header.kind == Kind::Frame {
            self.next_seq = self.next_seq.max(header.seq + 1);
            self.first_frame_ns.get_or_insert(header.time_ns);
        }
        Ok(())
    }

    /// Writes footer and trailer, truncates, syncs and renames to `.seg`. Returns the
    /// sealed path.
    pub fn seal(mut self, now_ns: i64) -> Result<PathBuf, JournalError> {
        // The second copy of the header, just before the footer (room kept by
        // footer_space): it survives damage to the first pages of the file.
        // A segment resumed after a crash may have less room than footer_space kept (its
        // file was cut to an earlier footer): the copy is redundancy, so it then goes.
        let copy = header_copy_payload(&self.header);
        let h = RecordHeader::meta_record(Kind::Note, self.next_seq, now_ns, &copy, 0);
        let footer_after =
            align_up((RECORD_HEADER_LEN + 8 + INDEX_ENTRY_LEN * (self.entries.len() + 2)) as u64)
                + TRAILER_LEN as u64;
        if self.end + HEADER_COPY_RECORD + footer_after <= self.area.area_len() {
            self.put_reserved(h, &copy)?;
        }
        let footer = encode_footer(&self.entries);
        let fh = RecordHeader::meta_record(
            Kind::Footer,
            self.next_seq,
            now_ns,
            &footer,
            self.header.salt_lo(),
        );
        let footer_offset = self.end;
        self.area
            .write_at(footer_offset + RECORD_HEADER_LEN as u64, &footer)
            .and_then(|()| self.area.write_at(footer_offset, &fh.encode()))
            .map_err(JournalError::io("writing the footer of", &self.path))?;
        let trailer_at = fh.next_offset(footer_offset);
        let trailer = Trailer {
            footer_offset,
            entry_count: self.entries.len() as u64,
            salt_lo: self.header.salt_lo(),
        };
        self.area
            .write_at(trailer_at, &trailer.encode())
            .map_err(JournalError::io("writing the trailer of", &self.path))?;
        let len = trailer_at + TRAILER_LEN as u64;
        self.area
            .flush_range(0, len)
            .map_err(JournalError::io("syncing segment", &self.path))?;
        let ActiveSegment {
            storage,
            dir,
            path,
            file,
            area,
            header,
            ..
        } = self;
        drop(area); // the write area ends before the file is truncated
        file.set_len(len)
            .map_err(JournalError::io("truncating segment", &path))?;
        file.sync_all()
            .map_err(JournalError::io("syncing segment", &path))?;
        let sealed = dir.join(SegmentName::file_name(
            header.segno,
            header.created_ns,
            SegmentState::Sealed,
        ));
        storage
            .rename(&path, &sealed)
            .map_err(JournalError::io("renaming segment", &path))?;
        storage
            .sync_dir(&dir)
            .map_err(JournalError::io("syncing directory", &dir))?;
        Ok(sealed)
    }
}

/// Makes renames and creations in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(JournalError::io("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Journal;

    fn header() -> SegmentHeader {
        SegmentHeader {
            run_id: 1,
            segno: 0,
            salt: 0x5a17,
            created_ns: 1_795_996_800_000_000_000,
            first_seq: 0,
            format: crate::testing::tiny(),
            default_transform: 0,
            default_compression: 0,
            zstd_level: 0,
        }
    }

    /// Places `pad` as a barrier does (its header over the zeroed space) and takes it in.
    fn place(seg: &mut ActiveSegment, pad: &Padding) {
        seg.area.write_at(pad.offset, &pad.header.encode()).unwrap();
        seg.adopt_padding(pad);
    }

    #[test]
    fn a_barrier_can_always_pad_to_a_page_and_the_padding_reads_as_an_empty_note() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = ActiveSegment::create(dir.path(), header(), 24 << 10).unwrap();
        // Payload sizes that leave every kind of remainder in a page, a barrier after
        // each record, until the segment is full: the padding always fits.
        let mut pads = 0;
        for len in (0..).map(|i: usize| (i * 1237) % 5000 + 1) {
            if !seg.has_room(len) {
                break;
            }
            let payload = vec![b'n'; len];
            seg.append(
                RecordHeader::meta_record(Kind::Note, 0, 7, &payload, 0),
                &payload,
            )
            .unwrap();
            match seg.padding(8) {
                Some(pad) => {
                    assert_eq!(pad.end % PAGE, 0);
                    assert!(pad.end - pad.offset >= RECORD_HEADER_LEN as u64);
                    place(&mut seg, &pad);
                    pads += 1;
                }
                None => assert_eq!(seg.used() % PAGE, 0, "no room kept for the padding"),
            }
            assert_eq!(seg.padding(9), None, "a second barrier adds nothing");
        }
        assert!(pads >= 3, "{pads}");
        seg.seal(10).unwrap();

        let j = Journal::open(dir.path()).unwrap();
        assert!(j.all_damage().is_empty(), "{:?}", j.all_damage());
        let s = &j.segments[0];
        let padding: Vec<u64> = s
            .records
            .iter()
            .filter(|e| is_padding(s.read_note(e).unwrap().as_bytes()))
            .map(|e| e.offset)
            .collect();
        // The barriers' paddings, and the one that puts the header copy at offset 512.
        assert_eq!(padding.len(), pads + 1);
        // Each barrier's padding ends where the next record (or the footer) starts: on a
        // page (the opening padding ends at the header copy, at 512).
        for at in padding.into_iter().filter(|&at| at != HEADER_LEN as u64) {
            let next = s.records.iter().find(|e| e.offset > at).map(|e| e.offset);
            assert!(next.is_none_or(|n| n % PAGE == 0), "{at} -> {next:?}");
        }
    }
}
