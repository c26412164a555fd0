//! Process crashes: `nightcap capture` on the simulated sky, SIGKILLed at random moments
//! and restarted on the same journal, over and over. After every kill: every frame that
//! reads back equals the frame the sky rendered, seqs have no holes, the only GAPs are
//! restarts and pipeline drops (which explain every missing exposure), every sealed
//! segment seen before the kill is byte-identical after it, every frame a reader could
//! read just before the kill is still there, and the journal keeps growing.
//!
//! Quick version: 200 kills. `scripts/kill-campaign.sh N` runs N
//! (`NIGHTCAP_KILLS=N cargo test --test crash -- --nocapture`).

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nightcap::journal::Journal;
use support::{campaign_size, check_journal, nightcap, sealed_hashes, tiny_config, utc_arg, Rng};

const HOUR_NS: i64 = 3_600_000_000_000;

fn base_ns() -> i64 {
    nightcap::time::parse_utc("2026-01-01T00:00").unwrap()
}

/// Each run starts its simulated sky an hour after the previous one, so a frame's time
/// says which run (and which sky) it came from.
fn run_of(t: i64) -> Option<nightcap::source::sim::SimConfig> {
    let since = t.checked_sub(base_ns())?;
    (since >= 0).then(|| tiny_config(base_ns() + since / HOUR_NS * HOUR_NS))
}

fn spawn(dir: &Path, run: i64, stderr: &Path, frames: Option<u64>) -> std::process::Child {
    let start = utc_arg(base_ns() + run * HOUR_NS);
    let mut args = vec![
        "capture",
        "--source",
        "sim",
        "--sim-sensor",
        "tiny",
        "-d",
        "0",
        "--segment-size",
        "64K",
        "--reserve",
        "0",
        "--workers",
        "2",
        "--sim-start",
        &start,
    ];
    let n = frames.map(|n| n.to_string());
    match &n {
        Some(n) => args.extend(["--sim-speed", "0", "--frames", n]),
        None => args.extend(["--sim-speed", "1000"]),
    }
    nightcap()
        .args(&args)
        .arg("--journal")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(fs::File::create(stderr).unwrap())
        .spawn()
        .expect("nightcap starts")
}

/// Frames a reader can read right now (the journal is being written).
fn readable_now(dir: &Path) -> u64 {
    for _ in 0..20 {
        // A segment renamed between listing and opening is a transient error.
        if let Ok(j) = Journal::open(dir) {
            return j.frames().len() as u64;
        }
    }
    0
}

#[test]
fn sigkill_campaign() {
    let kills = campaign_size("NIGHTCAP_KILLS", 200);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let stderr = tmp.path().join("stderr");
    let mut rng = Rng(0x5EED_0001);
    let mut known: BTreeMap<PathBuf, u64> = BTreeMap::new();
    let (mut compared, mut frames, mut grew, mut violations) = (0u64, 0u64, 0u64, Vec::new());
    let mut restarts_seen = 0u64;
    let started = Instant::now();
    for run in 0..kills as i64 {
        let mut child = spawn(&dir, run, &stderr, None);
        std::thread::sleep(Duration::from_millis(rng.range(5, 60)));
        known.extend(sealed_hashes(&dir));
        let seen = readable_now(&dir);
        child.kill().unwrap();
        child.wait().unwrap();
        let err = fs::read_to_string(&stderr).unwrap_or_default();
        if err.contains("panicked") {
            violations.push(format!("run {run} panicked: {err}"));
        }
        for (path, h) in &known {
            match fs::read(path) {
                Ok(b) if support::hash(&b) == *h => {}
                Ok(_) => violations.push(format!("run {run}: {} changed", path.display())),
                Err(e) => violations.push(format!("run {run}: {} gone: {e}", path.display())),
            }
        }
        let c = check_journal(&dir, compared, &run_of);
        violations.extend(c.violations.iter().map(|v| format!("run {run}: {v}")));
        violations.extend(c.damage.iter().map(|d| format!("run {run}: damage {d}")));
        if c.frames < seen {
            violations.push(format!(
                "run {run}: {seen} frames readable before the kill, {} after",
                c.frames
            ));
        }
        for reason in c.gaps_by_reason.keys() {
            // 1 writer behind (pipeline drops), 3 driver sequence skip (the simulated
            // driver's queue overflowed while the process started), 7 restart.
            if ![1, 3, 7].contains(reason) {
                violations.push(format!("run {run}: unexpected GAP reason {reason}"));
            }
        }
        restarts_seen = c.gaps_by_reason.get(&7).copied().unwrap_or(0);
        grew += u64::from(c.frames > frames);
        frames = frames.max(c.frames);
        compared = c.frames;
        assert!(violations.len() < 20, "{violations:#?}");
    }
    // A last clean run: capture continues after all those kills and exits cleanly.
    let mut child = spawn(&dir, kills as i64, &stderr, Some(40));
    let status = child.wait().unwrap();
    let final_check = check_journal(&dir, compared, &run_of);
    let verify = nightcap().arg("verify").arg(&dir).output().unwrap();
    println!(
        "crash campaign: {kills} SIGKILLs in {:.1} s, {frames} frames after the kills \
         (journal grew in {grew} runs), {restarts_seen} restart GAPs, {} sealed segments \
         checked byte-identical after every kill, {} frames compared bit-exact, {} violations",
        started.elapsed().as_secs_f64(),
        known.len(),
        final_check.compared + compared,
        violations.len() + final_check.violations.len()
    );
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        status.success(),
        "clean run failed: {}",
        fs::read_to_string(&stderr).unwrap_or_default()
    );
    assert!(
        final_check.violations.is_empty() && final_check.damage.is_empty(),
        "{:#?} {:#?}",
        final_check.violations,
        final_check.damage
    );
    assert_eq!(
        final_check.frames,
        frames + 40,
        "the clean run adds its 40 frames"
    );
    // Kills 5 ms after the start often land before the process has opened the journal;
    // on a loaded machine more so. Progress in one run in ten is plenty.
    assert!(
        grew * 10 >= kills,
        "capture made progress in only {grew} of {kills} runs"
    );
    assert!(
        verify.status.success(),
        "verify after the campaign: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
