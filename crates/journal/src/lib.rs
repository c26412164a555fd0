//! The raw frame journal: a directory of segment files holding every frame the camera
//! delivered, losslessly compressed (`formats/segment.md` is the contract).
//!
//! - [`format`](mod@format): the bytes (headers, records, footer, trailer, names), pure functions.
//! - [`codec`]: payload transforms and zstd.
//! - [`storage`]: the seam between the writer and the file system (real, or recorded
//!   for power-cut tests).
//! - [`segment`]: one active segment being appended and sealed.
//! - [`writer`]: the journal writer (lock, recovery, rolling, retention, syncing).
//! - [`ring`]: the retention policy.
//! - [`recovery`]: the policy for bad records.
//! - [`reader`]: reading segments and journals, with damage reports.
pub mod codec;
pub mod error;
pub mod format;
pub mod inspect;
pub mod lock;
pub mod reader;
pub mod rebuild;
pub mod recovery;
pub mod repair;
pub mod ring;
pub mod segment;
pub mod storage;
#[cfg(any(test, feature = "internals"))]
#[doc(hidden)]
pub mod testing;
pub mod writer;

pub use error::{Damage, JournalError};
pub use format::{Gap, GapReason};
pub use reader::{FrameRef, Journal, Segment};
pub use writer::{JournalWriter, WriterConfig, WriterStats};
