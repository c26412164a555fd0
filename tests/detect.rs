//! `nightcap detect` as a user meets it: a simulated night captured with the original
//! program's kind of command, searched, its events written and scored against the
//! simulation's truth; detection beside a capture (`capture --detect`) and following a
//! journal (`detect --follow`) finding the same events; star trails and stacks with `--clean` (the planes' and
//! satellites' lines gone, meteors kept, nothing else touched); bad input (a journal of
//! one frame, a damaged frame, a bad threshold). The campaign (ignored in the quick run) scores several nights with and
//! without linking streaks across exposures, through the library (three nights of 150
//! 8 MP frames: about a minute on 2 cores).

mod support;

use std::fs;
use std::path::Path;

use nightcap_source::sim::SensorPreset;
use support::{nightcap, nights, printed, sim_capture};

/// A simulated night at the benchmark's rates (what `sim_capture` runs, plus these flags).
fn capture(journal: &Path, sensor: &str, frames: u32, seed: u32) {
    let (frames, seed) = (frames.to_string(), seed.to_string());
    let journal = journal.to_str().expect("UTF-8 path");
    sim_capture(&[
        "--sim-sensor",
        sensor,
        "--sim-rates",
        "60,20,6",
        "--reserve",
        "0",
        "--frames",
        &frames,
        "--seed",
        &seed,
        "--journal",
        journal,
    ]);
}

/// `(labels, visible, found, events, correct)` of a class in the printed score.
fn class_line(text: &str, class: &str) -> [usize; 5] {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{class} ")) && l.contains('%'))
        .unwrap_or_else(|| panic!("no {class} line in {text}"));
    let n: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    [n[0], n[1], n[2], n[3], n[4]]
}

#[test]
fn detect_finds_the_meteors_satellites_and_planes_of_a_simulated_night() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, out) = (dir.path().join("night"), dir.path().join("found"));
    capture(&journal, "imx219", 120, 2);
    assert!(
        journal.join("sim-truth.jsonl").is_file(),
        "the simulation's truth"
    );
    let o = nightcap()
        .arg("detect")
        .arg(&journal)
        .arg("--out")
        .arg(&out)
        .arg("--composite")
        .output()
        .unwrap();
    let text = printed(&o);
    assert!(o.status.success(), "{text}");
    // One event per line in both files, every line a JSON object with a class.
    let jsonl = fs::read_to_string(out.join("events.jsonl")).unwrap();
    let csv = fs::read_to_string(out.join("events.csv")).unwrap();
    let events: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!events.is_empty());
    assert_eq!(
        csv.lines().count(),
        events.len() + 1,
        "a header and one line per event"
    );
    let meteors: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["class"] == "meteor").collect();
    for e in &events {
        assert!(["meteor", "satellite", "plane", "other"].contains(&e["class"].as_str().unwrap()));
        let frames = e["frames"].as_array().unwrap();
        assert!(!frames.is_empty());
        assert!(frames
            .iter()
            .all(|f| f["profile"].as_array().unwrap().len() == 32));
    }
    // A crop per meteor, named by its first frame.
    for m in &meteors {
        let seq = m["frames"][0]["seq"].as_u64().unwrap();
        let png = out.join(format!("meteor-{seq}.png"));
        assert!(
            fs::read(&png).unwrap().starts_with(b"\x89PNG"),
            "{}",
            png.display()
        );
    }
    // The meteors of the night on one image.
    assert!(
        fs::read(out.join("meteors.jpg"))
            .unwrap()
            .starts_with(b"\xff\xd8"),
        "meteors.jpg"
    );
    assert!(
        text.contains(&format!("{} meteors over the night's sky", meteors.len())),
        "{text}"
    );
    // Scored against the truth the capture left: what a user of the simulation sees.
    assert!(text.contains("score against"), "{text}");
    let [_, visible, found, events_m, correct] = class_line(&text, "meteor");
    assert!(visible >= 5, "{text}");
    assert!(
        found * 10 >= visible * 8,
        "meteor recall below 80 %: {text}"
    );
    assert!(
        correct * 10 >= events_m * 9,
        "meteor precision below 90 %: {text}"
    );
    for class in ["satellite", "plane"] {
        let [_, visible, found, _, _] = class_line(&text, class);
        assert!(found * 10 >= visible * 9, "{class}: {text}");
    }
    assert!(
        text.contains("meteors called on a plane's or satellite's streak: 0"),
        "{text}"
    );
}

/// A streak of one frame: its ends, full-resolution pixels.
type Piece = ((f32, f32), (f32, f32));

/// The streak pieces of the truth file's events of `classes` with at least `snr`: `(from, to)` in full-resolution pixels.
fn truth_pieces(journal: &Path, classes: &[&str], snr: f64) -> Vec<Piece> {
    let text = fs::read_to_string(journal.join("sim-truth.jsonl")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if !classes.contains(&v["class"].as_str().unwrap()) || v["snr"].as_f64().unwrap() < snr {
            continue;
        }
        for f in v["frames"].as_array().unwrap() {
            let p = |k: &str, i: usize| f[k][i].as_f64().unwrap() as f32;
            out.push(((p("from", 0), p("from", 1)), (p("to", 0), p("to", 1))));
        }
    }
    out
}

/// Brightest sample of the 4x4 block around (x, y) (a whole mosaic tile or two), or
/// `None` off the image.
fn around(img: &nightcap_frame::pixels::Image16, x: f32, y: f32) -> Option<u16> {
    let (x, y) = (x as i64, y as i64);
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    if x < 4 || y < 4 || x >= w - 4 || y >= h - 4 {
        return None;
    }
    let mut best = 0;
    for dy in -2..2 {
        for dx in -2..2 {
            best = best.max(img.data[((y + dy) * w + x + dx) as usize]);
        }
    }
    Some(best)
}

/// The excess of the image along each piece over the sky 30 pixels to the side: per
/// piece, the median (`brightest` false) or the largest over its middle half; then the
/// median over the pieces.
fn excess_along(img: &nightcap_frame::pixels::Image16, pieces: &[Piece], brightest: bool) -> f32 {
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let mut per_piece = Vec::new();
    for &(a, b) in pieces {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = dx.hypot(dy);
        if len < 10.0 {
            continue;
        }
        let (nx, ny) = (-dy / len * 30.0, dx / len * 30.0);
        let mut v: Vec<f32> = (5..=15)
            .filter_map(|k| {
                let t = k as f32 / 20.0;
                let (x, y) = (a.0 + t * dx, a.1 + t * dy);
                let on = around(img, x, y)?;
                let off = around(img, x + nx, y + ny)?;
                Some(f32::from(on) - f32::from(off))
            })
            .collect();
        if v.len() < 5 {
            continue;
        }
        per_piece.push(if brightest {
            v.iter().copied().fold(f32::MIN, f32::max)
        } else {
            median(&mut v)
        });
    }
    assert!(
        per_piece.len() >= 3,
        "too few streaks to measure: {}",
        per_piece.len()
    );
    median(&mut per_piece)
}

#[test]
fn clean_star_trails_leave_out_planes_and_satellites_and_keep_meteors() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("night");
    let journal_s = journal.to_str().unwrap();
    // A Pi camera v2 in its binned mode, ten minutes with two planes, four satellites
    // and seven meteors (seed 2).
    sim_capture(&[
        "--sim-sensor",
        "imx219",
        "--size",
        "1640x1232",
        "--sim-rates",
        "60,20,6",
        "--reserve",
        "0",
        "--frames",
        "120",
        "--seed",
        "2",
        "--journal",
        journal_s,
    ]);
    let trails = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let o = nightcap()
            .args(["trails", journal_s, "--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let text = printed(&o);
        assert!(o.status.success(), "{text}");
        (
            nightcap_stack::output::fits::read_fits(&out).unwrap().image,
            text,
        )
    };
    let (plain, _) = trails("plain.fits", &[]);
    let (clean, said) = trails("clean.fits", &["--clean", "--keep", "meteors"]);
    assert!(
        said.contains("clean: 2 planes, 4 satellites left out of")
            && said.contains("(kept in: meteor)"),
        "{said}"
    );
    let movers = truth_pieces(&journal, &["plane", "satellite"], 20.0);
    let meteors = truth_pieces(&journal, &["meteor"], 8.0);
    let (was, is) = (
        excess_along(&plain, &movers, false),
        excess_along(&clean, &movers, false),
    );
    eprintln!("planes and satellites: {was} -> {is}");
    assert!(
        was > 100.0,
        "the plain trails show the planes and satellites: {was}"
    );
    assert!(
        is < 0.05 * was,
        "their lines are gone from the clean trails: {is} (was {was})"
    );
    let (was, is) = (
        excess_along(&plain, &meteors, true),
        excess_along(&clean, &meteors, true),
    );
    assert!(was > 10.0, "the plain trails show the meteors: {was}");
    assert!(is >= 0.9 * was, "meteors are kept: {is} (was {was})");
    // Nothing but the streaks changed: every pixel that differs lies near a plane's or
    // a satellite's path.
    let all_movers = truth_pieces(&journal, &["plane", "satellite"], 0.0);
    let near = |x: f32, y: f32| {
        all_movers.iter().any(|&(a, b)| {
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let l2 = (dx * dx + dy * dy).max(1e-6);
            let t = (((x - a.0) * dx + (y - a.1) * dy) / l2).clamp(0.0, 1.0);
            (x - a.0 - t * dx).hypot(y - a.1 - t * dy) < 40.0
        })
    };
    let w = plain.width as usize;
    let changed: Vec<usize> = (0..plain.data.len())
        .filter(|&i| plain.data[i] != clean.data[i])
        .collect();
    assert!(!changed.is_empty());
    let astray: Vec<(usize, usize)> = changed
        .iter()
        .map(|&i| (i % w, i / w))
        .filter(|&(x, y)| !near(x as f32 + 0.5, y as f32 + 0.5))
        .collect();
    assert!(
        astray.is_empty(),
        "{} pixels changed away from any plane or satellite, e.g. {:?}",
        astray.len(),
        &astray[..astray.len().min(5)]
    );
    // A clean max-stack of the whole night is the same image, pixel for pixel, from the
    // events of an earlier detect run.
    let found = dir.path().join("found");
    let o = nightcap()
        .args(["detect", journal_s, "--out", found.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", printed(&o));
    let stacks = dir.path().join("stacks");
    let events = found.join("events.jsonl");
    let o = nightcap()
        .args([
            "stack", journal_s, "--every", "all", "--format", "fits", "--clean",
        ])
        .args(["--keep", "meteors", "--events", events.to_str().unwrap()])
        .args(["--out", stacks.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", printed(&o));
    let fits: Vec<_> = fs::read_dir(&stacks)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "fits"))
        .collect();
    assert_eq!(fits.len(), 1, "{fits:?}");
    let stacked = nightcap_stack::output::fits::read_fits(&fits[0])
        .unwrap()
        .image;
    assert!(
        stacked.data == clean.data,
        "stack --clean differs from trails --clean"
    );
    // Without --keep, the meteors go too.
    let (all_out, said) = trails("all-out.fits", &["--clean"]);
    assert!(
        said.contains("meteor") && !said.contains("kept in"),
        "{said}"
    );
    let (was, is) = (
        excess_along(&plain, &meteors, true),
        excess_along(&all_out, &meteors, true),
    );
    eprintln!("meteors, none kept: {was} -> {is}");
    assert!(
        is < 0.3 * was,
        "meteors are left out without --keep: {is} (was {was})"
    );
}

/// `(class, first seq, last seq)` of each line of an events.jsonl, sorted.
fn event_keys(path: &Path) -> Vec<(String, u64, u64)> {
    let text = fs::read_to_string(path).unwrap();
    let mut keys: Vec<(String, u64, u64)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let frames = v["frames"].as_array().unwrap();
            let seq = |f: &serde_json::Value| f["seq"].as_u64().unwrap();
            (
                v["class"].as_str().unwrap().to_string(),
                seq(&frames[0]),
                seq(&frames[frames.len() - 1]),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn live_detection_beside_a_capture_and_following_a_journal_find_what_detect_finds_after() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("night");
    let (live, followed, after) = (
        dir.path().join("live"),
        dir.path().join("followed"),
        dir.path().join("after"),
    );
    let j = journal.to_str().unwrap();
    // Ten simulated minutes at 60x (ten seconds), detecting beside the capture; a
    // second process follows the journal as it grows.
    let capture = nightcap()
        .args([
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "imx219",
            "--size",
            "1640x1232",
        ])
        .args([
            "--sim-speed",
            "60",
            "--for",
            "10m",
            "--sim-rates",
            "60,20,6",
            "--seed",
            "2",
        ])
        .args(["-d", "0", "--reserve", "0", "--journal", j, "--detect"])
        .arg(&live)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !journal.is_dir() {
        assert!(
            std::time::Instant::now() < deadline,
            "capture never made its journal"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // With -v the follower says where it caught up with the journal.
    let mut follower = nightcap()
        .args(["-v", "detect", j, "--follow", "--out"])
        .arg(&followed)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let said_by_follower = {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let err = follower.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let out = capture.wait_with_output().unwrap();
    let said = printed(&out);
    assert!(out.status.success(), "{said}");
    // Every frame written is searched. (A capture starved of CPU drops frames rather
    // than keep the camera waiting, as designed; under a loaded test run it may: that
    // detection costs it no frame is measured by scripts/live-detect-cost.sh, not here.)
    let written = nightcap_journal::Journal::open(&journal).unwrap().frames();
    let last_seq = written.last().unwrap().entry.seq;
    // Each event is said as it is found, a meteor with its crop.
    assert!(said.contains("detect: meteor at 2026-08-12 "), "{said}");
    assert!(said.contains("detect: plane at "), "{said}");
    let searched = format!("{} frames searched: ", written.len());
    assert!(said.contains(&format!("detect: {searched}")), "{said}");
    // Once the follower has caught up with the last frame, Ctrl-C ends it with success.
    let mut follower_said = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !follower_said.contains(&format!("searched up to frame {last_seq};")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match said_by_follower.recv_timeout(left) {
            Ok(line) => follower_said += &(line + "\n"),
            Err(_) => panic!("the follower never caught up: {follower_said}"),
        }
    }
    let pid = follower.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    assert!(follower.wait().unwrap().success(), "{follower_said}");
    while let Ok(line) = said_by_follower.recv_timeout(std::time::Duration::from_secs(10)) {
        follower_said += &(line + "\n");
    }
    assert!(follower_said.contains(&searched), "{follower_said}");
    // The same events as a detect run over the finished journal.
    let o = nightcap()
        .args(["detect", j, "--out"])
        .arg(&after)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", printed(&o));
    let want = event_keys(&after.join("events.jsonl"));
    assert!(want.iter().any(|k| k.0 == "meteor") && want.iter().any(|k| k.0 == "plane"));
    assert_eq!(
        event_keys(&live.join("events.jsonl")),
        want,
        "capture --detect"
    );
    assert_eq!(
        event_keys(&followed.join("events.jsonl")),
        want,
        "detect --follow"
    );
    for d in [&live, &followed] {
        let csv = fs::read_to_string(d.join("events.csv")).unwrap();
        assert_eq!(
            csv.lines().count(),
            want.len() + 1,
            "a header and a line per event"
        );
        for (class, seq, _) in want.iter().filter(|k| k.0 == "meteor") {
            assert!(
                d.join(format!("meteor-{seq}.png")).is_file(),
                "{class} {seq} crop in {}",
                d.display()
            );
        }
    }
}

#[test]
fn bad_input_gets_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    capture(&one, "small", 1, 1);
    let o = nightcap()
        .arg("detect")
        .arg(&one)
        .arg("--out")
        .arg(dir.path().join("o1"))
        .output()
        .unwrap();
    let text = printed(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("needs at least two frames in a row"),
        "{text}"
    );
    assert!(text.contains("0 meteors"), "{text}");
    // A bad threshold is a command-line error, before anything is written.
    let o = nightcap()
        .args(["detect", "--sigma", "0"])
        .arg(&one)
        .arg("--out")
        .arg(dir.path().join("o2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", printed(&o));
    assert!(!dir.path().join("o2").exists());
    // A damaged frame is skipped and said, the rest searched: exit 3, as verify.
    let night = dir.path().join("night");
    capture(&night, "small", 30, 1);
    let seg = fs::read_dir(&night)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0x5a;
    }
    fs::write(&seg, bytes).unwrap();
    let o = nightcap()
        .arg("detect")
        .arg(&night)
        .arg("--out")
        .arg(dir.path().join("o3"))
        .output()
        .unwrap();
    let text = printed(&o);
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert!(text.contains("skipped damaged frame"), "{text}");
    assert!(text.contains("damaged, skipped"), "{text}");
    assert!(dir.path().join("o3/events.jsonl").is_file());
    // Not a journal: one line, exit 1.
    let o = nightcap()
        .arg("detect")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", printed(&o));
}

#[test]
#[ignore = "scores several simulated nights (a few minutes): run with `cargo test -- --include-ignored`, as CI does"]
fn linking_across_exposures_keeps_planes_and_satellites_from_being_called_meteors() {
    let seeds = [1, 2, 3];
    let searched = nights::search(SensorPreset::Imx219, &seeds, 150, 5.0, &[true, false]);
    let (linked, alone) = (&searched[0].score, &searched[1].score);
    println!("linking across exposures:\n{linked}\nevery streak alone (baseline):\n{alone}");
    let m = &linked.classes["meteor"];
    assert!(
        m.recall() >= 0.85,
        "meteor recall {:.3}\n{linked}",
        m.recall()
    );
    assert!(
        m.precision() >= 0.9,
        "meteor precision {:.3}\n{linked}",
        m.precision()
    );
    assert_eq!(linked.meteors_on_planes_or_satellites, 0, "{linked}");
    for class in ["satellite", "plane"] {
        let c = &linked.classes[class];
        assert!(c.recall() >= 0.9, "{class} {:.3}\n{linked}", c.recall());
    }
    // What linking buys: fewer meteors called on satellites' and planes' streaks, and
    // better meteor precision than classifying each streak alone.
    assert!(alone.meteors_on_planes_or_satellites > 0, "{alone}");
    assert!(
        m.precision() > alone.classes["meteor"].precision(),
        "{alone}"
    );
}
