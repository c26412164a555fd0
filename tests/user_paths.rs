//! nightcap as a user meets it: each test runs the binary the way a person following the
//! README would and checks what that person relies on (frames in the journal, names of
//! files, exit codes, the one line printed).

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::{printed, run};

/// Writes `n` JPEG frames of `w`x`h` named like the original program's live stacks
/// (`img20260812213000.jpg`, one a minute), each with its own noise.
fn jpeg_folder(dir: &Path, n: u32, w: u32, h: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..n {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = (state & 0x3f) as u8 + ((x + y + i) % 7) as u8;
            image::Rgb([v, v / 2, v / 3])
        });
        let (hh, mm) = (21 + i / 60, i % 60);
        img.save(dir.join(format!("img20260812{hh:02}{mm:02}00.jpg")))
            .unwrap();
    }
}

/// Frames in a journal, as `info --json` reports them.
fn frames_in(journal: &Path) -> u64 {
    support::info_json(journal)["frames"]
        .as_u64()
        .expect("frames in info --json")
}

/// A core kept busy while the test runs, as a second program on a Pi would.
struct Busy(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Busy {
    fn start() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let t = std::thread::spawn(move || {
            let mut x = 0u64;
            while !s.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
        Busy(stop, Some(t))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn import_keeps_every_frame_every_time_under_load() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("frames");
    jpeg_folder(&src, 60, 320, 240);
    let _busy = Busy::start();
    for run_no in 0..20 {
        let j = tmp.path().join(format!("j{run_no}"));
        let out = run(&["import", src.to_str().unwrap(), j.to_str().unwrap(), "-q"]);
        assert!(out.status.success(), "run {run_no}: {}", printed(&out));
        assert_eq!(frames_in(&j), 60, "run {run_no} lost frames");
        std::fs::remove_dir_all(&j).unwrap();
    }
}

#[test]
fn import_twice_adds_each_frame_once() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("frames");
    jpeg_folder(&src, 12, 64, 48);
    let j = tmp.path().join("j");
    let (s, js) = (src.to_str().unwrap(), j.to_str().unwrap());
    assert!(run(&["import", s, js]).status.success());
    assert_eq!(frames_in(&j), 12);
    let again = run(&["import", s, js]);
    assert!(again.status.success(), "{}", printed(&again));
    assert!(
        printed(&again).contains("nothing to import"),
        "{}",
        printed(&again)
    );
    assert_eq!(frames_in(&j), 12, "a second import duplicated frames");
    // Three more frames arrive (a resumed or later import): only they are added.
    jpeg_folder(&tmp.path().join("more"), 15, 64, 48);
    for i in 12..15 {
        let name = format!("img20260812{:02}{:02}00.jpg", 21 + i / 60, i % 60);
        std::fs::copy(tmp.path().join("more").join(&name), src.join(&name)).unwrap();
    }
    let third = run(&["import", s, js]);
    assert!(third.status.success(), "{}", printed(&third));
    assert!(
        printed(&third).contains("12 frames already in the journal"),
        "{}",
        printed(&third)
    );
    assert_eq!(frames_in(&j), 15);
}

#[test]
fn an_import_that_cannot_read_a_frame_fails_with_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("frames");
    jpeg_folder(&src, 6, 64, 48);
    // A frame whose header reads but whose data is cut off: known only when decoded.
    let victim = src.join("img20260812210300.png");
    let noisy = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 7 + y * 13) as u8, 9, 3]));
    noisy.save(&victim).unwrap();
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let j = tmp.path().join("j");
    let out = run(&["import", src.to_str().unwrap(), j.to_str().unwrap(), "-q"]);
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("imported 6 of 7 frames"), "{text}");
    assert!(text.contains("img20260812210300.png"), "{text}");
    assert_eq!(frames_in(&j), 6);
}

/// A simulated capture with live stacks in `dir`, in the zone `tz` (a POSIX TZ string, so
/// no time-zone database is needed: `UTC-2` is two hours east of UTC).
fn live_capture(dir: &Path, tz: &str, start: &str, frames: u32, extra: &[&str]) -> String {
    let out = support::nightcap()
        .current_dir(dir)
        .env("TZ", tz)
        .args([
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "tiny",
            "--sim-speed",
            "0",
            "--sim-start",
            start,
            "--frames",
            &frames.to_string(),
            "-d",
            "60",
            "-f",
            "./img",
            "--journal",
            "j",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    printed(&out)
}

fn stacks_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jpg"))
        .collect();
    v.sort();
    v
}

#[test]
fn live_stacks_have_the_original_names_in_local_time() {
    let tmp = tempfile::tempdir().unwrap();
    // 24 frames of 5 s from 19:30:00 UTC, two hours east: 21:30 and 21:31 local.
    let said = live_capture(tmp.path(), "UTC-2", "2026-08-12T19:30:00", 24, &[]);
    assert_eq!(
        stacks_in(tmp.path()),
        ["img20260812213000.jpg", "img20260812213100.jpg"]
    );
    // Each file written is printed, as the original program did.
    assert!(
        said.contains("./img20260812213000.jpg (12 frames)"),
        "{said}"
    );

    let utc = tempfile::tempdir().unwrap();
    live_capture(utc.path(), "UTC-2", "2026-08-12T19:30:00", 12, &["--utc"]);
    assert_eq!(stacks_in(utc.path()), ["img20260812193000.jpg"]);
}

#[test]
fn a_restart_inside_a_window_never_overwrites_its_stack() {
    let tmp = tempfile::tempdir().unwrap();
    live_capture(tmp.path(), "UTC", "2026-08-12T21:30:00", 6, &[]);
    let first = tmp.path().join("img20260812213000.jpg");
    let before = std::fs::read(&first).unwrap();
    // Restarted 30 s into the same minute.
    live_capture(tmp.path(), "UTC", "2026-08-12T21:30:30", 6, &[]);
    assert_eq!(
        std::fs::read(&first).unwrap(),
        before,
        "the first stack was replaced"
    );
    assert_eq!(
        stacks_in(tmp.path()),
        ["img20260812213000-2.jpg", "img20260812213000.jpg"]
    );
}

/// A capture whose frames are timed before the journal's last frame (a Pi's clock set
/// back at boot, or the simulated night run again) still gets its live stacks: the live
/// stacker takes the frames captured now by seq, not by time, and keeps the old images.
#[test]
fn a_capture_timed_before_the_journals_last_frame_still_gets_live_stacks() {
    let tmp = tempfile::tempdir().unwrap();
    live_capture(tmp.path(), "UTC", "2026-08-12T21:30:00", 24, &[]);
    let first = tmp.path().join("img20260812213000.jpg");
    let before = std::fs::read(&first).unwrap();
    // The same night again: the same times, the same window names.
    let said = live_capture(tmp.path(), "UTC", "2026-08-12T21:30:00", 24, &[]);
    assert_eq!(
        std::fs::read(&first).unwrap(),
        before,
        "an old stack was replaced"
    );
    assert_eq!(
        stacks_in(tmp.path()),
        [
            "img20260812213000-2.jpg",
            "img20260812213000.jpg",
            "img20260812213100-2.jpg",
            "img20260812213100.jpg"
        ]
    );
    assert!(
        said.contains("img20260812213100-2.jpg (12 frames)"),
        "{said}"
    );
}

#[test]
fn from_and_to_take_local_clock_times_and_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    // 24 frames from 19:30:00 UTC: 21:30 to 21:32 two hours east of UTC.
    live_capture(tmp.path(), "UTC-2", "2026-08-12T19:30:00", 24, &[]);
    let stack = |from: &str, to: &str, out: &str| {
        let o = support::nightcap()
            .current_dir(tmp.path())
            .env("TZ", "UTC-2")
            .args([
                "stack", "j", "--every", "1m", "--from", from, "--to", to, "--out", out,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{from}..{to}: {}", printed(&o));
        let mut names: Vec<String> = std::fs::read_dir(tmp.path().join(out))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jpg"))
            .collect();
        names.sort();
        names
    };
    // Local clock times on the journal's night; file names stay UTC.
    assert_eq!(stack("21:31", "21:32", "a"), ["img20260812-193100.jpg"]);
    // The same window with explicit offsets and in UTC.
    assert_eq!(
        stack("2026-08-12T21:31+02:00", "2026-08-12T19:32Z", "b"),
        ["img20260812-193100.jpg"]
    );
    // A naive date and time is local too.
    assert_eq!(
        stack("2026-08-12T21:31", "2026-08-12T21:32", "c"),
        ["img20260812-193100.jpg"]
    );
}

#[test]
fn a_timelapse_encodes_into_a_folder_whose_name_looks_like_a_url() {
    if !support::have("ffmpeg") || !support::have("ffprobe") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    live_capture(tmp.path(), "UTC", "2026-08-12T21:30:00", 20, &[]);
    let out = tmp.path().join("night:1 #2 100%");
    let o = support::nightcap()
        .current_dir(tmp.path())
        .args(["timelapse", "j", "--encode", "-q", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", printed(&o));
    let mut url = std::ffi::OsString::from("file:");
    url.push(out.join("timelapse.mp4"));
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(url)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "20");
}

#[test]
fn trails_into_an_unwritable_folder_fail_before_the_work() {
    let tmp = tempfile::tempdir().unwrap();
    live_capture(tmp.path(), "UTC", "2026-08-12T21:30:00", 6, &[]);
    // A file where the folder should be: no folder can be made there, as root or not.
    std::fs::write(tmp.path().join("blocked"), b"a file").unwrap();
    for cmd in ["trails", "keogram"] {
        let o = support::nightcap()
            .current_dir(tmp.path())
            .args([cmd, "j", "--out", "blocked/out.jpg"])
            .output()
            .unwrap();
        let text = printed(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {text}");
        assert!(
            text.contains("cannot create the folder blocked"),
            "{cmd}: {text}"
        );
        assert_eq!(
            text.lines().count(),
            1,
            "{cmd}: one line, no progress: {text}"
        );
    }
    // A missing folder is made.
    let o = support::nightcap()
        .current_dir(tmp.path())
        .args(["trails", "j", "--out", "new/dir/trails.jpg", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", printed(&o));
    assert!(tmp.path().join("new/dir/trails.jpg").is_file());
}

#[test]
fn verbose_capture_prints_each_frame_and_the_dead_time_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let said = live_capture(tmp.path(), "UTC", "2026-08-12T21:30:00", 4, &["-v"]);
    let frames: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("frame 2026-08-12"))
        .collect();
    assert_eq!(frames.len(), 4, "{said}");
    // The simulated camera reads out for 20 ms between 5 s exposures.
    assert!(
        frames[1].ends_with("20 ms after the previous one ended"),
        "{said}"
    );
    assert!(
        said.contains("dead time between exposures: median 20 ms, max 20 ms"),
        "{said}"
    );
    let v = support::info_json(&tmp.path().join("j"));
    assert_eq!(v["dead_time_p50_ms"].as_f64(), Some(20.0));
    assert_eq!(v["dead_time_max_ms"].as_f64(), Some(20.0));
}

#[test]
fn a_dark_of_other_settings_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = |journal: &str, exposure: &str, gain: &str| {
        support::sim_capture(&[
            "--sim-sensor",
            "tiny",
            "--frames",
            "4",
            "-e",
            exposure,
            "--gain",
            gain,
            "--journal",
            tmp.path().join(journal).to_str().unwrap(),
        ]);
    };
    sim("lights", "5000", "4");
    sim("dark-same", "5000", "4");
    sim("dark-short", "2000", "4");
    sim("dark-gain", "5000", "8");
    let stack = |dark: &str, force: bool| {
        let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
        let mut args = vec![
            "stack".to_string(),
            p("lights"),
            "--every".into(),
            "all".into(),
            "--out".into(),
            p(&format!("out-{dark}")),
            "--dark".into(),
            p(dark),
        ];
        if force {
            args.push("--force-dark".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };
    assert!(stack("dark-same", false).status.success());
    let short = stack("dark-short", false);
    assert_eq!(short.status.code(), Some(1));
    assert!(
        printed(&short).contains("exposure 2 s against the frames' 5 s"),
        "{}",
        printed(&short)
    );
    let gain = stack("dark-gain", false);
    assert_eq!(gain.status.code(), Some(1));
    assert!(
        printed(&gain).contains("gain 8 against the frames' 4"),
        "{}",
        printed(&gain)
    );
    assert!(
        !tmp.path().join("out-dark-gain").exists(),
        "wrote something"
    );
    let forced = stack("dark-short", true);
    assert!(forced.status.success(), "{}", printed(&forced));
    assert!(printed(&forced).contains("warning: using the dark journal"));
}

#[test]
fn a_journal_of_two_camera_formats_stacks_each_and_never_silently_drops_one() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    for (sensor, start) in [
        ("tiny", "2026-08-12T21:30:00"),
        ("small", "2026-08-12T21:31:00"),
    ] {
        support::sim_capture(&[
            "--sim-sensor",
            sensor,
            "--sim-start",
            start,
            "--frames",
            "12",
            "--journal",
            j.to_str().unwrap(),
        ]);
    }
    let out = tmp.path().join("s");
    let o = run(&[
        "stack",
        j.to_str().unwrap(),
        "--every",
        "all",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", printed(&o));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jpg"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "img20260812-213000-320x240.jpg",
            "img20260812-213000-64x48.jpg"
        ]
    );
    for name in &names {
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(format!("{name}.json"))).unwrap())
                .unwrap();
        assert_eq!(side["frames"], 12, "{name}");
    }
    // One image of both cannot be made: said in one line, nothing written.
    let o = run(&[
        "trails",
        j.to_str().unwrap(),
        "--out",
        tmp.path().join("t.jpg").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(printed(&o).contains("2 camera formats"), "{}", printed(&o));
    assert!(!tmp.path().join("t.jpg").exists());
}

#[test]
fn two_journals_copied_into_one_folder_are_named_not_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let both = tmp.path().join("both");
    std::fs::create_dir(&both).unwrap();
    for (name, start) in [("a", "2026-08-12T21:30:00"), ("b", "2026-08-12T22:30:00")] {
        let j = tmp.path().join(name);
        support::sim_capture(&[
            "--sim-sensor",
            "tiny",
            "--sim-start",
            start,
            "--frames",
            "5",
            "--journal",
            j.to_str().unwrap(),
        ]);
        // Distinct creation stamps, as two Pis' journals would have.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        for e in std::fs::read_dir(&j).unwrap() {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().ends_with(".seg") {
                std::fs::copy(e.path(), both.join(e.file_name())).unwrap();
            }
        }
    }
    for cmd in ["info", "verify", "repair"] {
        let o = run(&[cmd, both.to_str().unwrap()]);
        let text = printed(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {text}");
        assert!(text.contains("holds two journals"), "{cmd}: {text}");
        assert!(text.contains("folder of its own"), "{cmd}: {text}");
    }
}

#[test]
fn a_clock_that_steps_back_never_mixes_two_moments_in_one_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    // Two captures whose clocks give the same minute (a restart after the clock was set
    // back): 12 frames each, all stamped 21:30:00..21:30:55.
    for _ in 0..2 {
        support::sim_capture(&[
            "--sim-sensor",
            "tiny",
            "--sim-start",
            "2026-08-12T21:30:00",
            "--frames",
            "12",
            "--journal",
            j.to_str().unwrap(),
        ]);
    }
    let o = run(&["info", j.to_str().unwrap()]);
    let text = printed(&o);
    assert!(text.contains("clock      stepped back once"), "{text}");
    assert!(
        text.contains("21:30:00 .. 2026-08-12 21:31:00 UTC"),
        "{text}"
    );
    let out = tmp.path().join("s");
    let o = run(&["stack", j.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", printed(&o));
    for name in ["img20260812-213000.jpg", "img20260812-213000-2.jpg"] {
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(format!("{name}.json"))).unwrap())
                .unwrap();
        assert_eq!(side["frames"], 12, "{name} mixes the two moments");
    }
}

#[test]
fn live_stacks_take_hot_pixels_and_a_dark_like_stack_does() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = |dir: &str, extra: &[&str]| {
        let o = support::nightcap()
            .current_dir(tmp.path())
            .env("TZ", "UTC")
            .args([
                "-q",
                "capture",
                "--source",
                "sim",
                "--sim-sensor",
                "small",
                "--sim-speed",
                "0",
                "--frames",
                "12",
                "-d",
                "60",
                "-f",
                &format!("./{dir}/img"),
                "--journal",
                &format!("j-{dir}"),
            ])
            .args(extra)
            .output()
            .unwrap();
        (o.status.code(), printed(&o))
    };
    assert_eq!(cap("hot", &["--hot-pixels"]).0, Some(0));
    assert_eq!(cap("plain", &[]).0, Some(0));
    // One window: the live map comes from the same frames as stack's, so the images match.
    let o = run(&[
        "-q",
        "stack",
        tmp.path().join("j-hot").to_str().unwrap(),
        "--hot-pixels",
        "--out",
        tmp.path().join("off").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", printed(&o));
    let live = std::fs::read(tmp.path().join("hot/img20260812213000.jpg")).unwrap();
    let offline = std::fs::read(tmp.path().join("off/img20260812-213000.jpg")).unwrap();
    let plain = std::fs::read(tmp.path().join("plain/img20260812213000.jpg")).unwrap();
    assert!(
        live == offline,
        "live --hot-pixels differs from stack --hot-pixels"
    );
    assert!(live != plain, "--hot-pixels changed nothing");

    // A dark of another exposure is refused before anything is captured.
    support::sim_capture(&[
        "--sim-sensor",
        "small",
        "--frames",
        "3",
        "-e",
        "2000",
        "--journal",
        tmp.path().join("darks").to_str().unwrap(),
    ]);
    let darks = tmp.path().join("darks");
    let (code, text) = cap("dark", &["--dark", darks.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("exposure 2 s against -e 5000 ms"), "{text}");
    assert!(!tmp.path().join("j-dark").exists(), "a journal was created");
}

#[test]
fn a_ten_minute_sum_is_not_clipped_and_says_how_it_was_scaled() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    support::sim_capture(&[
        "--sim-sensor",
        "small",
        "--for",
        "10m",
        "--journal",
        j.to_str().unwrap(),
    ]);
    let out = tmp.path().join("sum");
    let o = run(&[
        "stack",
        j.to_str().unwrap(),
        "--every",
        "10m",
        "--mode",
        "sum",
        "--format",
        "fits",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", printed(&o));
    assert!(
        printed(&o).contains("scaled down"),
        "no warning: {}",
        printed(&o)
    );
    let fits = std::fs::read(out.join("img20260812-213000.fits")).unwrap();
    // The header: 80-byte cards up to END, padded to 2880; then big-endian i16 + 32768.
    let cards: Vec<String> = fits[..2880 * 2]
        .chunks(80)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let end = cards.iter().position(|c| c.starts_with("END ")).unwrap();
    let card = |k: &str| {
        cards
            .iter()
            .find(|c| c.starts_with(k))
            .map(|c| c[10..30].trim().to_string())
    };
    let shift: u32 = card("SUMSHIFT").expect("SUMSHIFT").parse().unwrap();
    assert!(shift > 0);
    assert!(card("PEDESTAL").is_some());
    let data = &fits[(end * 80 / 2880 + 1) * 2880..];
    let n = 320 * 240;
    let at_top = data[..2 * n]
        .chunks(2)
        .filter(|b| i16::from_be_bytes([b[0], b[1]]) == i16::MAX)
        .count();
    // The old sum put about a third of the pixels at 65535.
    assert!(at_top * 1000 < n, "{at_top} of {n} samples at the top");
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("img20260812-213000.fits.json")).unwrap())
            .unwrap();
    assert_eq!(side["sum_fit"]["shift"].as_u64(), Some(u64::from(shift)));
}

#[test]
fn imported_display_images_are_not_stretched_a_second_time() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("frames");
    std::fs::create_dir_all(&src).unwrap();
    // A finished picture (a gradient with colour), saved losslessly, twice.
    let img = image::RgbImage::from_fn(64, 32, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 8) as u8, 200 - (x + y) as u8])
    });
    for name in ["img20260812213000.png", "img20260812213100.png"] {
        img.save(src.join(name)).unwrap();
    }
    let j = tmp.path().join("j");
    assert!(
        run(&["-q", "import", src.to_str().unwrap(), j.to_str().unwrap()])
            .status
            .success()
    );
    let out = tmp.path().join("s");
    let o = run(&[
        "-q",
        "stack",
        j.to_str().unwrap(),
        "--every",
        "all",
        "--format",
        "png",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", printed(&o));
    let stacked = image::open(out.join("img20260812-213000.png"))
        .unwrap()
        .to_rgb16();
    for (x, y, p) in stacked.enumerate_pixels() {
        let want = img.get_pixel(x, y);
        for c in 0..3 {
            assert_eq!(p[c], u16::from(want[c]) * 257, "pixel {x},{y} channel {c}");
        }
    }
}

/// A 16-bit RGB frame of an outside tool, its values using all 16 bits.
fn rgb16_frame(i: u32, w: u32, h: u32) -> image::ImageBuffer<image::Rgb<u16>, Vec<u16>> {
    image::ImageBuffer::from_fn(w, h, |x, y| {
        let v = 1000 + x * 997 + y * 331 + i * 4099;
        image::Rgb([
            (v % 65_521) as u16,
            (v * 3 % 65_519) as u16,
            (v * 7 % 65_497) as u16,
        ])
    })
}

#[test]
fn sixteen_bit_rgb_tiffs_stay_sixteen_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("tiffs");
    std::fs::create_dir_all(&src).unwrap();
    let (w, h) = (48, 32);
    let frames: Vec<_> = (0..3).map(|i| rgb16_frame(i, w, h)).collect();
    for (i, f) in frames.iter().enumerate() {
        f.save(src.join(format!("img2026081221300{i}.tiff")))
            .unwrap();
    }
    let j = tmp.path().join("j");
    let o = run(&["-q", "import", src.to_str().unwrap(), j.to_str().unwrap()]);
    assert!(o.status.success(), "{}", printed(&o));
    let info = support::info_json(&j);
    assert_eq!(info["frames"], 3, "{info}");
    let out = tmp.path().join("s");
    for format in ["fits", "png"] {
        let o = run(&[
            "-q",
            "stack",
            j.to_str().unwrap(),
            "--every",
            "all",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", printed(&o));
    }
    let fits =
        nightcap_stack::output::fits::read_fits(&out.join("img20260812-213000.fits")).unwrap();
    assert_eq!(fits.image.channels, 3);
    let png = image::open(out.join("img20260812-213000.png"))
        .unwrap()
        .to_rgb16();
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let want = frames.iter().map(|f| f.get_pixel(x, y)[c]).max().unwrap();
                let i = ((y * w + x) * 3 + c as u32) as usize;
                assert_eq!(fits.image.data[i], want, "FITS pixel {x},{y} channel {c}");
                assert_eq!(
                    png.get_pixel(x, y)[c],
                    want,
                    "PNG pixel {x},{y} channel {c}"
                );
            }
        }
    }
}

/// A FITS file as capture programs write it: unsigned 16-bit (`BZERO = 32768`), one plane,
/// `BAYERPAT`, `DATE-OBS`, `EXPTIME`; `rows` top-down as stored.
fn write_raw_fits(path: &Path, w: usize, rows: &[Vec<u16>], cards: &[(&str, &str)]) {
    let mut head = String::new();
    let mut card = |k: &str, v: &str| head.push_str(&format!("{k:<8}= {v:<70}"));
    card("SIMPLE", "T");
    card("BITPIX", "16");
    card("NAXIS", "2");
    card("NAXIS1", &w.to_string());
    card("NAXIS2", &rows.len().to_string());
    card("BZERO", "32768");
    for (k, v) in cards {
        card(k, v);
    }
    head.push_str(&format!("{:<80}", "END"));
    while !head.len().is_multiple_of(2880) {
        head.push(' ');
    }
    let mut bytes = head.into_bytes();
    for row in rows {
        for &v in row {
            bytes.extend_from_slice(&(v ^ 0x8000).to_be_bytes());
        }
    }
    while !bytes.len().is_multiple_of(2880) {
        bytes.push(0);
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn raw_fits_frames_import_with_their_bayer_pattern_time_and_exposure() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, h) = (40usize, 30usize);
    let frame = |i: usize| -> Vec<Vec<u16>> {
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| ((x * 37 + y * 101 + i * 53) % 4096) as u16)
                    .collect()
            })
            .collect()
    };
    // The same three frames, once top-down and once bottom-up (rows stored last first,
    // so BAYERPAT names the pattern of the image's last row: GRBG's odd rows are BG).
    for (folder, bottom_up) in [("top", false), ("bottom", true)] {
        let src = tmp.path().join(folder);
        std::fs::create_dir_all(&src).unwrap();
        for i in 0..3 {
            let mut rows = frame(i);
            let (pattern, order) = if bottom_up {
                rows.reverse();
                ("'BGGR'", "'BOTTOM-UP'")
            } else {
                ("'GRBG'", "'TOP-DOWN'")
            };
            let date = format!("'2026-08-12T21:30:{:02}.250'", i * 5);
            write_raw_fits(
                &src.join(format!("Light_{i:03}.fits")),
                w,
                &rows,
                &[
                    ("BAYERPAT", pattern),
                    ("ROWORDER", order),
                    ("BITDEPTH", "12"),
                    ("DATE-OBS", &date),
                    ("EXPTIME", "5.0"),
                ],
            );
        }
        let j = tmp.path().join(format!("j-{folder}"));
        let o = run(&["-q", "import", src.to_str().unwrap(), j.to_str().unwrap()]);
        assert!(o.status.success(), "{folder}: {}", printed(&o));
        let out = tmp.path().join(format!("x-{folder}"));
        let o = run(&[
            "-q",
            "export",
            j.to_str().unwrap(),
            out.to_str().unwrap(),
            "--format",
            "fits",
        ]);
        assert!(o.status.success(), "{folder}: {}", printed(&o));
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "00000000-20260812-213000.fits",
                "00000001-20260812-213005.fits",
                "00000002-20260812-213010.fits"
            ],
            "{folder}: frames named by their DATE-OBS"
        );
        for (i, name) in names.iter().enumerate() {
            let f = nightcap_stack::output::fits::read_fits(&out.join(name)).unwrap();
            assert_eq!(f.get("BAYERPAT"), Some("GRBG"), "{folder} {name}");
            assert_eq!(
                f.get("EXPTIME").map(|v| v.parse::<f64>().unwrap()),
                Some(5.0)
            );
            let want: Vec<u16> = frame(i).concat();
            assert_eq!(
                f.image.data, want,
                "{folder} {name}: samples kept as they were"
            );
        }
    }
}

#[test]
fn a_night_exported_to_fits_and_imported_back_stacks_to_the_same_picture() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    support::sim_capture(&[
        "--sim-sensor",
        "small",
        "--frames",
        "12",
        "--journal",
        &p("j"),
    ]);
    for args in [
        vec!["-q", "export", &p("j"), &p("fits"), "--format", "fits"],
        vec!["-q", "import", &p("fits"), &p("back")],
        vec!["-q", "stack", &p("j"), "--every", "all", "--out", &p("s1")],
        vec![
            "-q",
            "stack",
            &p("back"),
            "--every",
            "all",
            "--out",
            &p("s2"),
        ],
    ] {
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", printed(&o));
    }
    assert_eq!(support::info_json(&tmp.path().join("back"))["frames"], 12);
    let name = "img20260812-213000.jpg";
    let (a, b) = (
        std::fs::read(tmp.path().join("s1").join(name)).unwrap(),
        std::fs::read(tmp.path().join("s2").join(name)).unwrap(),
    );
    assert!(a == b, "the imported night stacks to another picture");
}
