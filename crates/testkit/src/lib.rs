//! Test support for nightcap's own tests, benchmarks and fuzz target; never a dependency
//! of a shipped crate (it is not published).
//!
//! - [`golden`]: the golden segments of `formats/golden/`, written from fixed inputs.
//! - [`fuzz_segment_bytes`]: the fuzzing entry point for the segment reader.
//! - Synthetic frames, noise and test formats: re-exported from the journal's
//!   `internals` feature ([`synthetic_sky`], [`noise`], [`format()`], [`tiny`]).
pub mod golden;

pub use nightcap_journal::storage::recording;
pub use nightcap_journal::testing::{format, noise, synthetic_sky, tiny, XorShift};

use nightcap_journal::{codec, format as fmt, inspect, Journal};

/// The fuzzing entry point (used by `fuzz/` and by the regression test that replays
/// `fuzz/regressions/`): reads `data` as a sealed and as an active segment of a journal
/// held in memory, and reads every frame, its STATS record, gap and note. Panics only if the
/// reader breaks one of its promises (it returned a frame of the wrong length).
pub fn fuzz_segment_bytes(data: &[u8]) {
    // In memory, so an execution costs microseconds, not file-system calls; the reader
    // takes exactly the same paths as on a file with these bytes.
    for name in [
        "00000000-20261124T000000Z.seg",
        "00000000-20261124T000000Z.active",
    ] {
        let Some(name) = fmt::SegmentName::parse(name) else {
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
                if let Some(s) = j.stats(&r) {
                    assert!(
                        s.column_rows() <= usize::from(fmt::MAX_STATS_ROWS),
                        "a STATS column taller than the format allows"
                    );
                }
            }
            let _ = j.gaps();
            let _ = inspect::summarize(&j);
        }
    }
}
