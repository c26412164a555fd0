//! Copy while writing: `nightcap capture` writes at a real frame rate while the journal is
//! copied with `rsync -a` and the active segment with `cp`, every 0.2-1 s. Every copied
//! sealed segment is byte-identical to the original and reads back bit-exact; every
//! copied active segment yields a valid prefix of bit-exact frames, opened as unsealed;
//! `Journal::open` and `nightcap verify` work on every copy (the only damage allowed is
//! the end of an active segment's valid prefix) and on the live journal itself.
//!
//! Quick version: about 10 s of capture. `scripts/copy-campaign.sh SECONDS` runs longer
//! (`NIGHTCAP_COPY_SECONDS=60 cargo test --test copy_while_writing -- --nocapture`).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nightcap_journal::format::SegmentState;
use nightcap_journal::reader::OpenedBy;
use nightcap_journal::Journal;
use support::{campaign_size, check_journal, nightcap, tiny_config, utc_arg, Rng};

fn start_ns() -> i64 {
    nightcap_frame::time::parse_utc("2026-03-01T00:00").unwrap()
}

fn run_of(_t: i64) -> Option<nightcap_source::sim::SimConfig> {
    Some(tiny_config(start_ns()))
}

/// Whether an `rsync -a` of the live journal went as a copy of a directory being written
/// can: exit 0; 24 (files vanished: an active segment was sealed, renamed, meanwhile); or
/// 23 when every error it printed is about such a file (gone between the listing and its
/// transfer) or about the active segment changing while it was read (rsync then discards
/// that file's update). Whatever it did copy is checked like every other copy.
fn rsync_ok(out: &std::process::Output) -> bool {
    match out.status.code() {
        Some(0 | 24) => true,
        Some(23) => {
            let text = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with("rsync error: some files"))
                .collect();
            !errors.is_empty()
                && errors.iter().all(|l| {
                    l.contains("vanished")
                        || l.contains("No such file or directory (2)")
                        || (l.contains("failed verification") && l.contains(".active"))
                })
        }
        _ => false,
    }
}

/// Checks one copy; returns problems found.
fn check_copy(copy: &Path, original: &Path, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let c = check_journal(copy, 0, &run_of);
    problems.extend(c.violations.iter().map(|v| format!("{what}: {v}")));
    for d in &c.damage {
        let active = d.segment.extension().is_some_and(|e| e == "active");
        if !(active && d.what.contains("valid prefix ends here")) {
            problems.push(format!("{what}: damage {d}"));
        }
    }
    match Journal::open(copy) {
        Ok(j) => {
            for s in &j.segments {
                let sealed = s.name.state == SegmentState::Sealed;
                if sealed {
                    let name = s.path.file_name().unwrap();
                    let copied = fs::read(&s.path).unwrap();
                    if fs::read(original.join(name)).ok() != Some(copied) {
                        problems.push(format!("{what}: {name:?} differs from the original"));
                    }
                    if s.opened_by != OpenedBy::Footer {
                        problems.push(format!("{what}: {name:?} not opened by its footer"));
                    }
                } else if s.opened_by != OpenedBy::Prefix {
                    problems.push(format!("{what}: active copy not read as a prefix"));
                }
            }
        }
        Err(e) => problems.push(format!("{what}: Journal::open: {e}")),
    }
    let v = nightcap().arg("verify").arg(copy).output().unwrap();
    let out = String::from_utf8_lossy(&v.stdout);
    let only_prefix_ends = out
        .lines()
        .filter(|l| l.starts_with("damaged: "))
        .all(|l| l.contains(".active at offset") && l.contains("valid prefix ends here"));
    match v.status.code() {
        Some(0) => {}
        Some(3) if only_prefix_ends => {}
        code => problems.push(format!("{what}: verify exited {code:?}: {out}")),
    }
    problems
}

#[test]
#[ignore = "campaign (copies while capturing): run with `cargo test -- --include-ignored`, as CI does"]
fn copies_taken_while_capturing_are_valid() {
    if Command::new("rsync").arg("--version").output().is_err() {
        println!("copy campaign skipped: rsync is not installed");
        return;
    }
    let seconds = campaign_size("NIGHTCAP_COPY_SECONDS", 10);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    // Tiny frames every 25 ms of wall time (5.02 s exposures at 200x), 64 KiB segments:
    // a segment is sealed about every half second.
    let child = nightcap()
        .args([
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "tiny",
            "--sim-speed",
            "200",
            "-d",
            "0",
            "--segment-size",
            "64K",
            "--reserve",
            "0",
            "--sim-start",
            &utc_arg(start_ns()),
        ])
        .arg("--journal")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rng = Rng(0xC0FF_EE00);
    let started = Instant::now();
    let (mut rsyncs, mut cps, mut problems) = (0u64, 0u64, Vec::new());
    let (mut sealed_copied, mut active_frames, mut live_verifies) = (0u64, 0u64, 0u64);
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(rng.range(200, 1000)));
        let copy = tmp.path().join(format!("rsync{rsyncs}"));
        let out = Command::new("rsync")
            .arg("-a")
            .arg(format!("{}/", dir.display()))
            .arg(&copy)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        if !rsync_ok(&out) {
            problems.push(format!(
                "rsync exited {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        problems.extend(check_copy(&copy, &dir, &format!("rsync copy {rsyncs}")));
        sealed_copied += fs::read_dir(&copy)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .count() as u64;
        rsyncs += 1;
        // Reading the live journal itself: segments are sealed (renamed) between listing
        // and opening; that must not fail the reader.
        let v = nightcap().arg("verify").arg(&dir).output().unwrap();
        if !v.status.success() {
            problems.push(format!(
                "verify of the live journal exited {:?}: {}{}",
                v.status.code(),
                String::from_utf8_lossy(&v.stdout),
                String::from_utf8_lossy(&v.stderr)
            ));
        }
        live_verifies += 1;
        let active = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "active"));
        if let Some(active) = active {
            let cdir = tmp.path().join("cp");
            fs::create_dir(&cdir).unwrap();
            let st = Command::new("cp")
                .arg(&active)
                .arg(&cdir)
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if st.success() {
                problems.extend(check_copy(&cdir, &dir, &format!("cp copy {cps}")));
                if let Ok(j) = Journal::open(&cdir) {
                    active_frames += j.frames().len() as u64;
                }
                cps += 1;
            }
            fs::remove_dir_all(&cdir).unwrap();
        }
        fs::remove_dir_all(&copy).unwrap();
    }
    // Stop cleanly: everything sealed; a last rsync equals the original.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = tmp.path().join("last");
    let st = Command::new("rsync")
        .arg("-a")
        .arg(format!("{}/", dir.display()))
        .arg(&last)
        .status()
        .unwrap();
    assert!(st.success());
    let whole = check_journal(&last, 0, &run_of);
    problems.extend(check_copy(&last, &dir, "final copy"));
    println!(
        "copy campaign: {rsyncs} rsync copies ({sealed_copied} sealed segment copies) and \
         {cps} cp copies of the active segment ({active_frames} frames in their prefixes), \
         {live_verifies} verifies of the live journal in {:.1} s; final journal {} frames, \
         {} problems",
        started.elapsed().as_secs_f64(),
        whole.frames,
        problems.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(rsyncs >= seconds, "too few copies: {rsyncs}");
    assert!(whole.frames > 0 && whole.compared == whole.frames);
}

/// Readers of the journal being written (`nightcap info`, `verify`, live stacks) open it
/// while segments are sealed (renamed) and deleted by the ring: every open succeeds and
/// every frame it lists reads back.
#[test]
fn reading_the_live_journal_never_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let mut child = nightcap()
        .args([
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "tiny",
            "--sim-speed",
            "2000",
            "-d",
            "0",
            "--segment-size",
            "16K",
            "--ring-size",
            "200K",
            "--reserve",
            "0",
        ])
        .arg("--journal")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let (mut opens, mut frames, mut failures) = (0u64, 0u64, Vec::new());
    let mut dec = nightcap_journal::codec::Decoder::new();
    let mut scratch = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        if !dir.exists() {
            continue;
        }
        match Journal::open(&dir) {
            Ok(j) => {
                opens += 1;
                for r in j.frames().iter().rev().take(3) {
                    frames += 1;
                    if let Err(e) = j.read_frame(r, &mut dec, &mut scratch) {
                        failures.push(format!("frame read: {e}"));
                    }
                }
            }
            Err(e) => failures.push(format!("open: {e}")),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    println!(
        "live reads: {opens} opens of the journal being written, {frames} frames read, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(opens > 10);
}

#[test]
fn rsync_races_with_the_writer_are_told_from_real_errors() {
    use std::os::unix::process::ExitStatusExt;
    let out = |code: i32, stderr: &str| std::process::Output {
        status: std::process::ExitStatus::from_raw(code << 8),
        stdout: Vec::new(),
        stderr: stderr.as_bytes().to_vec(),
    };
    let tail = "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338) [sender=3.2.7]\n";
    assert!(rsync_ok(&out(0, "")));
    assert!(rsync_ok(&out(
        24,
        "file has vanished: \"/j/00000003.active\"\n"
    )));
    let gone =
        "rsync: [sender] link_stat \"/j/00000003.active\" failed: No such file or directory (2)\n";
    assert!(rsync_ok(&out(23, &format!("{gone}{tail}"))));
    let changed = "ERROR: 00000004.active failed verification -- update discarded.\n";
    assert!(rsync_ok(&out(23, &format!("{changed}{tail}"))));
    // Anything else is a real problem.
    let denied =
        "rsync: [sender] send_files failed to open \"/j/00000002.seg\": Permission denied (13)\n";
    assert!(!rsync_ok(&out(23, &format!("{gone}{denied}{tail}"))));
    assert!(!rsync_ok(&out(23, tail)));
    let sealed = "ERROR: 00000002.seg failed verification -- update discarded.\n";
    assert!(!rsync_ok(&out(23, &format!("{sealed}{tail}"))));
    assert!(!rsync_ok(&out(12, "")));
}
