//! Typed errors of the journal, and damage reports.
//!
//! [`JournalError`] is for what stops an operation (I/O, lock, full disk, a newer format).
//! [`Damage`] is what a reader found wrong in a segment and stepped around: it never stops
//! reading, it is reported (segment, offset, seq, what).

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::format::FormatFault;

/// What stops a journal operation (see the module docs).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An operating-system error.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    #[error("journal {} is in use by another nightcap{} (stop it, or use another journal directory)", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    /// Another process holds the journal's lock.
    Locked {
        /// The journal directory.
        dir: PathBuf,
        /// The holder's process id, when it wrote one.
        pid: Option<u32>,
    },
    /// No room for a new segment and its reserve, and nothing left to delete.
    #[error("disk full in {}: a new segment needs {needed} bytes plus the {reserve}-byte reserve, {available} are free and no sealed segment is left to delete (free space, or make segments or the reserve smaller)", dir.display())]
    DiskFull {
        /// The journal directory.
        dir: PathBuf,
        /// Bytes the new segment needs.
        needed: u64,
        /// Bytes to keep free.
        reserve: u64,
        /// Bytes free.
        available: u64,
    },
    /// The ring's byte budget cannot hold a new segment even when empty.
    #[error("ring of {budget} bytes in {} cannot hold a new {needed}-byte segment even after deleting every sealed segment (make the ring larger or segments smaller)", dir.display())]
    RingFull {
        /// The journal directory.
        dir: PathBuf,
        /// The ring's budget, bytes.
        budget: u64,
        /// Bytes the new segment needs.
        needed: u64,
    },
    #[error("{} is not a nightcap journal: {why}", dir.display())]
    /// The path is not a journal directory.
    NotAJournal {
        /// The path.
        dir: PathBuf,
        /// Why not.
        why: String,
    },
    #[error("{}: {fault}", path.display())]
    /// A segment cannot be used at all.
    Segment {
        /// The segment file.
        path: PathBuf,
        /// What is wrong with it.
        fault: FormatFault,
    },
    /// Two segments with one number but different creation stamps: two journals (two
    /// cameras, or a journal restarted elsewhere) were copied into one folder.
    #[error("{} holds two journals: {} and {} are both segment {segno} (two cameras' journals copied into one folder?); move each journal's segments into a folder of its own", dir.display(), a.display(), b.display())]
    TwoJournals {
        /// The journal directory.
        dir: PathBuf,
        /// The segment number both claim.
        segno: u64,
        /// One of the two files.
        a: PathBuf,
        /// The other.
        b: PathBuf,
    },
    #[error("frame of {got} bytes does not match the stream format, which needs {want} (the camera changed format? start a new journal)")]
    /// A frame's length does not fit the stream format.
    FrameSize {
        /// The frame's bytes.
        got: usize,
        /// What the format needs.
        want: u64,
    },
    /// The stream format is invalid.
    #[error("invalid stream format: {0}")]
    Format(#[from] nightcap_frame::FormatError),
    /// A frame could not be encoded.
    #[error("encoding a frame failed: {0}")]
    Codec(#[from] super::codec::CodecError),
    /// An earlier error stopped the writer; it appends nothing more.
    #[error("the journal writer stopped after an earlier error; reopen the journal")]
    Poisoned,
}

impl JournalError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> JournalError {
        let path = path.into();
        move |source| JournalError::Io { op, path, source }
    }
}

/// Something wrong found in a segment, and stepped around.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in the segment where the damage was found.
    pub offset: u64,
    /// Sequence number of the affected frame, when known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.segment.display(), self.offset)?;
        if let Some(seq) = self.seq {
            write!(f, " (frame seq {seq})")?;
        }
        write!(f, ": {}", self.what)
    }
}
