//! The journal's decode bound: how fast the codec alone turns every frame of a journal
//! into samples, on all cores, the fastest way it can (read and verify the record, zstd,
//! the inverse transform straight to 16-bit sample rows; nothing is combined or kept).
//! A stacker reading the same journal cannot be faster than this; `scripts/compare-stack.sh`
//! prints the ratio.
//!
//!     cargo run --release --example decode_bound -- JOURNAL_DIR [ROUNDS]
//!
//! Prints `frames=F seconds=S frames_per_s=R threads=T` for the best of ROUNDS (default
//! 1) passes over the journal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use nightcap_journal::codec::Decoder;
use nightcap_journal::Journal;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: decode_bound JOURNAL_DIR [ROUNDS]"))?;
    let rounds: usize = args.next().map_or(Ok(1), |r| r.parse())?;
    let journal = Journal::open(std::path::Path::new(&dir))?;
    let frames = journal.frames();
    let threads = rayon::current_num_threads();
    let mut best = f64::INFINITY;
    for _ in 0..rounds.max(1) {
        let next = AtomicUsize::new(0);
        let decoded = AtomicUsize::new(0);
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    // One decoder and payload buffer per thread for the whole run, as a
                    // long-lived worker would have.
                    let (mut dec, mut scratch, mut seen) = (Decoder::new(), Vec::new(), 0u64);
                    while let Some(r) = frames.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let seg = &journal.segments[r.segment];
                        let mut sink = |_: usize, rows: &[u16]| seen += u64::from(rows[0]);
                        if seg
                            .read_frame_rows(&r.entry, &mut dec, &mut scratch, 16, &mut sink)
                            .is_ok()
                        {
                            decoded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::hint::black_box(seen);
                });
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
        if decoded.load(Ordering::Relaxed) != frames.len() {
            anyhow::bail!("some frames did not decode; run `nightcap verify {dir}`");
        }
    }
    println!(
        "frames={} seconds={best:.3} frames_per_s={:.2} threads={threads}",
        frames.len(),
        frames.len() as f64 / best
    );
    Ok(())
}
