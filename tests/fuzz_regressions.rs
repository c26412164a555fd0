//! Replays every input the fuzzer ever crashed on (`fuzz/regressions/`) and the golden
//! segments (`formats/golden/`) through the fuzz target's entry point,
//! `nightcap_testkit::fuzz_segment_bytes`: the reader must not panic on any of them
//! (reading each as a sealed and as an active segment, every frame, gap and note).

use std::fs;
use std::path::Path;

fn replay_dir(dir: &Path) -> usize {
    let mut n = 0;
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for path in files {
        let bytes = fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| nightcap_testkit::fuzz_segment_bytes(&bytes));
        assert!(result.is_ok(), "{} makes the reader panic", path.display());
        n += 1;
    }
    n
}

#[test]
fn every_fuzz_regression_and_golden_segment_reads_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regressions = replay_dir(&root.join("fuzz/regressions"));
    let golden = replay_dir(&root.join("formats/golden"));
    println!("replayed {regressions} fuzz regression files and {golden} golden files");
    assert!(golden >= 3, "the golden segments are missing");
}
