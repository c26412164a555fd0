//! The golden segments of `formats/golden/`: the code still writes them byte for byte, the
//! reader returns exactly their frames, and hostile versions of them (the corruption
//! matrix: every truncation, exhaustive bit flips over header, footer and trailer and
//! 10,000 random ones elsewhere, zeroed runs, garbage, duplicated, swapped and stale
//! records, u32::MAX lengths, zstd frames declaring huge sizes) never make it panic,
//! never return a wrong frame, report every loss with an offset, and never cost more
//! memory than two frames beyond reading the intact segment.
//!
//! Damaged copies are read from memory (`Journal::from_memory`), which reads exactly as
//! from a file (checked by `a_journal_in_memory_reads_like_the_directory`), so the matrix
//! costs seconds rather than a temporary directory per case.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use nightcap_journal::codec::Decoder;
use nightcap_journal::format::{
    GapReason, IndexEntry, Kind, RecordHeader, SegmentName, HEADER_LEN, RECORD_HEADER_LEN,
};
use nightcap_journal::Journal;
use nightcap_source::sim::SimSky;

/// Counts this thread's live heap bytes and their peak, so a test can bound the memory a
/// damaged segment costs (other test threads do not disturb it).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn note_free(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: forwards to the system allocator unchanged; the bookkeeping only touches
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        note_free(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes of this thread while `f` runs, above what was live when it started.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    (out, PEAK.with(Cell::get) - start)
}

const SEALED: &str = "00000000-20261130T000000Z.seg";
const ACTIVE: &str = "00000001-20261130T000100Z.active";
const WITH_GAP: &str = "00000002-20261130T000200Z.seg";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("formats/golden")
}

/// The frame the simulated sky rendered for golden frame `index` (rendered once).
fn expected(index: u64) -> Vec<u8> {
    static CACHE: OnceLock<Mutex<HashMap<u64, Vec<u8>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(index)
        .or_insert_with(|| {
            let mut buf = Vec::new();
            SimSky::render(&nightcap_testkit::golden::sim_config(), index, &mut buf);
            buf
        })
        .clone()
}

/// Sim frame index of each golden seq (seq 12 and 13 are frames 14 and 15: 12, 13 were missed).
fn index_of_seq(seq: u64) -> u64 {
    if seq >= 12 {
        seq + 2
    } else {
        seq
    }
}

type Salvaged = (Vec<(u64, Vec<u8>)>, Vec<nightcap_journal::Damage>);

/// (seq, bytes) of every frame that reads, and the problems reported.
fn salvage(dir: &Path) -> Salvaged {
    match Journal::open(dir) {
        Ok(j) => read_all(&j),
        Err(_) => (Vec::new(), vec![]),
    }
}

/// [`salvage`] of a one-segment journal held in memory: `None` if it does not open.
fn salvage_bytes(name: &str, bytes: &[u8]) -> Option<Salvaged> {
    let seg = SegmentName::parse(name).unwrap();
    let j = Journal::from_memory(Path::new("damaged"), vec![(seg, bytes.to_vec())]).ok()?;
    let header_ok = !j.segments.is_empty();
    let (frames, damage) = read_all(&j);
    header_ok.then_some((frames, damage))
}

fn read_all(j: &Journal) -> Salvaged {
    let mut damage = j.all_damage();
    let mut dec = Decoder::new();
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    for r in j.frames() {
        match j.read_frame(&r, &mut dec, &mut scratch) {
            Ok(f) => out.push((f.meta.seq, f.data)),
            Err(nightcap_journal::reader::ReadError::Damaged(d)) => damage.push(d),
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
    nightcap_testkit::golden::write(fresh.path(), nightcap_stack::stats::measure);
    let rgb48 = format!("2.1/{SEALED}");
    for name in [SEALED, ACTIVE, WITH_GAP, "README.md", rgb48.as_str()] {
        let committed = fs::read(golden_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = fs::read(fresh.path().join(name)).unwrap();
        assert!(
            committed == written,
            "{name} differs from what the code writes now: if the format or codec changed on purpose, \
             run scripts/make-golden.sh and update formats/ in the same commit"
        );
    }
}

/// The format 2.0 golden segment (16-bit RGB, the packing 2.0 adds): version 2.0 in its
/// header, and every frame decodes to the samples its README defines.
#[test]
fn format_2_0_rgb48_segment_reads_back_exactly() {
    use nightcap_testkit::golden::{rgb48_format, rgb48_frame, rgb48_sample};
    let dir = golden_dir().join("2.0");
    let bytes = fs::read(dir.join(SEALED)).unwrap();
    assert_eq!(
        (bytes[8], bytes[9], bytes[10], bytes[11]),
        (2, 0, 0, 0),
        "version 2.0"
    );
    let (frames, damage) = salvage(&dir);
    assert!(damage.is_empty(), "{damage:?}");
    assert_eq!(frames.len(), 3);
    let f = rgb48_format();
    for (seq, data) in &frames {
        assert_eq!(data, &rgb48_frame(*seq), "seq {seq}");
        let img = nightcap_frame::pixels::to_image16(&f, data).unwrap();
        assert_eq!((img.width, img.height, img.channels), (16, 8, 3));
        for (i, v) in img.data.iter().enumerate() {
            let (y, k) = (i as u64 / 48, i as u64 % 48);
            assert_eq!(*v, rgb48_sample(*seq, y, k), "seq {seq} row {y} sample {k}");
        }
    }
    let j = Journal::open(&dir).unwrap();
    assert_eq!(j.segments[0].header.format, f);
}

/// Reads the golden journal in `dir` (of any format version): every one of its 14
/// frames back exactly, no damage. Returns it opened.
fn reads_back_every_golden_frame(dir: &Path) -> Journal {
    let (frames, damage) = salvage(dir);
    assert!(damage.is_empty(), "{damage:?}");
    let seqs: Vec<u64> = frames.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..14).collect::<Vec<_>>());
    for (seq, data) in &frames {
        assert_eq!(data, &expected(index_of_seq(*seq)), "seq {seq}");
    }
    Journal::open(dir).unwrap()
}

/// Format 1.0 segments (before the header copies), kept as they were written: old
/// journals stay readable, frame for frame, through the footer.
#[test]
fn format_1_0_segments_still_read_back_exactly() {
    let old = golden_dir().join("1.0");
    let j = reads_back_every_golden_frame(&old);
    assert!(j.segments.iter().all(|s| s.records[0].offset == 256));
    use nightcap_journal::reader::OpenedBy;
    let opened: Vec<OpenedBy> = j.segments.iter().map(|s| s.opened_by).collect();
    assert_eq!(
        opened,
        vec![OpenedBy::Footer, OpenedBy::Prefix, OpenedBy::Footer]
    );
}

/// Format 1.1 segments (before STATS records), kept as they were written: they read
/// frame for frame, and their frames' statistics are measured on demand instead.
#[test]
fn format_1_1_segments_still_read_back_exactly() {
    let old = golden_dir().join("1.1");
    let j = reads_back_every_golden_frame(&old);
    let bytes = fs::read(old.join(SEALED)).unwrap();
    assert_eq!((bytes[8], bytes[10]), (1, 1), "version 1.1");
    assert!(j.frames().iter().all(|r| j.stats(r).is_none()));
}

/// Every golden frame of format 1.2 and 2.1 is followed by its STATS record, whose
/// figures are exactly what measuring the decoded frame gives (what a reader of a 1.1
/// journal computes instead).
#[test]
fn golden_stats_records_hold_each_frames_measured_statistics() {
    for dir in [golden_dir(), golden_dir().join("2.1")] {
        let j = Journal::open(&dir).unwrap();
        let bytes = fs::read(dir.join(SEALED)).unwrap();
        assert_eq!(
            (bytes[8], bytes[10]),
            if dir.ends_with("2.1") { (2, 1) } else { (1, 2) },
            "version of {}",
            dir.display()
        );
        let frames = j.frames();
        assert!(!frames.is_empty());
        for r in &frames {
            let stored = j
                .stats(r)
                .unwrap_or_else(|| panic!("{}: seq {} has no STATS", dir.display(), r.entry.seq));
            let f = j
                .read_frame(r, &mut Decoder::new(), &mut Vec::new())
                .unwrap();
            let img = nightcap_frame::pixels::to_image16(&f.format, &f.data).unwrap();
            assert_eq!(
                stored,
                nightcap_stack::stats::measure_image(&img),
                "seq {}",
                r.entry.seq
            );
            assert!(stored.column_rows() > 0);
        }
    }
}

#[test]
fn the_golden_journal_reads_back_exactly() {
    let j = reads_back_every_golden_frame(&golden_dir());
    let (gaps, _) = j.gaps();
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].count, gaps[0].reason), (2, GapReason::Timeout));
    use nightcap_journal::reader::OpenedBy;
    let opened: Vec<OpenedBy> = j.segments.iter().map(|s| s.opened_by).collect();
    assert_eq!(
        opened,
        vec![OpenedBy::Footer, OpenedBy::Prefix, OpenedBy::Footer]
    );
}

#[test]
fn a_journal_in_memory_reads_like_the_directory() {
    use nightcap_journal::format::SegmentName;
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

/// Largest raw frame of the golden segments.
fn frame_bytes() -> usize {
    expected(0).len()
}

/// Heap peak of reading the intact `name` (the baseline damaged copies are held to).
fn intact_peak(name: &str) -> usize {
    static PEAKS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    let peaks = PEAKS.get_or_init(Default::default);
    let mut map = peaks.lock().unwrap_or_else(|e| e.into_inner());
    *map.entry(name.to_string()).or_insert_with(|| {
        let bytes = intact_bytes(name);
        peak_during(|| salvage_bytes(name, &bytes)).1
    })
}

/// The intact bytes behind `name`: a golden file, or for [`ACTIVE_OF_SEALED`] the sealed
/// golden segment's records without footer and trailer.
fn intact_bytes(name: &str) -> Vec<u8> {
    if name == ACTIVE_OF_SEALED {
        let (bytes, spans) = record_spans(SEALED);
        let end = spans.last().map_or(HEADER_LEN, |(_, r)| r.end);
        return bytes[..end].to_vec();
    }
    fs::read(golden_dir().join(name)).unwrap()
}

/// Checks a damaged copy: only right frames, lost frames are reported with an offset, and
/// reading it costs at most two frames (plus its own extra length) more heap than reading
/// the intact segment. Returns how many frames it yielded.
fn check_damaged(name: &str, bytes: &[u8], all: &[u64], what: &str) -> usize {
    let baseline = intact_peak(name);
    let (salvaged, peak) = peak_during(|| salvage_bytes(name, bytes));
    let intact_len = intact_bytes(name).len();
    let allowance = baseline + 2 * frame_bytes() + 2 * bytes.len().saturating_sub(intact_len);
    assert!(
        peak <= allowance,
        "{what}: reading cost {peak} bytes of heap, allowed {allowance}"
    );
    let Some((frames, damage)) = salvaged else {
        return 0;
    };
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
        assert!(!damage.is_empty(), "{what}: frames lost without a report");
    }
    frames.len()
}

fn seqs_in(name: &str) -> Vec<u64> {
    let (frames, _) = salvage(&with_file(name, &fs::read(golden_dir().join(name)).unwrap()).keep());
    frames.iter().map(|(s, _)| *s).collect()
}

#[test]
#[ignore = "corruption matrix: run with `cargo test -- --include-ignored`, as CI does"]
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
#[ignore = "corruption matrix: run with `cargo test -- --include-ignored`, as CI does"]
fn bit_flips_in_golden_segments_cost_at_most_one_frame() {
    for name in [SEALED, WITH_GAP] {
        let bytes = fs::read(golden_dir().join(name)).unwrap();
        let all = seqs_in(name);
        let n = bytes.len() * 8;
        // Exhaustive over the header and the last 2 KiB (footer and trailer); 10,000 random
        // bits elsewhere.
        let tail_from = (bytes.len().saturating_sub(2048)) * 8;
        let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ n as u64;
        let mut random_bit = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            HEADER_LEN * 8 + (rng % (tail_from - HEADER_LEN * 8) as u64) as usize
        };
        let bits: Vec<usize> = (0..HEADER_LEN * 8)
            .chain((0..10_000).map(|_| random_bit()))
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
    let c = nightcap_journal::format::crc(&b[rec..rec + 60]);
    b[rec + 60..rec + 64].copy_from_slice(&c.to_le_bytes());
    check_damaged(SEALED, &b, &all, "u32::MAX lengths");
}

/// The golden `name`'s bytes, its header, and the byte span of every record in file order.
fn record_spans(name: &str) -> (Vec<u8>, Vec<(IndexEntry, std::ops::Range<usize>)>) {
    let bytes = fs::read(golden_dir().join(name)).unwrap();
    let j = Journal::open(&golden_dir()).unwrap();
    let seg = j
        .segments
        .iter()
        .find(|s| s.path.file_name().unwrap() == name)
        .unwrap();
    let ends = seg
        .records
        .iter()
        .skip(1)
        .map(|e| e.offset)
        .chain([seg.valid_end]);
    let spans = seg
        .records
        .iter()
        .zip(ends)
        .map(|(e, end)| (*e, e.offset as usize..end as usize))
        .collect();
    (bytes, spans)
}

/// The bytes of each FRAME record of `spans`, in file order.
fn frame_records<'b>(
    bytes: &'b [u8],
    spans: &[(IndexEntry, std::ops::Range<usize>)],
) -> Vec<&'b [u8]> {
    spans
        .iter()
        .filter(|(e, _)| e.kind == Kind::Frame)
        .map(|(_, r)| &bytes[r.clone()])
        .collect()
}

/// An active segment (no footer) with the segment header of `SEALED` and these records.
fn active_of(header_from: &[u8], records: &[&[u8]]) -> Vec<u8> {
    let mut out = header_from[..HEADER_LEN].to_vec();
    for r in records {
        out.extend_from_slice(r);
    }
    out
}

/// A record whose header fields are changed by `edit` and whose payload is `payload`,
/// with both CRCs valid again: the worst case for the length and size checks, which must
/// hold even when no checksum catches the damage. (A forged seq or timestamp with valid
/// CRCs is indistinguishable from a real frame and is not part of the matrix.)
fn forged(record: &[u8], payload: &[u8], edit: impl FnOnce(&mut RecordHeader)) -> Vec<u8> {
    let seg = nightcap_journal::format::SegmentHeader::decode(
        &fs::read(golden_dir().join(SEALED)).unwrap()[..HEADER_LEN],
    )
    .unwrap();
    let mut h = RecordHeader::decode(&record[..RECORD_HEADER_LEN], &seg, u64::MAX >> 1).unwrap();
    h.stored_len = payload.len() as u32;
    h.payload_crc = nightcap_journal::format::crc(payload);
    edit(&mut h);
    let mut out = h.encode().to_vec();
    out.extend_from_slice(payload);
    out.resize(out.len().div_ceil(64) * 64, 0);
    out
}

#[test]
fn duplicated_swapped_and_stale_records_never_yield_wrong_frames() {
    let (bytes, spans) = record_spans(SEALED);
    let frames = frame_records(&bytes, &spans);
    assert!(frames.len() >= 5, "the golden segment has too few frames");
    let (other, other_spans) = record_spans(WITH_GAP);
    let (stale_entry, stale_span) = other_spans
        .iter()
        .find(|(e, _)| e.kind == Kind::Frame)
        .unwrap();
    let stale = &other[stale_span.clone()];
    let all: Vec<u64> = (0..frames.len() as u64).collect();
    let active = ACTIVE_OF_SEALED;
    let cases: Vec<(&str, Vec<&[u8]>)> = vec![
        (
            "a record duplicated",
            vec![frames[0], frames[1], frames[1], frames[2]],
        ),
        (
            "two records swapped",
            vec![frames[0], frames[2], frames[1], frames[3]],
        ),
        (
            "a stale record of another segment",
            vec![frames[0], stale, frames[1]],
        ),
        (
            "records replayed from the start",
            vec![frames[0], frames[1], frames[0], frames[1]],
        ),
    ];
    for (what, records) in cases {
        let b = active_of(&bytes, &records);
        check_damaged(active, &b, &all, what);
        let (got, damage) = salvage_bytes(active, &b).unwrap();
        let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        let mut unique = seqs.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seqs.len(),
            "{what}: a frame returned twice: {seqs:?}"
        );
        assert!(
            !seqs.contains(&stale_entry.seq) || stale_entry.seq < frames.len() as u64,
            "{what}: the stale record was returned"
        );
        if records.len() > got.len() {
            assert!(
                !damage.is_empty(),
                "{what}: records dropped without a report"
            );
        }
    }
}

/// The `.active` name of the sealed golden segment (same number and stamp).
const ACTIVE_OF_SEALED: &str = "00000000-20261130T000000Z.active";

/// A zstd frame with a content checksum whose header declares `declared` bytes of content
/// but which holds one raw block of 16 bytes.
fn zstd_claiming(declared: u64) -> Vec<u8> {
    let mut z = vec![0x28, 0xB5, 0x2F, 0xFD];
    z.push(0xE4); // 8-byte content size, single segment, checksum
    z.extend_from_slice(&declared.to_le_bytes());
    let block = 16u32;
    let bh = (block << 3) | 1; // last block, raw
    z.extend_from_slice(&bh.to_le_bytes()[..3]);
    z.extend_from_slice(&[7u8; 16]);
    z.extend_from_slice(&[0u8; 4]);
    z
}

#[test]
fn forged_lengths_and_huge_zstd_frames_fail_without_allocating() {
    let (bytes, spans) = record_spans(SEALED);
    let frames = frame_records(&bytes, &spans);
    let all: Vec<u64> = (0..3).collect();
    let payload_of = |r: &[u8]| {
        let len = u32::from_le_bytes(r[8..12].try_into().unwrap()) as usize;
        r[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len].to_vec()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a zstd frame declaring 1 TiB",
            forged(frames[1], &zstd_claiming(1 << 40), |_| {}),
        ),
        (
            "a zstd frame declaring u64::MAX",
            forged(frames[1], &zstd_claiming(u64::MAX), |_| {}),
        ),
        (
            "raw_len u32::MAX",
            forged(frames[1], &payload_of(frames[1]), |h| h.raw_len = u32::MAX),
        ),
        (
            "raw_len one byte short",
            forged(frames[1], &payload_of(frames[1]), |h| h.raw_len -= 1),
        ),
    ];
    for (what, record) in cases {
        let b = active_of(&bytes, &[frames[0], &record, frames[2]]);
        check_damaged(ACTIVE_OF_SEALED, &b, &all, what);
        let (got, damage) = salvage_bytes(ACTIVE_OF_SEALED, &b).unwrap();
        let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        assert!(
            seqs.contains(&0),
            "{what}: the intact frame before was lost"
        );
        assert!(
            !seqs.contains(&1),
            "{what}: the forged record was returned as frame 1"
        );
        assert!(!damage.is_empty(), "{what}: not reported");
    }
}
