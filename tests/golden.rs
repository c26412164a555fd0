//! The golden segments of `formats/golden/`: the code still writes them byte for byte, the
//! reader returns exactly their frames, and hostile versions of them (every truncation,
//! bit flips, zeroed runs, garbage) never make it panic or return a wrong frame.

use std::fs;
use std::path::{Path, PathBuf};

use nightcap::journal::codec::Decoder;
use nightcap::journal::format::{GapReason, HEADER_LEN};
use nightcap::journal::Journal;
use nightcap::source::sim::SimSky;

const SEALED: &str = "00000000-20261130T000000Z.seg";
const ACTIVE: &str = "00000001-20261130T000100Z.active";
const WITH_GAP: &str = "00000002-20261130T000200Z.seg";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("formats/golden")
}

/// The frame the simulated sky rendered for golden frame `index`.
fn expected(index: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    SimSky::render(&nightcap::journal::golden::sim_config(), index, &mut buf);
    buf
}

/// Sim frame index of each golden seq (seq 12 and 13 are frames 14 and 15: 12, 13 were missed).
fn index_of_seq(seq: u64) -> u64 {
    if seq >= 12 {
        seq + 2
    } else {
        seq
    }
}

/// (seq, bytes) of every frame that reads, and the number of problems reported.
fn salvage(dir: &Path) -> (Vec<(u64, Vec<u8>)>, Vec<nightcap::journal::Damage>) {
    let Ok(j) = Journal::open(dir) else {
        return (Vec::new(), vec![]);
    };
    let mut damage = j.all_damage();
    let mut dec = Decoder::new();
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    for r in j.frames() {
        match j.read_frame(&r, &mut dec, &mut scratch) {
            Ok(f) => out.push((f.meta.seq, f.data)),
            Err(nightcap::journal::reader::ReadError::Damaged(d)) => damage.push(d),
        }
    }
    (out, damage)
}

fn with_file(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(name), bytes).unwrap();
    dir
}

#[test]
fn the_code_still_writes_the_golden_bytes() {
    let fresh = tempfile::tempdir().unwrap();
    nightcap::journal::golden::write(fresh.path());
    for name in [SEALED, ACTIVE, WITH_GAP, "README.md"] {
        let committed = fs::read(golden_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = fs::read(fresh.path().join(name)).unwrap();
        assert!(
            committed == written,
            "{name} differs from what the code writes now: if the format or codec changed on purpose, \
             run scripts/make-golden.sh and update formats/ in the same commit"
        );
    }
}

#[test]
fn the_golden_journal_reads_back_exactly() {
    let (frames, damage) = salvage(&golden_dir());
    assert!(damage.is_empty(), "{damage:?}");
    let seqs: Vec<u64> = frames.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..14).collect::<Vec<_>>());
    for (seq, data) in &frames {
        assert_eq!(data, &expected(index_of_seq(*seq)), "seq {seq}");
    }
    let j = Journal::open(&golden_dir()).unwrap();
    let (gaps, _) = j.gaps();
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].count, gaps[0].reason), (2, GapReason::Timeout));
    use nightcap::journal::reader::OpenedBy;
    let opened: Vec<OpenedBy> = j.segments.iter().map(|s| s.opened_by).collect();
    assert_eq!(
        opened,
        vec![OpenedBy::Footer, OpenedBy::Prefix, OpenedBy::Footer]
    );
}

#[test]
fn a_journal_in_memory_reads_like_the_directory() {
    use nightcap::journal::format::SegmentName;
    let on_disk = Journal::open(&golden_dir()).unwrap();
    let files = [SEALED, ACTIVE, WITH_GAP]
        .iter()
        .map(|n| {
            let name = SegmentName::parse(n).unwrap();
            (name, fs::read(golden_dir().join(n)).unwrap())
        })
        .collect();
    let in_memory = Journal::from_memory(&golden_dir(), files).unwrap();
    assert_eq!(in_memory.frames(), on_disk.frames());
    let mut dec = Decoder::new();
    let mut scratch = Vec::new();
    for (a, b) in in_memory.frames().iter().zip(on_disk.frames().iter()) {
        let x = in_memory.read_frame(a, &mut dec, &mut scratch).unwrap();
        let y = on_disk.read_frame(b, &mut dec, &mut scratch).unwrap();
        assert_eq!((x.meta, x.data), (y.meta, y.data));
    }
    // The same bytes, damaged: the same damage at the same offsets.
    let bytes = fs::read(golden_dir().join(SEALED)).unwrap();
    let cut = &bytes[..bytes.len() - 100];
    let dir = with_file(SEALED, cut);
    let name = SegmentName::parse(SEALED).unwrap();
    let mem = Journal::from_memory(dir.path(), vec![(name, cut.to_vec())]).unwrap();
    let disk = Journal::open(dir.path()).unwrap();
    let offsets = |j: &Journal| j.all_damage().iter().map(|d| d.offset).collect::<Vec<_>>();
    assert!(!offsets(&disk).is_empty());
    assert_eq!(offsets(&mem), offsets(&disk));
}

/// Checks a damaged copy: only right frames, and lost frames are reported with an offset.
fn check_damaged(name: &str, bytes: &[u8], all: &[u64], what: &str) -> usize {
    let dir = with_file(name, bytes);
    let (frames, damage) = salvage(dir.path());
    for (seq, data) in &frames {
        assert_eq!(
            data,
            &expected(index_of_seq(*seq)),
            "{what}: wrong frame seq {seq}"
        );
    }
    // An active segment cut at a record boundary is just an earlier valid prefix: nothing
    // to report there. Anything else that loses frames must say where.
    if frames.len() < all.len() && bytes.len() >= HEADER_LEN && !name.ends_with(".active") {
        let header_ok = Journal::open(dir.path()).is_ok_and(|j| !j.segments.is_empty());
        assert!(
            !header_ok || !damage.is_empty(),
            "{what}: frames lost without a report"
        );
    }
    frames.len()
}

fn seqs_in(name: &str) -> Vec<u64> {
    let (frames, _) = salvage(&with_file(name, &fs::read(golden_dir().join(name)).unwrap()).keep());
    frames.iter().map(|(s, _)| *s).collect()
}

#[test]
fn every_truncation_of_every_golden_segment() {
    for name in [SEALED, ACTIVE, WITH_GAP] {
        let bytes = fs::read(golden_dir().join(name)).unwrap();
        let all = seqs_in(name);
        let mut prev = 0;
        for len in 0..bytes.len() {
            let got = check_damaged(name, &bytes[..len], &all, &format!("{name} cut at {len}"));
            if name == ACTIVE {
                assert!(got >= prev, "{name}: the valid prefix shrank at {len}");
                prev = got;
            }
        }
    }
}

#[test]
fn bit_flips_in_golden_segments_cost_at_most_one_frame() {
    for name in [SEALED, WITH_GAP] {
        let bytes = fs::read(golden_dir().join(name)).unwrap();
        let all = seqs_in(name);
        let n = bytes.len() * 8;
        // Exhaustive over the header and the last 2 KiB (footer and trailer); a stride elsewhere.
        let tail_from = (bytes.len().saturating_sub(2048)) * 8;
        let bits: Vec<usize> = (0..HEADER_LEN * 8)
            .chain((HEADER_LEN * 8..tail_from).step_by(61))
            .chain(tail_from..n)
            .collect();
        for bit in bits {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let got = check_damaged(name, &b, &all, &format!("{name} bit {bit}"));
            if bit >= HEADER_LEN * 8 {
                assert!(
                    got + 1 >= all.len(),
                    "{name}: flipping bit {bit} cost {} frames",
                    all.len() - got
                );
            }
        }
    }
}

#[test]
fn zeroed_runs_garbage_and_duplicates_never_yield_wrong_frames() {
    let bytes = fs::read(golden_dir().join(SEALED)).unwrap();
    let all = seqs_in(SEALED);
    for run in [512usize, 4096] {
        for start in (0..bytes.len()).step_by(run / 2) {
            let mut b = bytes.clone();
            let end = (start + run).min(b.len());
            b[start..end].iter_mut().for_each(|x| *x = 0);
            check_damaged(SEALED, &b, &all, &format!("zeroed {start}..{end}"));
        }
    }
    let mut b = bytes.clone();
    b.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert_eq!(
        check_damaged(SEALED, &b, &all, "garbage appended"),
        all.len(),
        "garbage after the trailer costs nothing"
    );
    // A whole copy of the segment appended to itself: still only right frames.
    let mut b = bytes.clone();
    b.extend_from_slice(&bytes);
    check_damaged(SEALED, &b, &all, "segment twice");
    // Lengths of u32::MAX in a record header (with a fixed CRC, the worst case).
    let mut b = bytes.clone();
    let rec = HEADER_LEN;
    b[rec + 8..rec + 16].copy_from_slice(&[0xff; 8]);
    let c = nightcap::journal::format::crc(&b[rec..rec + 60]);
    b[rec + 60..rec + 64].copy_from_slice(&c.to_le_bytes());
    check_damaged(SEALED, &b, &all, "u32::MAX lengths");
}
