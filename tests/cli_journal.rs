//! The journal commands (`info`, `verify`, `repair`, `export`) driven through the real
//! binary on journals written with the library.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use nightcap_frame::{Cfa, FrameMeta, Packing, PixelFormat};
use nightcap_journal::format::{Gap, GapReason};
use nightcap_journal::{JournalWriter, WriterConfig};
use support::{printed as text, run as nightcap};

const FMT: PixelFormat = PixelFormat {
    fourcc: *b"pRCC",
    width: 64,
    height: 16,
    stride: 96,
    bit_depth: 12,
    cfa: Cfa::Rggb,
    packing: Packing::Csi2P12,
};

fn frame(i: u64) -> Vec<u8> {
    let samples: Vec<u16> = (0..64 * 16)
        .map(|p| ((p as u64 * 7 + i * 13) % 4096) as u16)
        .collect();
    nightcap_frame::pixels::pack_frame(&FMT, &samples)
}

fn meta(i: u64) -> FrameMeta {
    FrameMeta {
        time_utc_ns: 1_795_999_500_000_000_000 + i as i64 * 5_000_000_000,
        exposure_us: 5_000_000,
        gain_milli: 1000,
        driver_seq: i as u32,
        ..FrameMeta::default()
    }
}

/// A journal of 6 frames in two sealed segments, with one GAP.
fn journal() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let mut cfg = WriterConfig::new(&dir);
    cfg.budget.reserve_bytes = 0;
    let mut w = JournalWriter::open(cfg, FMT).unwrap();
    for i in 0..3 {
        w.append_frame(&meta(i), &frame(i)).unwrap();
    }
    w.append_gap(&Gap {
        count: 2,
        start_ns: meta(3).time_utc_ns,
        end_ns: meta(5).time_utc_ns,
        reason: GapReason::Timeout,
        text: "camera timed out".into(),
    })
    .unwrap();
    w.seal_active().unwrap();
    for i in 5..8 {
        w.append_frame(&meta(i), &frame(i)).unwrap();
    }
    w.close().unwrap();
    (tmp, dir)
}

fn sealed(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn info_reports_frames_span_gaps_and_ratio() {
    let (_t, dir) = journal();
    let d = dir.to_str().unwrap();
    let o = nightcap(&["info", d]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("frames     6 (seq 0..=5)"), "{t}");
    assert!(
        t.contains("2026-11-30 00:45:00 .. 2026-11-30 00:45:40 UTC"),
        "{t}"
    );
    assert!(t.contains("gaps       1 (2 frames missed)"), "{t}");

    let o = nightcap(&["info", "--json", d]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["frames"], 6);
    assert_eq!(v["segments"].as_array().unwrap().len(), 2);
    assert_eq!(v["gaps"][0]["reason"], "timeout");
    assert!(v["compression_ratio"].as_f64().unwrap() > 0.0);
}

#[test]
fn info_frames_lists_each_frames_timing_as_recorded() {
    let (_t, dir) = journal();
    let d = dir.to_str().unwrap();
    let o = nightcap(&["info", "--frames", d]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "a header and 6 frames: {out}");
    assert!(lines[1].starts_with("0 "), "{out}");
    assert!(lines[1].contains("2026-11-30T00:45:00.000000Z"), "{out}");
    assert!(lines[4].contains("2026-11-30T00:45:25.000000Z"), "{out}");

    let o = nightcap(&["info", "--frames", "--json", d]);
    assert!(o.status.success(), "{}", text(&o));
    let frames: Vec<serde_json::Value> = o
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("one JSON object per line"))
        .collect();
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    for (f, i) in frames.iter().zip([0, 1, 2, 5, 6, 7]) {
        let m = meta(i);
        assert_eq!(f["time_utc_ns"].as_i64(), Some(m.time_utc_ns), "{f}");
        assert_eq!(f["driver_seq"].as_u64(), Some(i), "{f}");
        assert_eq!(f["exposure_us"].as_u64(), Some(5_000_000), "{f}");
        assert_eq!(f["gain"].as_f64(), Some(1.0), "{f}");
    }
}

#[test]
fn verify_detects_a_flipped_byte_and_repair_keeps_everything_else() {
    let (_t, dir) = journal();
    let d = dir.to_str().unwrap();
    let o = nightcap(&["verify", d]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("6 of 6 frames intact"));

    // Flip a byte inside the second frame's payload of the first segment.
    let seg = &sealed(&dir)[0];
    let j = nightcap_journal::Journal::open(&dir).unwrap();
    let victim = j.segments[0].frames().nth(1).unwrap().offset + 64 + 10;
    drop(j);
    let mut bytes = fs::read(seg).unwrap();
    bytes[victim as usize] ^= 0x40;
    fs::write(seg, &bytes).unwrap();

    let o = nightcap(&["verify", d]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("5 of 6 frames intact"), "{t}");
    assert!(
        t.contains(&format!("at offset {}", victim - 74)),
        "damage names the record offset: {t}"
    );
    assert!(t.contains("frame seq 1"), "{t}");

    let o = nightcap(&["repair", d]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 frames kept, 1 frame set aside"),
        "{}",
        text(&o)
    );
    assert!(
        seg.with_extension("seg.damaged").exists(),
        "original kept aside"
    );
    let o = nightcap(&["verify", d]);
    let t = text(&o);
    // The repaired journal verifies clean: seq 1 is accounted for by a set-aside GAP,
    // and verify names the kept original instead of asking for another repair.
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("5 of 5 frames intact"), "{t}");
    assert!(t.contains("ok: no damage found"), "{t}");
    assert!(t.contains("kept by an earlier repair"), "{t}");
}

#[test]
fn export_raw_gives_the_exact_camera_bytes_and_png_the_samples() {
    let (t, dir) = journal();
    let out = t.path().join("raw");
    let o = nightcap(&[
        "export",
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        "--format",
        "raw",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let first = out.join("00000000-20261130-004500.raw");
    assert_eq!(fs::read(first).unwrap(), frame(0));
    assert_eq!(
        fs::read(out.join("00000005-20261130-004535.raw")).unwrap(),
        frame(7)
    );
    assert_eq!(fs::read_dir(&out).unwrap().count(), 6);

    let png = t.path().join("png");
    let o = nightcap(&[
        "export",
        dir.to_str().unwrap(),
        png.to_str().unwrap(),
        "--format",
        "png",
        "--from",
        "2026-11-30T00:45:05",
        "--to",
        "2026-11-30T00:45:10",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let names: Vec<_> = fs::read_dir(&png)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let img = image::open(png.join("00000001-20261130-004505.png"))
        .unwrap_or_else(|e| panic!("{e}: {names:?}"))
        .into_luma16();
    assert_eq!(img.dimensions(), (64, 16));
    let want = nightcap_frame::pixels::to_image16(&FMT, &frame(1)).unwrap();
    assert_eq!(img.into_raw(), want.data);
    assert_eq!(fs::read_dir(&png).unwrap().count(), 1);
}

#[test]
fn bad_input_gets_one_clear_line_and_a_nonzero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec!["info".into(), missing.display().to_string()],
            1,
            "not a nightcap journal",
        ),
        (
            vec!["verify".into(), "/etc/hostname".into()],
            1,
            "not a directory",
        ),
        (vec!["info".into()], 2, "JOURNAL"),
        (vec!["frobnicate".into()], 2, "unrecognized subcommand"),
        (
            vec![
                "export".into(),
                tmp.path().display().to_string(),
                "x".into(),
                "--from".into(),
                "yesterday".into(),
            ],
            2,
            "'yesterday' is not a time",
        ),
    ];
    for (args, code, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = nightcap(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
        if code == 1 {
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(err.starts_with("nightcap: "), "{err}");
        }
    }
    // An empty journal directory is not an error for info.
    let o = nightcap(&["info", tmp.path().to_str().unwrap()]);
    assert!(o.status.success());
    assert!(text(&o).contains("empty: no segments yet"));
}

/// A Pi without a real-time clock: its capture starts with the clock at 1970 plus the
/// uptime and notes `clock_synchronised=no`; NTP steps the clock between frames 5 and 6;
/// the writer notes the sync three frames later (frames in flight). Each frame keeps the
/// driver's monotonic stamp (end of exposure).
fn unsynced_night() -> (tempfile::TempDir, PathBuf, i64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let mut cfg = WriterConfig::new(&dir);
    cfg.budget.reserve_bytes = 0;
    let mut w = JournalWriter::open(cfg, FMT).unwrap();
    let boot_offset = 1_795_999_000_000_000_000; // realtime - monotonic once set
    let meta = |i: u64| {
        let stamp = 100_000_000_000 + i * 5_000_000_000; // monotonic, end of exposure
        let offset = if i < 6 { 0 } else { boot_offset };
        FrameMeta {
            time_utc_ns: stamp as i64 + offset - 5_000_000_000 + 3_000,
            exposure_us: 5_000_000,
            gain_milli: 1000,
            driver_seq: i as u32,
            driver_ts_ns: stamp,
            ..FrameMeta::default()
        }
    };
    w.append_note(
        0,
        "source=V4L2 /dev/video0 (unicam)\nformat=x\nclock_synchronised=no",
    )
    .unwrap();
    for i in 0..30 {
        if i == 9 {
            w.append_note(boot_offset, "clock_synchronised=yes")
                .unwrap();
        }
        w.append_frame(&meta(i), &frame(i)).unwrap();
    }
    w.close().unwrap();
    (tmp, dir, boot_offset)
}

#[test]
fn frames_stamped_before_the_clock_was_set_are_retimed_by_the_cameras_clock() {
    let (tmp, dir, boot_offset) = unsynced_night();
    let d = dir.to_str().unwrap();
    // The library hands out the new times; the records keep what was recorded.
    let j = nightcap_journal::Journal::open(&dir).unwrap();
    let frames = j.frames();
    assert_eq!(frames.len(), 30);
    for (i, r) in frames.iter().enumerate() {
        let want = 100_000_000_000 + i as i64 * 5_000_000_000 + boot_offset - 5_000_000_000 + 3_000;
        assert_eq!(r.time_ns, want, "frame {i}");
        assert_eq!(r.entry.time_ns != r.time_ns, i < 6, "frame {i}");
    }
    assert_eq!(j.retimed.runs.len(), 1);
    assert_eq!((j.retimed.runs[0].0, j.retimed.runs[0].1), (0, 5));

    let o = nightcap(&["info", d]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("frames seq 0..=5 were stamped before the clock was set: re-timed by the camera's clock (moved later by 56.9 years)"),
        "{t}"
    );
    assert!(
        !t.contains("may be wrong") && !t.contains("stepped back"),
        "{t}"
    );
    assert!(t.contains("time       2026-"), "{t}");

    // Listings, exports and stacks use the new times: no 1970 anywhere.
    let o = nightcap(&["info", "--frames", "--json", d]);
    let times: Vec<i64> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["time_utc_ns"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(
        times.windows(2).all(|p| p[1] - p[0] == 5_000_000_000),
        "{times:?}"
    );
    let out = tmp.path().join("stacks");
    let o = nightcap(&["stack", d, "--every", "60s", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jpg"))
        .collect();
    names.sort();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains("2026")),
        "{names:?}"
    );
    assert!(
        names.len() <= 4,
        "30 frames of 5 s in 60 s windows: {names:?}"
    );
}
