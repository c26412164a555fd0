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
#[doc(hidden)]
pub mod golden;
pub mod inspect;
pub mod lock;
pub mod reader;
pub mod rebuild;
pub mod recovery;
pub mod repair;
pub mod ring;
pub mod segment;
pub mod storage;
pub mod writer;

pub use error::{Damage, JournalError};
pub use format::{Gap, GapReason};
pub use reader::{FrameRef, Journal, Segment};
pub use writer::{JournalWriter, WriterConfig, WriterStats};

/// The fuzzing entry point (used by `fuzz/` and by the regression test that replays
/// `fuzz/regressions/`): reads `data` as a sealed and as an active segment of a journal
/// held in memory, and reads every frame, gap and note. Panics only if the
/// reader breaks one of its promises (it returned a frame of the wrong length).
pub fn fuzz_segment_bytes(data: &[u8]) {
    // In memory, so an execution costs microseconds, not file-system calls; the reader
    // takes exactly the same paths as on a file with these bytes.
    for name in [
        "00000000-20261124T000000Z.seg",
        "00000000-20261124T000000Z.active",
    ] {
        let Some(name) = format::SegmentName::parse(name) else {
            return;
        };
        let dir = std::path::Path::new("fuzz");
        if let Ok(j) = Journal::from_memory(dir, vec![(name, data.to_vec())]) {
            let mut dec = codec::Decoder::new();
            let mut scratch = Vec::new();
            for r in j.frames() {
                if let Ok(f) = j.read_frame(&r, &mut dec, &mut scratch) {
                    let want = f.format.max_frame_bytes() as usize;
                    assert!(
                        f.data.len() == want || !f.format.fixed_size(),
                        "frame of the wrong length"
                    );
                }
            }
            let _ = j.gaps();
            let _ = inspect::summarize(&j);
        }
    }
}
