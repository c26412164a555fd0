//! Bad input, command by command: each invalid command line or unusable path gets ONE
//! line on stderr naming the problem, exit code 2 (command line) / 1 (failure) / 3
//! (damage), and leaves every file as it was (the tree is hashed before and after).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{nightcap, tree_hashes};

/// A directory of fixtures: a valid journal, a journal with a segment of a newer format
/// version, a directory that is no journal, an empty directory and a plain file.
fn fixtures() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("formats/golden");
    for dir in ["good", "newer", "notj", "empty"] {
        fs::create_dir(root.join(dir)).unwrap();
    }
    for entry in fs::read_dir(&golden).unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".seg") {
            fs::copy(entry.path(), root.join("good").join(&name)).unwrap();
        }
    }
    // The first golden segment, claiming format 3.0 (header CRC recomputed).
    let mut seg = fs::read(golden.join("00000000-20261130T000000Z.seg")).unwrap();
    seg[8..10].copy_from_slice(&3u16.to_le_bytes());
    seg[10..12].copy_from_slice(&0u16.to_le_bytes());
    let crc = nightcap_journal::format::crc(&seg[..252]);
    seg[252..256].copy_from_slice(&crc.to_le_bytes());
    fs::write(root.join("newer/00000000-20261130T000000Z.seg"), seg).unwrap();
    fs::write(root.join("notj/notes.txt"), "not a journal\n").unwrap();
    fs::write(root.join("file"), "a file\n").unwrap();
    (tmp, root)
}

/// (what, arguments with `@` standing for the fixtures directory, exit code, words the
/// one stderr line must contain).
const CASES: &[(&str, &[&str], i32, &[&str])] = &[
    // Command lines (clap): exit 2.
    (
        "no such command",
        &["shoot"],
        2,
        &["unrecognized subcommand"],
    ),
    (
        "unknown option",
        &["capture", "--bogus"],
        2,
        &["--bogus", "--help"],
    ),
    (
        "bad number",
        &["capture", "--frames", "ten"],
        2,
        &["--frames", "ten"],
    ),
    (
        "bad size",
        &["capture", "--ring-size", "12Q"],
        2,
        &["--ring-size"],
    ),
    ("bad duration", &["capture", "--for", "soon"], 2, &["--for"]),
    (
        "bad time",
        &["capture", "--source", "sim", "--sim-start", "yesterday"],
        2,
        &["--sim-start"],
    ),
    ("bad drc", &["capture", "--drc", "max"], 2, &["--drc"]),
    (
        "conflicting options",
        &["-v", "-q", "info", "@/good"],
        2,
        &["--quiet"],
    ),
    (
        "import without journal",
        &["import", "@/notj"],
        2,
        &["<JOURNAL>"],
    ),
    ("info without journal", &["info"], 2, &["<JOURNAL>"]),
    (
        "verify with two journals",
        &["verify", "@/good", "@/good"],
        2,
        &["unexpected"],
    ),
    (
        "repair unknown option",
        &["repair", "--force", "@/good"],
        2,
        &["--force"],
    ),
    ("export without out", &["export", "@/good"], 2, &["<OUT>"]),
    (
        "export bad format",
        &["export", "@/good", "@/out", "--format", "gif"],
        2,
        &["gif"],
    ),
    (
        "devices unknown option",
        &["devices", "--all"],
        2,
        &["--all"],
    ),
    // Failures: exit 1 (2 for values that cannot work), nothing created.
    (
        "unknown sensor",
        &[
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "nope",
            "--journal",
            "@/j",
        ],
        1,
        &["--sim-sensor", "nope"],
    ),
    (
        "bad fault plan",
        &[
            "capture",
            "--source",
            "sim",
            "--sim-faults",
            "melt@3",
            "--journal",
            "@/j",
        ],
        1,
        &["--sim-faults", "melt"],
    ),
    (
        "zero workers",
        &["capture", "--workers", "0", "--journal", "@/j"],
        2,
        &["--workers"],
    ),
    (
        "zero exposure",
        &["capture", "-e", "0", "--journal", "@/j"],
        2,
        &["--exposure"],
    ),
    (
        "zstd level",
        &["capture", "--zstd-level", "99", "--journal", "@/j"],
        2,
        &["--zstd-level"],
    ),
    (
        "ring smaller than a segment",
        &[
            "capture",
            "--ring-size",
            "1M",
            "--segment-size",
            "4M",
            "--journal",
            "@/j",
        ],
        2,
        &["--ring-size", "--segment-size"],
    ),
    (
        "no frames",
        &[
            "capture",
            "--source",
            "sim",
            "--frames",
            "0",
            "--journal",
            "@/j",
        ],
        2,
        &["--frames 0"],
    ),
    (
        "no time",
        &[
            "capture",
            "--source",
            "sim",
            "--for",
            "0s",
            "--journal",
            "@/j",
        ],
        2,
        &["--for"],
    ),
    (
        "gain nan",
        &[
            "capture",
            "--source",
            "sim",
            "--gain",
            "nan",
            "--journal",
            "@/j",
        ],
        2,
        &["--gain"],
    ),
    (
        "gain huge",
        &[
            "capture",
            "--source",
            "sim",
            "--gain",
            "1e30",
            "--journal",
            "@/j",
        ],
        2,
        &["--gain"],
    ),
    (
        "empty segments",
        &[
            "capture",
            "--source",
            "sim",
            "--segment-size",
            "0",
            "--journal",
            "@/j",
        ],
        2,
        &["--segment-size"],
    ),
    (
        "huge segments",
        &[
            "capture",
            "--source",
            "sim",
            "--segment-size",
            "100T",
            "--journal",
            "@/j",
        ],
        2,
        &["--segment-size"],
    ),
    (
        "too many workers",
        &[
            "capture",
            "--source",
            "sim",
            "--workers",
            "100000",
            "--journal",
            "@/j",
        ],
        2,
        &["--workers"],
    ),
    (
        "empty window",
        &["stack", "@/good", "--every", "0s", "--out", "@/out"],
        2,
        &["--every", "all"],
    ),
    (
        "journal is a file",
        &["capture", "--journal", "@/file"],
        1,
        &["file", "not a directory"],
    ),
    (
        "no camera",
        &["capture", "--source", "v4l2:@/nocam", "--journal", "@/j"],
        1,
        &["camera", "nightcap devices"],
    ),
    (
        "bad source",
        &["capture", "--source", "webcam", "--journal", "@/j"],
        2,
        &["--source"],
    ),
    ("missing images", &["import", "@/none", "@/j"], 1, &["none"]),
    (
        "info missing path",
        &["info", "@/none"],
        1,
        &["none", "check the path"],
    ),
    (
        "verify missing path",
        &["verify", "@/none"],
        1,
        &["none", "check the path"],
    ),
    (
        "repair missing path",
        &["repair", "@/none"],
        1,
        &["none", "check the path"],
    ),
    (
        "export missing path",
        &["export", "@/none", "@/out"],
        1,
        &["none", "check the path"],
    ),
    (
        "info of a file",
        &["info", "@/file"],
        1,
        &["not a directory"],
    ),
    (
        "info non-journal",
        &["info", "@/notj"],
        1,
        &["not a nightcap journal"],
    ),
    (
        "verify non-journal",
        &["verify", "@/notj"],
        1,
        &["not a nightcap journal"],
    ),
    (
        "repair non-journal",
        &["repair", "@/notj"],
        1,
        &["not a nightcap journal"],
    ),
    (
        "export non-journal",
        &["export", "@/notj", "@/out"],
        1,
        &["not a nightcap journal"],
    ),
    // An empty directory is a journal nothing was captured into yet: `info` says so
    // (tests/cli_journal.rs), the others have nothing to work on.
    (
        "verify empty",
        &["verify", "@/empty"],
        1,
        &["empty journal"],
    ),
    (
        "repair empty",
        &["repair", "@/empty"],
        1,
        &["empty journal"],
    ),
    (
        "export empty",
        &["export", "@/empty", "@/out"],
        1,
        &["empty journal"],
    ),
    (
        "info newer format",
        &["info", "@/newer"],
        1,
        &["newer", "3.0"],
    ),
    (
        "verify newer format",
        &["verify", "@/newer"],
        1,
        &["newer", "3.0"],
    ),
    (
        "export newer format",
        &["export", "@/newer", "@/out"],
        1,
        &["newer", "3.0"],
    ),
    (
        "repair newer format",
        &["repair", "@/newer"],
        1,
        &["newer", "3.0"],
    ),
    (
        "capture into newer format",
        &[
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "tiny",
            "--frames",
            "2",
            "--journal",
            "@/newer",
        ],
        1,
        &["newer", "3.0"],
    ),
];

fn run_case(root: &Path, args: &[&str]) -> (Option<i32>, String) {
    let root_s = root.to_str().unwrap();
    let args: Vec<String> = args.iter().map(|a| a.replace('@', root_s)).collect();
    let out = nightcap()
        .args(&args)
        .args(["-d", "0"].iter().filter(|_| args[0] == "capture"))
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_one_line(what: &str, stderr: &str, words: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 {
        problems.push(format!("{what}: {} lines on stderr: {stderr}", lines.len()));
    }
    for w in words {
        if !stderr.contains(w) {
            problems.push(format!("{what}: stderr does not name `{w}`: {stderr}"));
        }
    }
    problems
}

#[test]
fn every_bad_input_gets_one_line_an_exit_code_and_changes_nothing() {
    let (_tmp, root) = fixtures();
    let mut problems = Vec::new();
    for (what, args, code, words) in CASES {
        let before = tree_hashes(&root);
        let (got, stderr) = run_case(&root, args);
        if got != Some(*code) {
            problems.push(format!("{what}: exit {got:?}, expected {code}: {stderr}"));
        }
        problems.extend(check_one_line(what, &stderr, words));
        if tree_hashes(&root) != before {
            problems.push(format!("{what}: files changed"));
        }
    }
    println!(
        "bad input table: {} cases, {} problems",
        CASES.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn damage_exits_3_with_the_damage_named() {
    let (_tmp, root) = fixtures();
    let seg = root.join("good/00000000-20261130T000000Z.seg");
    let mut bytes = fs::read(&seg).unwrap();
    bytes[256 + 64 + 10] ^= 0x40; // inside the first record's payload
    fs::write(&seg, bytes).unwrap();
    let before = tree_hashes(&root);
    let (code, _) = run_case(&root, &["verify", "@/good"]);
    assert_eq!(code, Some(3));
    assert_eq!(tree_hashes(&root), before, "verify changed files");
}

#[test]
fn unreadable_journal_gets_one_line() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, root) = fixtures();
    let good = root.join("good");
    fs::set_permissions(&good, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read_dir(&good).is_ok() {
        // Running as root: permissions do not apply.
        fs::set_permissions(&good, fs::Permissions::from_mode(0o755)).unwrap();
        println!("unreadable-path case skipped: running as root");
        return;
    }
    for cmd in ["info", "verify", "repair"] {
        let (code, stderr) = run_case(&root, &[cmd, "@/good"]);
        assert_eq!(code, Some(1), "{cmd}: {stderr}");
        let p = check_one_line(cmd, &stderr, &["ermission"]);
        assert!(p.is_empty(), "{p:?}");
    }
    fs::set_permissions(&good, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_journal_locked_by_another_writer_is_refused() {
    let (_tmp, root) = fixtures();
    let dir = root.join("live");
    let mut first = nightcap()
        .args([
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "tiny",
            "--sim-speed",
            "1",
            "-d",
            "0",
        ])
        .arg("--journal")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    while !dir.join("journal.lock").exists()
        || fs::read_to_string(dir.join("journal.lock"))
            .unwrap_or_default()
            .is_empty()
    {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "first capture did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, stderr) = run_case(
        &root,
        &[
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "tiny",
            "--journal",
            "@/live",
        ],
    );
    let (rcode, rstderr) = run_case(&root, &["repair", "@/live"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    let pid = first.id().to_string();
    let p = check_one_line("locked", &stderr, &["in use by another nightcap", &pid]);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(
        rcode,
        Some(1),
        "repair of a journal being written: {rstderr}"
    );
    let p = check_one_line("repair locked", &rstderr, &["in use"]);
    assert!(p.is_empty(), "{p:?}");
}
