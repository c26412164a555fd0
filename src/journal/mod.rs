//! The raw frame journal: a directory of segment files holding every frame the camera
//! delivered, losslessly compressed (`formats/segment.md` is the contract).
//!
//! - [`format`]: the bytes (headers, records, footer, trailer, names), pure functions.
//! - [`codec`]: payload transforms and zstd.
//! - [`mmap`]: the only unsafe code (mappings and their contract).
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
pub mod mmap;
pub mod reader;
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
/// `fuzz/regressions/`): writes `data` as a sealed and as an active segment in a
/// temporary journal, opens it and reads every frame, gap and note. Panics only if the
/// reader breaks one of its promises (it returned a frame of the wrong length).
pub fn fuzz_segment_bytes(data: &[u8]) {
    let Ok(dir) = tempfile_dir() else { return };
    for name in [
        "00000000-20261124T000000Z.seg",
        "00000000-20261124T000000Z.active",
    ] {
        let path = dir.join(name);
        if std::fs::write(&path, data).is_err() {
            return;
        }
        if let Ok(j) = Journal::open(&dir) {
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
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir(&dir);
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nightcap-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
