//! nightcap-journal: the raw frame journal, a directory of segment files holding every
//! frame a camera delivered, losslessly compressed. The format is a contract, written
//! down in `formats/segment.md` and `formats/codecs.md` with golden files beside them.
//!
//! # Segments, records and the reading rules
//!
//! A journal is a directory of segments named `SEGNO-YYYYmmddTHHMMSSZ.STATE`: one
//! `.active` segment being appended to, any number of sealed `.seg` segments (immutable:
//! they can be copied with rsync while the journal is written), and `.tmp` files that are
//! never valid. A segment is a header (the stream's [`PixelFormat`](frame::PixelFormat),
//! run id, salt), then records (FRAME, GAP, NOTE, padding), each with its own checksums,
//! then, once sealed, a footer that indexes the records and a trailer.
//!
//! Reading never trusts what it reads: a frame is returned only if its checksums match
//! and it decodes to exactly its stated length; a damaged record costs that record only;
//! an active segment yields its valid prefix; nothing is allocated beyond the format's
//! caps whatever a file claims. What could not be read is reported as [`Damage`].
//!
//! # Reading frames
//!
//! [`Journal::open`] reads a directory; [`Journal::samples`] hands out every frame's
//! metadata and samples. This reads the golden segments shipped with the format:
//!
//! ```
//! use nightcap_journal::Journal;
//!
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../formats/golden");
//! let journal = Journal::open(&dir)?;
//! let mut seqs = Vec::new();
//! for frame in journal.samples() {
//!     let (meta, image) = frame?;
//!     assert_eq!((image.width, image.height), (64, 48)); // samples, padding removed
//!     println!("frame {} at {}: brightest sample {}", meta.seq,
//!         nightcap_journal::frame::time::utc_iso(meta.time_utc_ns),
//!         image.data.iter().max().unwrap());
//!     seqs.push(meta.seq);
//! }
//! assert_eq!(seqs, (0..=13).collect::<Vec<u64>>()); // 14 frames, one GAP between 11 and 12
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Writing
//!
//! [`JournalWriter`] appends frames (and GAP and NOTE records) to preallocated segments,
//! seals them, keeps the ring within its byte budget ([`WriterConfig`]) and recovers the
//! active segment a crash left behind. One writer per directory, held by a [`lock`].
//!
//! # Modules
//!
//! - [`format`](mod@format): the bytes (headers, records, footer, trailer, names), pure functions.
//! - [`codec`]: payload transforms and zstd.
//! - [`storage`]: the seam between the writer and the file system.
//! - `segment`: one active segment being appended and sealed.
//! - [`writer`]: the journal writer (lock, recovery, rolling, retention, syncing).
//! - [`ring`]: the retention policy.
//! - `recovery`: the policy for bad records.
//! - [`reader`]: reading segments and journals, with damage reports.
//! - [`inspect`]: summaries and verification; [`repair`] (with `rewrite` and `rebuild`):
//!   setting damage aside without losing what is intact.
//!
//! The frame types ([`frame`]) are re-exported so a reader needs no other dependency.
#![deny(missing_docs)]

pub use nightcap_frame as frame;

pub mod codec;
mod error;
pub mod format;
pub mod inspect;
pub mod lock;
pub mod reader;
mod rebuild;
mod recovery;
pub mod repair;
pub mod retime;
mod rewrite;
pub mod ring;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod segment;
#[cfg(not(feature = "internals"))]
mod segment;
pub mod storage;
#[cfg(any(test, feature = "internals"))]
#[doc(hidden)]
pub mod testing;
pub mod writer;

pub use error::{Damage, JournalError};
pub use format::{Gap, GapReason};
pub use reader::{FrameRef, Journal, Retimed, Samples, SamplesError, Segment};
pub use writer::{JournalWriter, WriterConfig, WriterStats};
