//! `verify` and `repair` as a user runs them on a damaged journal: they agree, repair
//! never destroys what it keeps, running it again is safe, and one damaged header byte
//! costs no frame.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{printed, run};

/// A simulated journal of `frames` tiny frames in 64 KiB segments (about 20 a segment).
fn sim_journal(dir: &Path, frames: u32) {
    support::sim_capture(&[
        "--sim-sensor",
        "tiny",
        "--frames",
        &frames.to_string(),
        "--segment-size",
        "64K",
        "--reserve",
        "0",
        "--journal",
        dir.to_str().unwrap(),
    ]);
}

/// The segment file at `path`, opened as its name says.
fn open_segment(path: &Path) -> nightcap_journal::Segment {
    let name =
        nightcap_journal::format::SegmentName::parse(path.file_name().unwrap().to_str().unwrap())
            .unwrap();
    nightcap_journal::Segment::open(path, name).unwrap()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg" || e == "active"))
        .collect();
    v.sort();
    v
}

fn code(args: &[&str]) -> (i32, String) {
    let out = run(args);
    (out.status.code().unwrap_or(-1), printed(&out))
}

fn poke(path: &Path, at: usize, f: impl Fn(u8) -> u8) {
    let mut b = fs::read(path).unwrap();
    b[at] = f(b[at]);
    fs::write(path, b).unwrap();
}

/// Copies every regular file of `from` into a fresh `to`.
fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn repair_twice_keeps_every_original_and_verify_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    sim_journal(&j, 40);
    let js = j.to_str().unwrap();
    let seg0 = segments(&j)[0].clone();
    // A damaged frame payload in a sealed segment.
    poke(&seg0, 5000, |b| !b);
    let (c, text) = code(&["verify", js]);
    assert_eq!(c, 3, "{text}");
    assert!(text.contains("repair would rewrite"), "{text}");

    let (c, text) = code(&["repair", js]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("1 frame set aside"), "{text}");
    let kept = PathBuf::from(format!("{}.damaged", seg0.display()));
    let original = fs::read(&kept).unwrap();

    // Clean now, and it says what was kept; a second repair does nothing.
    let (c, text) = code(&["verify", js]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("kept by an earlier repair"), "{text}");
    let (c, text) = code(&["repair", js]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("nothing to repair"), "{text}");
    assert_eq!(
        fs::read(&kept).unwrap(),
        original,
        "the kept original changed"
    );

    let i = support::info_json(&j);
    assert_eq!(i["frames"], 39);
    assert_eq!(i["last_seq"], 39);
    let gaps = i["gaps"].as_array().unwrap();
    assert!(
        gaps.iter()
            .any(|g| g["reason"] == "set-aside" && g["count"] == 1),
        "{gaps:?}"
    );

    // New damage in the rewritten segment: a second original is kept beside the first.
    poke(&seg0, 9000, |b| !b);
    let (c, text) = code(&["repair", js]);
    assert_eq!(c, 0, "{text}");
    assert_eq!(
        fs::read(&kept).unwrap(),
        original,
        "the first original changed"
    );
    assert!(PathBuf::from(format!("{}.damaged.2", seg0.display())).exists());
    assert_eq!(code(&["verify", js]).0, 0);
    assert_eq!(support::info_json(&j)["frames"], 38);
}

#[test]
#[ignore = "corruption matrix (every header bit): run with `cargo test -- --include-ignored`, as CI does"]
fn a_damaged_header_byte_costs_no_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    sim_journal(&clean, 60);
    let segs = segments(&clean);
    assert!(segs.len() >= 3, "{segs:?}");
    let middle = segs[1].file_name().unwrap().to_owned();
    let j = tmp.path().join("j");
    let mut lost_total = 0;
    for byte in 0..256usize {
        copy_dir(&clean, &j);
        poke(&j.join(&middle), byte, |b| b ^ (1 << (byte % 8)));
        let js = j.to_str().unwrap();
        let (c, text) = code(&["repair", js]);
        assert_eq!(c, 0, "byte {byte}: {text}");
        let (c, text) = code(&["verify", js]);
        assert_eq!(c, 0, "byte {byte}: {text}");
        lost_total += 60 - support::info_json(&j)["frames"].as_u64().unwrap();
    }
    assert_eq!(lost_total, 0, "frames lost over 256 header bit flips");
}

#[test]
fn a_zeroed_header_in_a_crashed_active_segment_costs_no_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    sim_journal(&j, 30);
    // Make the last segment look like a crashed capture's: unsealed, its header zeroed.
    let last = segments(&j).pop().unwrap();
    let frames_before = support::info_json(&j)["frames"].as_u64().unwrap();
    let sealed = support::info_json(&j)["segments"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["frames"]
        .as_u64()
        .unwrap();
    assert!(sealed > 0);
    let active = last.with_extension("active");
    // An active segment has no footer: cut it at the footer's offset (the valid prefix
    // of records stays), then zero its header.
    let seg = open_segment(&last);
    let mut bytes = fs::read(&last).unwrap();
    bytes.truncate(seg.valid_end as usize);
    bytes.resize(seg.valid_end as usize + 4096, 0);
    bytes[..256].fill(0);
    fs::remove_file(&last).unwrap();
    fs::write(&active, bytes).unwrap();

    // The next capture recovers it: the frames stay, numbering continues after them.
    let js = j.to_str().unwrap();
    let out = run(&[
        "capture",
        "--source",
        "sim",
        "--sim-sensor",
        "tiny",
        "--sim-speed",
        "0",
        "--frames",
        "3",
        "-d",
        "0",
        "--segment-size",
        "64K",
        "--reserve",
        "0",
        "--journal",
        js,
    ]);
    assert!(out.status.success(), "{}", printed(&out));
    assert!(
        printed(&out).contains("rebuilt from its records"),
        "{}",
        printed(&out)
    );
    let i = support::info_json(&j);
    assert_eq!(i["frames"].as_u64().unwrap(), frames_before + 3);
    assert_eq!(i["last_seq"].as_u64().unwrap(), frames_before + 2);
    let (c, text) = code(&["verify", js]);
    assert_eq!(c, 0, "{text}");
}

/// Rewrites the footer of the sealed segment `path` with `edit` applied to its index,
/// checksums and trailer made valid again: a footer that lies consistently.
fn forge_footer(path: &Path, edit: impl Fn(&mut Vec<nightcap_journal::format::IndexEntry>)) {
    use nightcap_journal::format::{encode_footer, Kind, RecordHeader, Trailer, RECORD_HEADER_LEN};
    let seg = open_segment(path);
    let salt = seg.header.salt_lo();
    let footer_offset = seg.valid_end;
    let mut entries = seg.records.clone();
    edit(&mut entries);
    let footer = encode_footer(&entries);
    let next_seq = entries.iter().map(|e| e.seq + 1).max().unwrap_or(0);
    let fh = RecordHeader::meta_record(Kind::Footer, next_seq, 0, &footer, salt);
    let mut bytes = fs::read(path).unwrap();
    bytes.truncate(footer_offset as usize);
    bytes.extend_from_slice(&fh.encode());
    bytes.extend_from_slice(&footer);
    bytes.resize(fh.next_offset(footer_offset) as usize, 0);
    let trailer = Trailer {
        footer_offset,
        entry_count: entries.len() as u64,
        salt_lo: salt,
    };
    bytes.extend_from_slice(&trailer.encode());
    assert!(bytes.len() > RECORD_HEADER_LEN);
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_footer_that_lies_is_caught_and_no_frame_is_lost() {
    use nightcap_journal::format::Kind;
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    sim_journal(&j, 20);
    let seg = segments(&j)[0].clone();
    let js = j.to_str().unwrap();
    // A footer that leaves out an intact frame.
    forge_footer(&seg, |e| {
        let i = e
            .iter()
            .position(|x| x.kind == Kind::Frame && x.seq == 7)
            .unwrap();
        e.remove(i);
    });
    assert_eq!(
        support::info_json(&j)["frames"],
        20,
        "a frame the footer left out was lost"
    );
    let (c, text) = code(&["verify", js]);
    assert_eq!(c, 3, "{text}");
    assert!(
        text.contains("bad footer index; scanning instead"),
        "{text}"
    );
    // Repair rewrites it; every frame stays.
    assert_eq!(code(&["repair", js]).0, 0);
    assert_eq!(code(&["verify", js]).0, 0);
    assert_eq!(support::info_json(&j)["frames"], 20);

    // A footer entry pointing at the wrong place.
    let seg = segments(&j)[0].clone();
    forge_footer(&seg, |e| {
        let i = e
            .iter()
            .position(|x| x.kind == Kind::Frame && x.seq == 3)
            .unwrap();
        e[i].offset += 64;
    });
    assert_eq!(support::info_json(&j)["frames"], 20);
    assert_eq!(code(&["verify", js]).0, 3);
}

#[test]
fn a_zeroed_first_sector_of_a_lone_segment_costs_no_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    sim_journal(&j, 12);
    let segs = segments(&j);
    assert_eq!(
        segs.len(),
        1,
        "one segment: no neighbour to borrow a header from"
    );
    let js = j.to_str().unwrap();

    // Sealed: the header and the first sector gone; the copies rebuild it.
    let mut bytes = fs::read(&segs[0]).unwrap();
    bytes[..512].fill(0);
    fs::write(&segs[0], &bytes).unwrap();
    let (c, text) = code(&["repair", js]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("with a rebuilt header"), "{text}");
    assert_eq!(code(&["verify", js]).0, 0);
    assert_eq!(support::info_json(&j)["frames"], 12);

    // Active (a crashed capture, no footer): the copy at offset 512 survives.
    let seg = segments(&j)[0].clone();
    let end = open_segment(&seg).valid_end as usize;
    let mut bytes = fs::read(&seg).unwrap();
    bytes.truncate(end);
    bytes.resize(end + 4096, 0);
    bytes[..512].fill(0);
    fs::remove_file(&seg).unwrap();
    fs::write(seg.with_extension("active"), bytes).unwrap();
    let (c, text) = code(&["repair", js]);
    assert_eq!(c, 0, "{text}");
    assert_eq!(code(&["verify", js]).0, 0);
    assert_eq!(support::info_json(&j)["frames"], 12);
}

/// A damaged frame in one segment and a damaged header in the next: repair rebuilds the
/// header before rewriting the segment before it, so that rewrite sets aside only its
/// own damaged frame (it once took the next readable segment's first seq and set aside
/// every frame of the segment between as "missing", then could not fix the overlap).
#[test]
fn a_damaged_frame_before_a_damaged_header_costs_one_frame() {
    use nightcap_journal::format::Kind;
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    sim_journal(&j, 40);
    let segs = segments(&j);
    assert!(segs.len() >= 3);
    let frame = open_segment(&segs[0])
        .records
        .iter()
        .filter(|e| e.kind == Kind::Frame)
        .nth(2)
        .copied()
        .unwrap();
    poke(&segs[0], frame.offset as usize + 64 + 40, |b| !b);
    poke(&segs[1], 100, |b| b ^ 0x10);
    let js = j.to_str().unwrap();
    let (c, text) = code(&["repair", js]);
    assert_eq!(c, 0, "{text}");
    assert!(text.contains("1 frame set aside"), "{text}");
    assert!(!text.contains("cannot fix"), "{text}");
    assert_eq!(code(&["verify", js]).0, 0);
    let info = support::info_json(&j);
    assert_eq!(info["frames"], 39);
    // The rewritten segments keep each kept frame's STATS record.
    assert_eq!(info["frames_measured"], 39);
}

/// Repair killed at random moments, then run again: every kept original is byte for byte
/// one of the damaged files (never a repair's output), and the journal ends as one
/// uninterrupted repair leaves it. `NIGHTCAP_REPAIR_KILLS=N` runs more trials.
#[test]
fn repair_killed_and_rerun_never_overwrites_an_original() {
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let damaged = tmp.path().join("damaged");
    sim_journal(&damaged, 60);
    let segs = segments(&damaged);
    assert!(segs.len() >= 3);
    poke(&segs[0], 5000, |b| !b);
    poke(&segs[1], 7000, |b| !b);
    poke(&segs[2], 100, |b| b ^ 0x10);
    let originals: Vec<Vec<u8>> = segs.iter().map(|p| fs::read(p).unwrap()).collect();

    let reference = tmp.path().join("reference");
    copy_dir(&damaged, &reference);
    assert_eq!(code(&["repair", reference.to_str().unwrap()]).0, 0);
    let want_frames = support::info_json(&reference)["frames"].clone();

    let trials = support::campaign_size("NIGHTCAP_REPAIR_KILLS", 30);
    let mut rng = support::Rng(0x5eed);
    let mut kept_checked = 0;
    for trial in 0..trials {
        let j = tmp.path().join(format!("t{trial}"));
        copy_dir(&damaged, &j);
        let mut child = support::nightcap()
            .args(["repair", j.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(rng.range(0, 40_000)));
        let _ = child.kill();
        let _ = child.wait();
        let (c, text) = code(&["repair", j.to_str().unwrap()]);
        assert_eq!(c, 0, "trial {trial}: {text}");
        assert_eq!(code(&["verify", j.to_str().unwrap()]).0, 0, "trial {trial}");
        assert_eq!(
            support::info_json(&j)["frames"],
            want_frames,
            "trial {trial}"
        );
        for e in fs::read_dir(&j).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains(".damaged") && !name.ends_with(".partial") {
                let bytes = fs::read(&p).unwrap();
                assert!(
                    originals.contains(&bytes),
                    "trial {trial}: {name} is not an original"
                );
                kept_checked += 1;
            }
        }
        fs::remove_dir_all(&j).unwrap();
    }
    println!("repair kill-and-rerun: {trials} trials, {kept_checked} kept originals, all intact");
}
