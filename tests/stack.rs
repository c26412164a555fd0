//! The night products (`stack`, `trails`, `timelapse`, `keogram`) on small synthetic
//! journals written with the library: a few stars moving one pixel per frame over noise,
//! with frame times the tests choose. Most tests drive the real binary.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nightcap_frame::{Cfa, FrameMeta, Packing, PixelFormat};
use nightcap_journal::{JournalWriter, WriterConfig};
use nightcap_stack::output::fits::read_fits;
use support::{printed as text, run as nightcap};

const W: u32 = 64;
const H: u32 = 48;
const S: i64 = 1_000_000_000;
/// 2026-11-24 02:00:00 UTC.
const T0: i64 = 1_795_485_600 * S;

const FMT: PixelFormat = PixelFormat {
    fourcc: *b"pRCC",
    width: W,
    height: H,
    stride: 96,
    bit_depth: 12,
    cfa: Cfa::Rggb,
    packing: Packing::Csi2P12,
};

/// Frame `i`: noise around 200 plus three stars at (5 + i, y), moving right.
fn samples(i: usize, sky: u16) -> Vec<u16> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<u16> = (0..(W * H) as usize)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sky + (x % 32) as u16
        })
        .collect();
    for (k, y) in [10usize, 20, 33].into_iter().enumerate() {
        let px = (5 + i + 3 * k) % W as usize;
        v[y * W as usize + px] = 3000 + 300 * k as u16;
    }
    v
}

/// Writes frames at `T0 + times[i]` seconds (5 s exposures) with sky levels `skies[i]`;
/// returns the journal directory and every frame's samples.
fn journal_with(tmp: &Path, times_s: &[i64], skies: &[u16]) -> (PathBuf, Vec<Vec<u16>>) {
    let dir = tmp.join("journal");
    let mut cfg = WriterConfig::new(&dir);
    cfg.budget.reserve_bytes = 0;
    let mut w = JournalWriter::open(cfg, FMT).unwrap();
    let mut all = Vec::new();
    for (i, &t) in times_s.iter().enumerate() {
        let s = samples(i, skies[i]);
        let meta = FrameMeta {
            time_utc_ns: T0 + t * S,
            exposure_us: 5_000_000,
            gain_milli: 1000,
            driver_seq: i as u32,
            ..FrameMeta::default()
        };
        w.append_frame(&meta, &nightcap_frame::pixels::pack_frame(&FMT, &s))
            .unwrap();
        all.push(s);
    }
    w.close().unwrap();
    (dir, all)
}

/// `n` frames every 5 s starting `offset_s` after T0.
fn journal(tmp: &Path, n: usize, offset_s: i64) -> (PathBuf, Vec<Vec<u16>>) {
    let times: Vec<i64> = (0..n as i64).map(|i| offset_s + 5 * i).collect();
    journal_with(tmp, &times, &vec![200; n])
}

fn max_of(frames: &[Vec<u16>]) -> Vec<u16> {
    let mut out = vec![0u16; frames[0].len()];
    for f in frames {
        out.iter_mut().zip(f).for_each(|(o, &v)| *o = (*o).max(v));
    }
    out
}

fn names(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    v.sort();
    v
}

#[test]
fn stack_writes_one_jpeg_per_minute_and_a_list_ffmpeg_can_encode() {
    let tmp = tempfile::tempdir().unwrap();
    // 02:00:30 .. 02:02:25: a partial first minute, a full one, a partial last one.
    let (j, _) = journal(tmp.path(), 24, 30);
    let out = tmp.path().join("stacks");
    let o = nightcap(&[
        "stack",
        j.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--fps",
        "5",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        names(&out, ".jpg"),
        vec![
            "img20261124-020000.jpg",
            "img20261124-020100.jpg",
            "img20261124-020200.jpg"
        ]
    );
    for n in names(&out, ".jpg") {
        let img = image::open(out.join(&n)).unwrap();
        assert_eq!((img.width(), img.height()), (W, H));
        let side: serde_json::Value =
            serde_json::from_slice(&fs::read(out.join(format!("{n}.json"))).unwrap()).unwrap();
        let full = n == "img20261124-020100.jpg";
        assert_eq!(side["frames"], if full { 12 } else { 6 });
        assert_eq!(side["partial"], !full, "{n}");
        assert_eq!(side["mode"], "max");
    }
    let list = out.join("imgstacks.ffconcat");
    let text_list = fs::read_to_string(&list).unwrap();
    assert!(
        text_list.contains("'img20261124-020100.jpg'"),
        "{text_list}"
    );

    if Command::new("ffmpeg").arg("-version").output().is_err() {
        return;
    }
    let video = tmp.path().join("v.mp4");
    let enc = nightcap_stack::output::concat::encode(&list, &video, 5).unwrap();
    assert!(matches!(
        enc,
        nightcap_stack::output::concat::EncodeOutcome::Encoded { .. }
    ));
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&video)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "3");
}

#[test]
fn fits_stack_is_the_exact_max_with_its_header() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, frames) = journal(tmp.path(), 12, 0);
    let out = tmp.path().join("f");
    let o = nightcap(&[
        "stack",
        j.to_str().unwrap(),
        "--every",
        "all",
        "--format",
        "fits",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let f = read_fits(&out.join("img20261124-020000.fits")).unwrap();
    assert_eq!(f.image.data, max_of(&frames));
    assert_eq!(f.image.cfa, Cfa::Rggb);
    assert_eq!(f.get("NCOMBINE"), Some("12"));
    assert_eq!(f.get("BAYERPAT"), Some("RGGB"));
    assert!(f.get("DATE-OBS").unwrap().contains("2026-11-24T02:00:00"));
    assert_eq!(
        f.get("EXPTIME").map(|v| v.parse::<f64>().unwrap()),
        Some(60.0)
    );
}

#[test]
fn two_30s_stacks_combine_into_the_60s_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, frames) = journal(tmp.path(), 12, 0);
    let run = |every: &str, out: &str| {
        let out = tmp.path().join(out);
        let o = nightcap(&[
            "stack",
            j.to_str().unwrap(),
            "--every",
            every,
            "--format",
            "fits",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        names(&out, ".fits")
            .iter()
            .map(|n| read_fits(&out.join(n)).unwrap().image.data)
            .collect::<Vec<_>>()
    };
    let halves = run("30s", "h");
    let whole = run("60s", "w");
    assert_eq!(halves.len(), 2);
    assert_eq!(whole.len(), 1);
    assert_eq!(max_of(&halves), whole[0]);
    assert_eq!(halves[0], max_of(&frames[..6]));
}

#[test]
fn empty_windows_give_no_file_and_damaged_frames_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    // One minute of frames, nothing for three minutes, then another minute.
    let times: Vec<i64> = (0..12).chain(48..60).map(|i| 5 * i).collect();
    let (j, frames) = journal_with(tmp.path(), &times, &[200; 24]);
    // Damage frame 3's payload.
    let seg = fs::read_dir(&j)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let jr = nightcap_journal::Journal::open(&j).unwrap();
    let off = jr.frames()[3].entry.offset;
    drop(jr);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[off as usize + 100] ^= 0x55;
    fs::write(&seg, bytes).unwrap();

    let out = tmp.path().join("s");
    let o = nightcap(&[
        "stack",
        j.to_str().unwrap(),
        "--format",
        "fits",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("frame seq 3"), "{}", text(&o));
    assert_eq!(
        names(&out, ".fits"),
        vec!["img20261124-020000.fits", "img20261124-020400.fits"]
    );
    let first = read_fits(&out.join("img20261124-020000.fits")).unwrap();
    assert_eq!(first.get("NCOMBINE"), Some("11"));
    assert_eq!(first.get("PARTIAL"), Some("T"));
    let mut kept = frames[..12].to_vec();
    kept.remove(3);
    assert_eq!(first.image.data, max_of(&kept));
}

#[test]
fn stack_outside_the_range_fails_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, _) = journal(tmp.path(), 4, 0);
    let o = nightcap(&["stack", j.to_str().unwrap(), "--from", "2030-01-01"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--from/--to"), "{}", text(&o));
}

#[test]
fn trails_is_the_max_over_all_frames_and_comet_fades_early_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, frames) = journal(tmp.path(), 10, 0);
    let plain = tmp.path().join("t.fits");
    let o = nightcap(&[
        "trails",
        j.to_str().unwrap(),
        "--out",
        plain.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let f = read_fits(&plain).unwrap();
    assert_eq!(f.image.data, max_of(&frames));
    assert_eq!(f.get("NCOMBINE"), Some("10"));

    let comet = tmp.path().join("c.fits");
    let o = nightcap(&[
        "trails",
        j.to_str().unwrap(),
        "--comet",
        "0.8",
        "--out",
        comet.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let c = read_fits(&comet).unwrap().image;
    // Star 0 on row 10 was at x = 5 in frame 0 and x = 14 in frame 9.
    let at = |x: usize| c.data[10 * W as usize + x];
    assert_eq!(at(14), 3000);
    assert!(
        at(5) < at(10) && at(10) < at(14),
        "{} {} {}",
        at(5),
        at(10),
        at(14)
    );
    assert!(at(5) < 1000);

    let video = tmp.path().join("v.jpg");
    let o = nightcap(&[
        "trails",
        j.to_str().unwrap(),
        "--timelapse",
        "3",
        "--out",
        video.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let frames_dir = tmp.path().join("v-frames");
    assert_eq!(
        names(&frames_dir, ".jpg"),
        vec![
            "trail000003.jpg",
            "trail000006.jpg",
            "trail000009.jpg",
            "trail000010.jpg"
        ]
    );
    assert!(frames_dir.join("trails.ffconcat").exists());
}

#[test]
fn keogram_has_one_column_per_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, frames) = journal(tmp.path(), 7, 0);
    let out = tmp.path().join("k.fits");
    let o = nightcap(&[
        "keogram",
        j.to_str().unwrap(),
        "--column",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let k = read_fits(&out).unwrap().image;
    assert_eq!((k.width, k.height, k.channels), (7, H / 2, 3));
    // Column 10 band (x = 10, 11), cell row 5 holds star 0 (row 10) when it passes
    // x = 10 (frame 5) or x = 11 (frame 6): red is the sample at (10, 10).
    let red = |x: usize, y: usize| k.data[(y * 7 + x) * 3];
    assert_eq!(red(5, 5), frames[5][10 * W as usize + 10]);
    assert_eq!(red(5, 5), 3000);
    assert!(red(0, 5) < 300);
    let jpg = tmp.path().join("k.jpg");
    let o = nightcap(&[
        "keogram",
        j.to_str().unwrap(),
        "--out",
        jpg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(image::open(&jpg).unwrap().width(), 7);
}

#[test]
fn timelapse_writes_a_frame_per_exposure_and_encodes() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, _) = journal(tmp.path(), 6, 0);
    let out = tmp.path().join("tl");
    let o = nightcap(&[
        "timelapse",
        j.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--fps",
        "10",
        "--encode",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(names(&out, ".jpg").len(), 6);
    assert!(out.join("timelapse.ffconcat").exists());
    if Command::new("ffprobe").arg("-version").output().is_ok() {
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(out.join("timelapse.mp4"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "6");
    }
    let win = tmp.path().join("tw");
    let o = nightcap(&[
        "timelapse",
        j.to_str().unwrap(),
        "--every",
        "10s",
        "--out",
        win.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(names(&win, ".jpg").len(), 3);
}

#[test]
fn reject_auto_leaves_out_a_bright_cloudy_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let times: Vec<i64> = (0..12).map(|i| 5 * i).collect();
    let mut skies = vec![200u16; 12];
    skies[5] = 1500;
    let (j, frames) = journal_with(tmp.path(), &times, &skies);
    let out = tmp.path().join("r");
    let o = nightcap(&[
        "stack",
        j.to_str().unwrap(),
        "--every",
        "all",
        "--format",
        "fits",
        "--reject",
        "auto",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("rejected frame seq 5"), "{}", text(&o));
    let f = read_fits(&out.join("img20261124-020000.fits")).unwrap();
    assert_eq!(f.get("NCOMBINE"), Some("11"));
    assert_eq!(f.get("NREJECT"), Some("1"));
    let mut kept = frames.clone();
    kept.remove(5);
    assert_eq!(f.image.data, max_of(&kept));
    let side: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("img20261124-020000.fits.json")).unwrap())
            .unwrap();
    assert_eq!(side["rejected"], 1);
}

#[test]
fn follow_emits_a_window_once_a_later_frame_exists() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let mut cfg = WriterConfig::new(&dir);
    cfg.budget.reserve_bytes = 0;
    let mut w = JournalWriter::open(cfg, FMT).unwrap();
    let append = |w: &mut JournalWriter, i: usize| {
        let meta = FrameMeta {
            time_utc_ns: T0 + 5 * i as i64 * S,
            exposure_us: 5_000_000,
            ..FrameMeta::default()
        };
        w.append_frame(
            &meta,
            &nightcap_frame::pixels::pack_frame(&FMT, &samples(i, 200)),
        )
        .unwrap();
    };
    for i in 0..11 {
        append(&mut w, i);
    }
    let out = tmp.path().join("live");
    let mut scfg = nightcap_stack::StackConfig::new(&out);
    scfg.format = nightcap_stack::output::image::OutputFormat::Fits;
    let stop = AtomicBool::new(false);
    let first = out.join("img20261124-020000.fits");
    let second = out.join("img20261124-020100.fits");
    std::thread::scope(|s| {
        let h =
            s.spawn(|| nightcap_stack::follow::follow_stack(&dir, &scfg, &stop, &|_| {}).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(2500));
        assert!(!first.exists(), "minute 0 is still open");
        append(&mut w, 11);
        append(&mut w, 12); // starts 02:01:00: minute 0 is complete
        let t = std::time::Instant::now();
        while !first.exists() && t.elapsed().as_secs() < 15 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(first.exists());
        assert!(!second.exists());
        stop.store(true, Ordering::Relaxed);
        let outs = h.join().unwrap();
        assert_eq!(outs.len(), 2, "the open minute is written on stop");
    });
    assert_eq!(
        read_fits(&first).unwrap().get("NCOMBINE"),
        Some("12"),
        "all 12 frames of minute 0"
    );
    assert!(second.exists());
    w.close().unwrap();
}

#[test]
fn a_stacker_beside_a_capture_runs_below_the_compression_workers() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;
    let tmp = tempfile::tempdir().unwrap();
    let (dir, frames) = journal(tmp.path(), 24, 0);
    let mut scfg = nightcap_stack::StackConfig::new(tmp.path().join("live"));
    scfg.format = nightcap_stack::output::image::OutputFormat::Fits;
    // Raised from the start: every window is stacked once and the call returns.
    let stop = AtomicBool::new(true);
    let before = rustix::process::getpriority_process(None).unwrap();
    let seen = Mutex::new(Vec::new());
    let note = |_: nightcap_stack::StackEvent<'_>| {
        let nice = rustix::process::getpriority_process(None).unwrap();
        seen.lock().unwrap().push(nice);
    };
    let outs = std::thread::scope(|s| {
        s.spawn(|| nightcap_stack::follow::follow_stack_beside_capture(&dir, &scfg, &stop, &note))
            .join()
            .unwrap()
            .unwrap()
    });
    assert_eq!(outs.len(), 2);
    let first = read_fits(&outs[0].path).unwrap();
    assert_eq!(first.image.data, max_of(&frames[..12]));
    // Decoding workers (a frame each) and writer threads (a stack each) all reported.
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() >= 24 + 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|&n| n >= nightcap_stack::follow::BESIDE_CAPTURE_NICE),
        "{seen:?}"
    );
    // The caller's own thread is left as it was.
    assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
}

#[test]
fn dark_journal_is_subtracted_before_stacking() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, frames) = journal(tmp.path(), 6, 0);
    let dark_dir = tmp.path().join("darks");
    let mut cfg = WriterConfig::new(&dark_dir);
    cfg.budget.reserve_bytes = 0;
    let mut w = JournalWriter::open(cfg, FMT).unwrap();
    for (i, level) in [90u16, 110].into_iter().enumerate() {
        let meta = FrameMeta {
            time_utc_ns: T0 + i as i64 * 5 * S,
            exposure_us: 5_000_000,
            ..FrameMeta::default()
        };
        let d = vec![level; (W * H) as usize];
        w.append_frame(&meta, &nightcap_frame::pixels::pack_frame(&FMT, &d))
            .unwrap();
    }
    w.close().unwrap();
    let out = tmp.path().join("d");
    let o = nightcap(&[
        "stack",
        j.to_str().unwrap(),
        "--every",
        "all",
        "--format",
        "fits",
        "--dark",
        dark_dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let f = read_fits(&out.join("img20261124-020000.fits")).unwrap();
    let want: Vec<u16> = max_of(&frames).iter().map(|v| v - 100).collect();
    assert_eq!(f.image.data, want);
}

#[test]
fn trails_timelapse_and_keogram_take_reject_auto_too() {
    let tmp = tempfile::tempdir().unwrap();
    let times: Vec<i64> = (0..12).map(|i| 5 * i).collect();
    let mut skies = vec![200u16; 12];
    skies[5] = 1500;
    let (j, frames) = journal_with(tmp.path(), &times, &skies);
    let js = j.to_str().unwrap();
    let trails = tmp.path().join("t.fits");
    let o = nightcap(&[
        "trails",
        js,
        "--reject",
        "auto",
        "--out",
        trails.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("rejected 1 frame of 12"), "{}", text(&o));
    let mut kept = frames.clone();
    kept.remove(5);
    assert_eq!(read_fits(&trails).unwrap().image.data, max_of(&kept));
    let tl = tmp.path().join("tl");
    let o = nightcap(&[
        "timelapse",
        js,
        "--reject",
        "auto",
        "--out",
        tl.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(names(&tl, ".jpg").len(), 11);
    let o = nightcap(&[
        "-q",
        "keogram",
        js,
        "--reject",
        "auto",
        "--out",
        tmp.path().join("k.fits").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        read_fits(&tmp.path().join("k.fits")).unwrap().image.width,
        11
    );
}
