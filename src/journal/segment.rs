//! One active segment being appended: creation (`.tmp` → `.active`), appends into the
//! preallocated file (positional writes), and sealing (footer, trailer, truncate, sync, rename to `.seg`).
//!
//! Promises: a record is written payload first and header last, so a process killed
//! mid-append never leaves a record whose header is valid over a partial payload; space
//! for the footer and trailer is always kept free, so sealing never fails for lack of room;
//! after `seal` returns, the `.seg` file and its directory entry are durable.
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
use super::storage::{Fs, Storage, StorageFile, StorageMap};

/// The segment being appended.
pub struct ActiveSegment<S: Storage = Fs> {
    storage: S,
    dir: PathBuf,
    path: PathBuf,
    file: S::File,
    map: <S::File as StorageFile>::Map,
    header: SegmentHeader,
    /// Offset of the next record.
    end: u64,
    entries: Vec<IndexEntry>,
    next_seq: u64,
    first_frame_ns: Option<i64>,
}

/// Bytes the footer record and trailer need for `entries` index entries.
pub fn footer_space(entries: usize) -> u64 {
    align_up((RECORD_HEADER_LEN + 8 + INDEX_ENTRY_LEN * entries) as u64) + TRAILER_LEN as u64
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
        let made = file
            .preallocate(capacity)
            .and_then(|()| file.write_bytes(&header.encode(), 0))
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
        let map = file
            .map(capacity)
            .map_err(JournalError::io("opening the write area of", &path))?;
        Ok(ActiveSegment {
            storage: storage.clone(),
            dir: dir.to_path_buf(),
            path,
            file,
            map,
            next_seq: header.first_seq,
            header,
            end: HEADER_LEN as u64,
            entries: Vec::new(),
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
        let map = file
            .map(capacity)
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
            map,
            header,
            end,
            entries,
            next_seq,
            first_frame_ns,
        })
    }

    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

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

    pub fn capacity(&self) -> u64 {
        self.map.mapped_len()
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
    /// for the footer.
    pub fn has_room_for(&self, payload_lens: &[usize]) -> bool {
        let after = payload_lens.iter().fold(self.end, |at, &len| {
            align_up(at + (RECORD_HEADER_LEN + len) as u64)
        });
        after + footer_space(self.entries.len() + payload_lens.len()) <= self.map.mapped_len()
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
    fn put(&mut self, mut header: RecordHeader, payload: &[u8]) -> Result<(), JournalError> {
        debug_assert!(self.has_room(payload.len()));
        header.salt_lo = self.header.salt_lo();
        let offset = self.end;
        self.map
            .write_at(offset + RECORD_HEADER_LEN as u64, payload)
            .and_then(|()| self.map.write_at(offset, &header.encode()))
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
        let footer = encode_footer(&self.entries);
        let fh = RecordHeader::meta_record(
            Kind::Footer,
            self.next_seq,
            now_ns,
            &footer,
            self.header.salt_lo(),
        );
        let footer_offset = self.end;
        self.map
            .write_at(footer_offset + RECORD_HEADER_LEN as u64, &footer)
            .and_then(|()| self.map.write_at(footer_offset, &fh.encode()))
            .map_err(JournalError::io("writing the footer of", &self.path))?;
        let trailer_at = fh.next_offset(footer_offset);
        let trailer = Trailer {
            footer_offset,
            entry_count: self.entries.len() as u64,
            salt_lo: self.header.salt_lo(),
        };
        self.map
            .write_at(trailer_at, &trailer.encode())
            .map_err(JournalError::io("writing the trailer of", &self.path))?;
        let len = trailer_at + TRAILER_LEN as u64;
        self.map
            .flush_range(0, len)
            .map_err(JournalError::io("syncing segment", &self.path))?;
        let ActiveSegment {
            storage,
            dir,
            path,
            file,
            map,
            header,
            ..
        } = self;
        drop(map); // the write area ends before the file is truncated
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

/// Allocates `len` bytes of disk for `file`, so that writes through a mapping never need
/// new blocks. Falls back to writing zeros where `fallocate` is not supported.
pub fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
            write_zeros(file, len)
        }
        Err(e) => Err(e.into()),
    }
}

fn write_zeros(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let have = file.metadata()?.len();
    let zeros = vec![0u8; 1 << 20];
    let mut at = have;
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Makes renames and creations in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(JournalError::io("syncing directory", dir))
}
