//! Shared helpers of the integration tests: running the binary and reading what it
//! printed, and for the reliability campaigns (`crash`, `copy_while_writing`,
//! `camera_faults`, `disk_full`, `bad_input`) the simulated sky's exact frames, a full
//! check of a journal against them, and file-tree hashes.
#![allow(dead_code)]

pub mod nights;

use std::collections::BTreeMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nightcap_journal::codec::Decoder;
use nightcap_journal::format::{GapReason, Kind};
use nightcap_journal::{Damage, Journal};
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};

/// The nightcap binary under test.
pub fn nightcap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nightcap"))
}

/// Runs the binary with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    nightcap().args(args).output().expect("binary runs")
}

/// What a run printed: stdout, then stderr.
pub fn printed(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A campaign size: `default` unless the environment variable `var` holds a number
/// (the scripts in `scripts/` run the long versions this way).
pub fn campaign_size(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (splitmix64) for kill times and fault plans.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// The simulated sky the CLI runs with `--sim-sensor tiny --seed 1` and the default
/// exposure (5 s) and gain, starting at `start_ns`.
pub fn tiny_config(start_ns: i64) -> SimConfig {
    SimConfig {
        sensor: SensorPreset::Tiny,
        seed: 1,
        start_utc_ns: start_ns,
        ..SimConfig::default()
    }
}

/// `--sim-start` text for `ns` (whole seconds).
pub fn utc_arg(ns: i64) -> String {
    let c = nightcap_frame::time::utc_iso_basic(ns); // YYYYMMDDTHHMMSSZ
    format!(
        "{}-{}-{}T{}:{}:{}",
        &c[0..4],
        &c[4..6],
        &c[6..8],
        &c[9..11],
        &c[11..13],
        &c[13..15]
    )
}

/// What a full check of a journal found.
#[derive(Debug, Default)]
pub struct Checked {
    pub frames: u64,
    /// Frames decoded and compared byte for byte in this check.
    pub compared: u64,
    pub gaps_by_reason: BTreeMap<u32, u64>,
    pub violations: Vec<String>,
    pub damage: Vec<Damage>,
}

/// Opens `dir` and checks it against the simulated sky: seqs 0.. without holes, every
/// frame with seq >= `compare_from` decoded and equal (bytes and metadata) to the frame
/// the sky renders for it, and within one run (`run_of` maps an exposure time to the
/// run's sky) frame indices increase, every hole explained by GAP records before it.
pub fn check_journal(
    dir: &Path,
    compare_from: u64,
    run_of: &dyn Fn(i64) -> Option<SimConfig>,
) -> Checked {
    let mut out = Checked::default();
    let journal = match Journal::open(dir) {
        Ok(j) => j,
        Err(e) => {
            out.violations.push(format!("Journal::open failed: {e}"));
            return out;
        }
    };
    out.damage = journal.all_damage();
    let mut dec = Decoder::new();
    let (mut scratch, mut want) = (Vec::new(), Vec::new());
    // A journal's seqs start at 0; a lone copy of a later segment starts at its first_seq.
    let mut expect_seq = journal.segments.first().map_or(0, |s| s.header.first_seq);
    // (run start, last index) of the previous frame, and GAP counts since it.
    let mut prev: Option<(i64, u64)> = None;
    let mut gap_count = 0u64;
    for seg in &journal.segments {
        for e in &seg.records {
            match e.kind {
                Kind::Gap => match seg.read_gap(e) {
                    Ok(g) => {
                        *out.gaps_by_reason.entry(g.reason.code()).or_default() += 1;
                        gap_count += g.count;
                        if g.reason == GapReason::Restart {
                            prev = None;
                        }
                    }
                    Err(err) => out.violations.push(format!("GAP unreadable: {err}")),
                },
                Kind::Frame => {
                    out.frames += 1;
                    if e.seq != expect_seq {
                        out.violations
                            .push(format!("seq {} where {expect_seq} was expected", e.seq));
                    }
                    expect_seq = e.seq + 1;
                    let Some(cfg) = run_of(e.time_ns) else {
                        out.violations
                            .push(format!("frame seq {} has an unknown time", e.seq));
                        continue;
                    };
                    let probe = nightcap_frame::FrameMeta {
                        time_utc_ns: e.time_ns,
                        ..Default::default()
                    };
                    let Some(index) = cfg.index_of(&probe) else {
                        out.violations
                            .push(format!("frame seq {} is not a frame slot", e.seq));
                        continue;
                    };
                    if let Some((run, last)) = prev {
                        if run == cfg.start_utc_ns {
                            if index <= last {
                                out.violations.push(format!(
                                    "frame seq {}: index {index} after {last}",
                                    e.seq
                                ));
                            } else if index - last - 1 > gap_count {
                                out.violations.push(format!(
                                    "frame seq {}: {} frames missing before it, GAPs say {gap_count}",
                                    e.seq,
                                    index - last - 1
                                ));
                            }
                        }
                    }
                    prev = Some((cfg.start_utc_ns, index));
                    gap_count = 0;
                    if e.seq < compare_from {
                        continue;
                    }
                    let mut data = Vec::new();
                    match seg.read_frame(e, &mut dec, &mut scratch, &mut data) {
                        Ok(meta) => {
                            let m = SimSky::render(&cfg, index, &mut want);
                            out.compared += 1;
                            if data != want
                                || (meta.exposure_us, meta.gain_milli, meta.driver_seq)
                                    != (m.exposure_us, m.gain_milli, m.driver_seq)
                                || meta.driver_ts_ns != m.driver_ts_ns
                            {
                                out.violations.push(format!(
                                    "frame seq {} (index {index}) differs from the sky",
                                    e.seq
                                ));
                            }
                        }
                        Err(err) => out
                            .violations
                            .push(format!("frame seq {} unreadable: {err}", e.seq)),
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Every file under `dir` (relative path → hash of its bytes), to show nothing changed.
pub fn tree_hashes(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), 0);
                stack.push(p);
            } else if let Ok(bytes) = fs::read(&p) {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), hash(&bytes));
            }
        }
    }
    out
}

/// A hash of `bytes` (not cryptographic; enough to see a change).
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The sealed segments of `dir` and their hashes.
pub fn sealed_hashes(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "seg") {
            if let Ok(bytes) = fs::read(&p) {
                out.insert(p, hash(&bytes));
            }
        }
    }
    out
}

/// Runs `nightcap -q capture --source sim --sim-speed 0 -d 0` with `args` (sensor, frame
/// count, journal, ...), which must succeed: a simulated night as fast as the machine
/// goes, without live stacks.
pub fn sim_capture(args: &[&str]) {
    let out = nightcap()
        .args([
            "-q",
            "capture",
            "--source",
            "sim",
            "--sim-speed",
            "0",
            "-d",
            "0",
        ])
        .args(args)
        .output()
        .expect("binary runs");
    assert!(out.status.success(), "capture {args:?}: {}", printed(&out));
}

/// `nightcap info DIR --json`, parsed (the command must succeed).
pub fn info_json(dir: &Path) -> serde_json::Value {
    let out = run(&["info", dir.to_str().expect("UTF-8 path"), "--json"]);
    assert!(out.status.success(), "info: {}", printed(&out));
    serde_json::from_slice(&out.stdout).expect("info --json is JSON")
}

/// Whether `tool` is on the PATH. In CI, which installs it, its absence fails the test;
/// elsewhere the test says it was skipped.
pub fn on_path(tool: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{tool} is missing in CI");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    ok
}

/// Whether `tool` runs. In CI, which installs it, its absence fails the test; elsewhere
/// the test says it was skipped.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{tool} is missing in CI");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    ok
}
