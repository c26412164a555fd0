//! The golden segments of `formats/golden/`: written by `scripts/make-golden.sh` (through
//! `examples/make_golden.rs`) and rewritten by `tests/golden.rs`, which checks that the
//! committed files are byte-identical to what this code writes today.
//!
//! Everything is fixed — frames from the simulated sky's `tiny` preset with seed 7, salts,
//! run id and times — so the same nightcap writes the same bytes. The files are read by
//! `tests/golden.rs`; `golden/README.md` lists each frame's seq, time and the CRC-32C of
//! its decoded bytes so readers in other languages can check themselves.

use std::fmt::Write as _;
use std::path::Path;

use nightcap_frame::{FrameMeta, PixelFormat};
use nightcap_journal::codec::Encoder;
use nightcap_journal::format::{
    crc, FrameStats, Gap, GapReason, Kind, RecordHeader, SegmentHeader, SegmentState,
};
use nightcap_journal::segment::ActiveSegment;
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};

/// 2026-11-30T00:00:00Z
const T0: i64 = 1_795_996_800_000_000_000;
const MIN: i64 = 60_000_000_000;

fn sim() -> SimConfig {
    SimConfig {
        sensor: SensorPreset::Tiny,
        seed: 7,
        start_utc_ns: T0,
        speed: 0.0,
        ..SimConfig::default()
    }
}

fn header(segno: u64, first_seq: u64) -> SegmentHeader {
    SegmentHeader {
        run_id: 0x6e69_6768_7463_6170,
        segno,
        salt: 0x5eed_0000_0000_0000 + segno,
        created_ns: T0 + segno as i64 * MIN,
        first_seq,
        format: SensorPreset::Tiny.format(),
        default_transform: crate::codec::default_transform(&SensorPreset::Tiny.format()).code(),
        default_compression: 1,
        zstd_level: 1,
    }
}

/// The FRAME record of `raw`, a frame of `format`, encoded into `payload`.
fn frame_record(
    format: &PixelFormat,
    meta: &FrameMeta,
    raw: &[u8],
    payload: &mut Vec<u8>,
) -> RecordHeader {
    let spec = Encoder::new(1)
        .encode(format, raw, payload)
        .expect("encodes");
    let codes = (spec.transform.code(), spec.compression.code());
    RecordHeader::frame_record(meta, codes, raw.len(), payload)
}

struct Listing(String);

impl Listing {
    fn frame(&mut self, file: &str, seq: u64, meta: &FrameMeta, raw: &[u8]) {
        let _ = writeln!(
            self.0,
            "| {file} | {seq} | {} | {} | {} | 0x{:08x} |",
            meta.time_utc_ns,
            meta.exposure_us,
            raw.len(),
            crc(raw)
        );
    }
}

fn append_frames(
    seg: &mut ActiveSegment,
    file: &str,
    frames: std::ops::Range<u64>,
    list: &mut Listing,
    measure: Measure,
) {
    let mut raw = Vec::new();
    let mut payload = Vec::new();
    for i in frames {
        let meta = SimSky::render(&sim(), i, &mut raw);
        let h = frame_record(&SensorPreset::Tiny.format(), &meta, &raw, &mut payload);
        let seq = seg.append(h, &payload).expect("append");
        append_stats(seg, seq, &meta, &SensorPreset::Tiny.format(), &raw, measure);
        list.frame(file, seq, &meta, &raw);
    }
}

/// The STATS record of frame `seq` (since 1.2 and 2.1), as a capture writes it: right
/// after its FRAME, with the frame's statistics measured from its bytes.
fn append_stats(
    seg: &mut ActiveSegment,
    seq: u64,
    meta: &FrameMeta,
    format: &PixelFormat,
    raw: &[u8],
    measure: Measure,
) {
    let stats = measure(format, raw).expect("a golden frame measures");
    let payload = stats.encode();
    let h = RecordHeader::meta_record(Kind::Stats, seq, meta.time_utc_ns, &payload, 0);
    seg.append_copy(h, &payload).expect("append");
}

/// The simulated-sky configuration the golden frames come from.
pub fn sim_config() -> SimConfig {
    sim()
}

/// The 16-bit RGB stream of the format 2.0 golden segment: 16x8, stride 104 (8 padding
/// bytes a line), 14 significant bits.
pub fn rgb48_format() -> nightcap_frame::PixelFormat {
    nightcap_frame::PixelFormat {
        fourcc: *b"RGB6",
        width: 16,
        height: 8,
        stride: 104,
        bit_depth: 14,
        cfa: nightcap_frame::Cfa::None,
        packing: nightcap_frame::Packing::Rgb48,
    }
}

/// Sample `k` (R, G, B interleaved) of row `y` of 16-bit RGB golden frame `i`.
pub fn rgb48_sample(i: u64, y: u64, k: u64) -> u16 {
    ((i * 4099 + y * 331 + k * 997 + 5) % 16_384) as u16
}

/// The bytes of 16-bit RGB golden frame `i`, line padding zero.
pub fn rgb48_frame(i: u64) -> Vec<u8> {
    let f = rgb48_format();
    let mut raw = Vec::new();
    for y in 0..u64::from(f.height) {
        for k in 0..3 * u64::from(f.width) {
            raw.extend_from_slice(&rgb48_sample(i, y, k).to_le_bytes());
        }
        raw.resize(raw.len() + (f.stride - 6 * f.width) as usize, 0);
    }
    raw
}

/// Writes the format 2.1 golden segment (16-bit RGB: the packing 2.0 adds) into `dir`:
/// sealed, 3 frames, each followed by its STATS record.
fn write_rgb48(dir: &Path, list: &mut Listing, measure: Measure) {
    std::fs::create_dir_all(dir).expect("create golden 2.1 dir");
    let f = rgb48_format();
    let mut h = header(0, 0);
    h.format = f;
    h.default_transform = crate::codec::default_transform(&f).code();
    let name =
        nightcap_journal::format::SegmentName::file_name(0, h.created_ns, SegmentState::Sealed);
    let path = dir.join(&name);
    if path.exists() {
        std::fs::remove_file(&path).expect("remove old golden file");
    }
    let mut seg = ActiveSegment::create(dir, h, 32 * 1024).expect("create");
    let mut payload = Vec::new();
    for i in 0..3u64 {
        let raw = rgb48_frame(i);
        let meta = FrameMeta {
            time_utc_ns: T0 + i as i64 * 5_000_000_000,
            exposure_us: 5_000_000,
            gain_milli: 1000,
            driver_seq: i as u32,
            ..FrameMeta::default()
        };
        let rec = frame_record(&f, &meta, &raw, &mut payload);
        let seq = seg.append(rec, &payload).expect("append");
        append_stats(&mut seg, seq, &meta, &f, &raw, measure);
        list.frame(&format!("2.1/{name}"), seq, &meta, &raw);
    }
    seg.seal(T0 + MIN / 2).expect("seal");
}

/// How a frame's statistics are measured: `nightcap_stack::stats::measure` (passed in,
/// so this kit, and the fuzz target built on it, need not build the stacker).
pub type Measure = fn(&PixelFormat, &[u8]) -> Option<FrameStats>;

/// Writes the golden segments and their README into `dir`, replacing old ones, their
/// STATS records measured by `measure`.
///
/// # Panics
/// On I/O errors: this is a developer tool.
pub fn write(dir: &Path, measure: Measure) {
    std::fs::create_dir_all(dir).expect("create golden dir");
    for e in std::fs::read_dir(dir).expect("list golden dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "seg" || x == "active") {
            std::fs::remove_file(p).expect("remove old golden file");
        }
    }
    let mut list = Listing(String::new());

    // 1. Sealed: a NOTE and 6 frames.
    // The names listed are the files' own (they were once written by hand, and wrong).
    let file = |segno: u64, state| {
        nightcap_journal::format::SegmentName::file_name(segno, header(segno, 0).created_ns, state)
    };
    let name = &file(0, SegmentState::Sealed);
    let mut seg = ActiveSegment::create(dir, header(0, 0), 64 * 1024).expect("create");
    let note = b"source=golden: simulated sky, tiny preset, seed 7";
    seg.append(RecordHeader::meta_record(Kind::Note, 0, T0, note, 0), note)
        .expect("append");
    append_frames(&mut seg, name, 0..6, &mut list, measure);
    seg.seal(T0 + MIN / 2).expect("seal");

    // 2. Active, never sealed: 3 frames, then zeroed preallocated space.
    let name = &file(1, SegmentState::Active);
    let mut seg = ActiveSegment::create(dir, header(1, 6), 32 * 1024).expect("create");
    append_frames(&mut seg, name, 6..9, &mut list, measure);
    drop(seg);

    // 3. Sealed with a GAP: frames 12 and 13 were missed (camera timeout).
    let name = &file(2, SegmentState::Sealed);
    let mut seg = ActiveSegment::create(dir, header(2, 9), 64 * 1024).expect("create");
    append_frames(&mut seg, name, 9..12, &mut list, measure);
    let c = sim();
    let gap = Gap {
        count: 2,
        start_ns: c.frame_meta(12).time_utc_ns,
        end_ns: c.frame_meta(14).time_utc_ns,
        reason: GapReason::Timeout,
        text: "camera timed out twice".into(),
    };
    let payload = gap.encode();
    seg.append(
        RecordHeader::meta_record(Kind::Gap, 0, gap.start_ns, &payload, 0),
        &payload,
    )
    .expect("append");
    let mut raw = Vec::new();
    let mut stored = Vec::new();
    for i in 14..16 {
        let meta = SimSky::render(&sim(), i, &mut raw);
        let h = frame_record(&SensorPreset::Tiny.format(), &meta, &raw, &mut stored);
        let seq = seg.append(h, &stored).expect("append");
        append_stats(
            &mut seg,
            seq,
            &meta,
            &SensorPreset::Tiny.format(),
            &raw,
            measure,
        );
        list.frame(name, seq, &meta, &raw);
    }
    seg.seal(T0 + 3 * MIN).expect("seal");

    // 4. Format 2.1, a journal of its own: 16-bit RGB, the packing 2.0 adds.
    write_rgb48(&dir.join("2.1"), &mut list, measure);

    let readme = format!(
        "# Golden segments\n\nMade by `scripts/make-golden.sh` (`cargo run --example make_golden`); read by\n\
         `tests/golden.rs`. Do not edit by hand: a change of the format or of the default codec\n\
         regenerates them in the same commit as the spec.\n\n\
         Format 1.2: each segment opens with a padding NOTE and a NOTE holding a copy of its\n\
         header (offset 512); the sealed ones repeat the copy before the footer. Each FRAME is\n\
         followed by its STATS record (kind 5): the frame's statistics and keogram column as\n\
         `nightcap_stack::stats::measure` gives them for the decoded frame.\n\
         Stream: 64x48, fourcc `pRCC`, CSI-2 RAW12, RGGB, stride 128 (32 padding bytes per line).\n\
         Frames: the simulated sky's `tiny` preset, seed 7, 5 s exposures at gain 4.\n\n\
         `00000001-...active` is an active segment (no footer): a reader returns its 3 frames\n\
         as the valid prefix. `00000002-...seg` holds a GAP record (2 frames missed, camera\n\
         timeout) between seq 11 and seq 12.\n\n\
         `2.1/` is a journal of its own in format 2.1 (2.0, the first version with the 16-bit\n\
         RGB packing, code 7, plus STATS records): 3 frames of 16x8 `RGB6`, 14 significant\n\
         bits, stride 104 (8 padding bytes a line); sample `k` (R, G, B interleaved) of row `y`\n\
         of frame `i` is `(4099 i + 331 y + 997 k + 5) mod 16384`.\n\n\
         | file | seq | time_ns (UTC) | exposure_us | raw bytes | CRC-32C of decoded bytes |\n\
         |---|---|---|---|---|---|\n{}",
        list.0
    );
    std::fs::write(dir.join("README.md"), readme).expect("write README");
}
