//! What the user sees when something is wrong, through the real binary: one line on
//! stderr, starting `nightcap: `, naming the problem and what to do; exit 2 for a bad
//! command line, 1 for a failure. And `--config`, `--quiet`, `-v` end to end.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;

use nightcap_journal::codec::Decoder;
use nightcap_journal::Journal;
use nightcap_stack::output::fits::read_fits;
use support::run as nightcap;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A simulated capture into `journal` (extra flags appended; `-d 0` for no live stacks).
fn capture_args<'a>(journal: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "capture",
        "--source",
        "sim",
        "--sim-sensor",
        "tiny",
        "--sim-speed",
        "0",
    ];
    v.extend(["--reserve", "0", "--journal", journal]);
    v.extend(extra);
    v
}

fn frames_in(journal: &Path) -> usize {
    Journal::open(journal).unwrap().frames().len()
}

#[test]
fn every_error_is_one_line_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a file");
    fs::write(&file, "x").unwrap();
    let missing = tmp.path().join("missing");
    let unknown_key = tmp.path().join("unknown.toml");
    fs::write(
        &unknown_key,
        "[capture]\nexposure = 5000\nring-size = \"20G\"\n",
    )
    .unwrap();
    let bad_value = tmp.path().join("bad.toml");
    fs::write(&bad_value, "[capture]\nreserve = \"lots\"\n").unwrap();
    let journal = tmp.path().join("j");
    let j = p(&journal);

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        // Bad command lines: clap's text folded into one line, with the help to read.
        (
            vec!["capture", "--ring-size", "20X"],
            2,
            "'20X' is not a size: use a number with an optional unit, e.g. 512M or 8G (see `nightcap capture --help`)",
        ),
        (vec!["captre"], 2, "unrecognized subcommand 'captre' ("),
        (vec!["export", j], 2, "not provided: <OUT> (see `nightcap export --help`)"),
        (vec!["completions", "tcsh"], 2, "[possible values: bash,"),
        (vec!["capture", "--expose", "5"], 2, "--exposure"),
        // Failures: the cause, then the fix.
        (
            capture_args(p(&file), &["--frames", "1", "-d", "0"]),
            1,
            "is a file, not a directory: give a directory",
        ),
        (vec!["import", p(&missing), j], 1, "(check that the path exists)"),
        (
            vec!["info", p(&file)],
            1,
            "not a directory (give the journal directory, the one capture wrote with --journal)",
        ),
        (
            vec!["--config", p(&unknown_key), "capture"],
            1,
            "line 3: unknown key `ring-size`; did you mean `ring_size`?",
        ),
        (
            vec!["--config", p(&bad_value), "capture"],
            1,
            "line 2: 'lots' is not a size: use a number with an optional unit, e.g. 512M or 8G (fix or remove `capture.reserve`",
        ),
        (
            vec!["--config", p(&missing), "info", j],
            1,
            "(check the path given to --config)",
        ),
        (
            vec!["capture", "--source", "sim", "--sim-speed", "-1", "--frames", "1", "-d", "0", "--journal", j],
            2,
            "use 0 for as fast as possible",
        ),
        (vec!["man", "captur"], 1, "no command 'captur': use one of capture, import"),
        (
            vec!["capture", "--source", "sim", "--sim-sensor", "imx219", "--size", "1000x1000", "--journal", j],
            2,
            "--size 1000x1000: the simulated imx219 has no such mode: use one of 3280x2464, 1640x1232",
        ),
        (
            vec!["capture", "--source", "images:/nowhere", "--size", "640x480", "--journal", j],
            2,
            "--size chooses a camera's frame size",
        ),
        (
            vec!["trails", j, "--keep", "meteors"],
            2,
            "--keep and --events go with --clean (e.g. --clean --keep meteors)",
        ),
        (
            vec!["stack", j, "--clean", "--keep", "ufos"],
            2,
            "--keep ufos: not a class: use meteors, satellites, planes or other",
        ),
    ];
    for (args, code, says) in cases {
        let o = nightcap(&args);
        let all = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {all}");
        // Status lines may come first (capture says where it is capturing to); the error
        // is the one and last line that starts with `nightcap: `.
        let errors: Vec<&str> = all
            .lines()
            .filter(|l| l.starts_with("nightcap: "))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: not one line: {all}");
        let err = errors[0];
        assert_eq!(all.lines().last(), Some(err), "{args:?}: {all}");
        assert!(err.contains(says), "{args:?}: want {says:?} in {err}");
        // One hint, not a generic one stacked after a precise one.
        assert!(!err.contains("--config) (check that"), "{args:?}: {err}");
    }
    // Help and version are not errors: full text on stdout, exit 0.
    let help = nightcap(&["capture", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--journal <JOURNAL>"));
}

#[test]
fn live_stack_errors_show_even_when_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("j");
    // Created beforehand, and a paced clock: the live stacker treats the frames in the
    // journal at its first look at an existing directory as an earlier capture's, so an
    // instant capture into a new directory can end before it stacks anything.
    fs::create_dir(&journal).unwrap();
    // The stacks' directory cannot be created: a file is in the way.
    let in_the_way = tmp.path().join("stacks");
    fs::write(&in_the_way, "x").unwrap();
    let prefix = in_the_way.join("img");
    let args = [
        "-q",
        "capture",
        "--source",
        "sim",
        "--sim-sensor",
        "tiny",
        "--sim-speed",
        "100",
        "--reserve",
        "0",
        "--frames",
        "4",
        "-d",
        "1",
        "-f",
        p(&prefix),
        "--journal",
        p(&journal),
    ];
    let o = nightcap(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("nightcap: live stacks stopped: "), "{err}");
    assert!(
        err.contains("(capture goes on; stack the journal later"),
        "{err}"
    );
    assert_eq!(frames_in(&journal), 4);
}

#[test]
fn config_file_applies_and_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("from config");
    let config = tmp.path().join("nightcap.toml");
    fs::write(
        &config,
        format!(
            "[capture]\nsource = \"sim\"\nsim_sensor = \"tiny\"\nsim_speed = 0\nduration = 0\n\
             reserve = 0\nframes = 4\njournal = {:?}\n",
            p(&journal)
        ),
    )
    .unwrap();
    let c = p(&config);

    // The file alone: quiet means nothing on stderr at all.
    let o = nightcap(&["--quiet", "--config", c, "capture"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert_eq!(frames_in(&journal), 4);

    // A flag beats the file; -v says which settings came from the file.
    let other = tmp.path().join("from flag");
    let o = nightcap(&[
        "capture",
        "-v",
        "--config",
        c,
        "--frames",
        "2",
        "--journal",
        p(&other),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(frames_in(&other), 2);
    assert_eq!(frames_in(&journal), 4, "the file's journal was not used");
    let err = stderr(&o);
    let applied = format!("from {c}: source, duration, reserve, sim_sensor, sim_speed\n");
    assert!(err.starts_with(&applied), "{err}");
    // Without -v that line is not printed, but the capture summary is.
    let o = nightcap(&["capture", "--config", c, "--journal", p(&other)]);
    assert!(!stderr(&o).contains(&format!("from {c}")), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stopped at the frame limit (--frames): 4 frames captured"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn export_fits_writes_each_frame_with_its_samples_and_cards() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("j");
    let o = nightcap(&capture_args(
        p(&journal),
        &["--frames", "3", "-d", "0", "--gain", "2.5"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = tmp.path().join("fits");
    let o = nightcap(&["-q", "export", p(&journal), p(&out), "--format", "fits"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");

    let j = Journal::open(&journal).unwrap();
    let (mut dec, mut scratch) = (Decoder::new(), Vec::new());
    let refs = j.frames();
    assert_eq!(fs::read_dir(&out).unwrap().count(), refs.len());
    for r in &refs {
        let frame = j.read_frame(r, &mut dec, &mut scratch).unwrap();
        let name = nightcap::cli::export::file_name(&frame, "fits");
        let fits = read_fits(&out.join(&name)).unwrap();
        let want = nightcap_frame::pixels::to_image16(&frame.format, &frame.data).unwrap();
        assert_eq!(fits.image.data, want.data, "{name}");
        assert_eq!((fits.image.width, fits.image.height), (64, 48));
        assert_eq!(fits.get("BAYERPAT"), Some("RGGB"));
        assert_eq!(fits.get("EXPTIME"), Some("5.0"));
        assert_eq!(fits.get("GAIN"), Some("2.5"));
        assert_eq!(
            fits.get("FRAMESEQ"),
            Some(frame.meta.seq.to_string().as_str())
        );
        let date = nightcap_frame::time::utc_iso(frame.meta.time_utc_ns);
        assert_eq!(fits.get("DATE-OBS"), Some(date.as_str()));
    }
}
