//! The user's scripts in scripts/, run with the real tools (rsync, ffmpeg, bash,
//! systemd-analyze) against journals and frames made by nightcap itself.
//!
//! A test whose tool is missing says "SKIPPED" and returns (the scripts need the tools,
//! the library does not); under CI, which installs them, a missing tool fails it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;
use nightcap_stack::output::concat::{ffmpeg_command, write_concat, ConcatEntry};
use nightcap_stack::output::{write_image, OutputFormat, OutputMeta};

mod support;
use support::on_path;

const BIN: &str = env!("CARGO_BIN_EXE_nightcap");

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A journal with several sealed segments of the simulated sky.
fn capture(journal: &Path, frames: u32) {
    run(Command::new(BIN)
        .args(["--quiet", "capture", "--source", "sim", "--sim-sensor"])
        .args([
            "tiny",
            "--sim-speed",
            "0",
            "--frames",
            &frames.to_string(),
            "-d",
            "0",
            "--segment-size",
            "64K",
            "--reserve",
            "0",
            "--journal",
        ])
        .arg(journal));
}

/// File name → contents of the files in `dir` (not recursive) whose names end in `ext`.
fn files(dir: &Path, ext: &str) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .map(|n| (n.clone(), fs::read(dir.join(&n)).unwrap()))
        .collect()
}

fn verify(journal: &Path) {
    let out = run(Command::new(BIN).arg("verify").arg(journal));
    assert!(text(&out.stdout).contains("ok: no damage found"));
}

fn usage_on_no_args_and_help(name: &str) {
    let bare = Command::new(script(name)).output().unwrap();
    assert_eq!(bare.status.code(), Some(2), "{name} without arguments");
    assert!(text(&bare.stderr).contains("Usage:") || text(&bare.stdout).contains("Usage:"));
    let help = Command::new(script(name)).arg("-h").output().unwrap();
    assert!(help.status.success(), "{name} -h");
    assert!(text(&help.stdout).starts_with(&format!("Usage: scripts/{name}")));
}

#[test]
fn sync_copies_sealed_segments_only_and_is_idempotent() {
    usage_on_no_args_and_help("sync-from-pi.sh");
    if !on_path("rsync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("pi journal"), dir.path().join("desk"));
    capture(&src, 50);
    let sealed = files(&src, ".seg");
    assert!(
        sealed.len() >= 3,
        "want several sealed segments, got {}",
        sealed.len()
    );
    // What capture leaves besides sealed segments: the one being written, temporaries.
    let last = sealed.values().last().unwrap();
    fs::write(
        src.join("00000099-20261124T031537Z.active"),
        &last[..last.len() / 2],
    )
    .unwrap();
    fs::write(src.join("00000099-20261124T031537Z.seg.tmp"), b"half").unwrap();

    for round in 0..2 {
        let out = run(Command::new(script("sync-from-pi.sh"))
            .arg(&src)
            .arg(&dest)
            .arg("--itemize-changes"));
        let copied: Vec<String> = text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(">f"))
            .map(str::to_string)
            .collect();
        // The first run copies every sealed segment, the second nothing.
        let want = if round == 0 { sealed.len() } else { 0 };
        assert_eq!(copied.len(), want, "round {round}: {copied:?}");
        let names: Vec<String> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names.len(),
            sealed.len(),
            "only sealed segments arrive: {names:?}"
        );
        assert_eq!(files(&dest, ".seg"), sealed, "byte-identical copies");
        verify(&dest);
    }
}

#[test]
fn sync_finishes_an_interrupted_copy() {
    if !on_path("rsync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
    capture(&src, 30);
    let sealed = files(&src, ".seg");
    // What an interrupted run leaves: part of a file in the partial directory, nothing
    // under the final name.
    let (name, bytes) = sealed.iter().next().unwrap();
    let partial = dest.join(".nightcap-partial");
    fs::create_dir_all(&partial).unwrap();
    fs::write(partial.join(name), &bytes[..bytes.len() / 3]).unwrap();
    run(Command::new(script("sync-from-pi.sh")).arg(&src).arg(&dest));
    assert_eq!(files(&dest, ".seg"), sealed);
    assert!(!partial.join(name).exists(), "the partial file was used up");
    verify(&dest);
}

#[test]
fn sync_while_capturing_gets_only_complete_segments() {
    if !on_path("rsync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
    // A simulated hour in about 5 s: a segment sealed every few tenths of a second.
    let mut child = Command::new(BIN)
        .args([
            "--quiet",
            "capture",
            "--source",
            "sim",
            "--sim-sensor",
            "tiny",
            "--sim-speed",
            "720",
        ])
        .args([
            "--frames",
            "400",
            "-d",
            "0",
            "--segment-size",
            "64K",
            "--reserve",
            "0",
        ])
        .arg("--journal")
        .arg(&src)
        .spawn()
        .unwrap();
    let mut rounds_during_capture = 0;
    while child.try_wait().unwrap().is_none() {
        if src.exists() {
            run(Command::new(script("sync-from-pi.sh")).arg(&src).arg(&dest));
            rounds_during_capture += 1;
            // Whatever arrived is complete and final.
            let now = files(&src, ".seg");
            for (name, bytes) in files(&dest, "") {
                assert!(name.ends_with(".seg"), "{name}");
                assert_eq!(
                    now.get(&name),
                    Some(&bytes),
                    "{name} differs from the source"
                );
            }
            verify(&dest);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(child.wait().unwrap().success());
    run(Command::new(script("sync-from-pi.sh")).arg(&src).arg(&dest));
    assert_eq!(files(&dest, ".seg"), files(&src, ".seg"));
    verify(&dest);
    println!("{rounds_during_capture} syncs ran during the capture");
}

/// Ten 33x21 PNG frames (odd size on purpose) and a concat list of 0.2 s each.
fn frames_and_list(dir: &Path) -> PathBuf {
    let frames = dir.join("frames");
    fs::create_dir(&frames).unwrap();
    let entries: Vec<ConcatEntry> = (0..10u16)
        .map(|i| {
            let mut img = Image16::zeroed(33, 21, 3, Cfa::None, 16);
            img.data.iter_mut().for_each(|v| *v = i * 6000);
            let path = frames.join(format!("frame {i:02}.png"));
            write_image(&path, &img, OutputFormat::Png, &OutputMeta::new("max")).unwrap();
            ConcatEntry {
                path,
                duration_s: 0.2,
            }
        })
        .collect();
    let list = dir.join("timelapse.ffconcat");
    write_concat(&list, &entries).unwrap();
    list
}

#[test]
fn make_video_encodes_every_frame() {
    usage_on_no_args_and_help("make-video.sh");
    if !on_path("ffmpeg") || !on_path("ffprobe") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let list = frames_and_list(dir.path());
    let out = dir.path().join("night sky.mp4");
    run(Command::new(script("make-video.sh"))
        .arg(&list)
        .arg(&out)
        .arg("5"));
    let probe = run(Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,width,height,r_frame_rate",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&out));
    // 10 frames of 0.2 s at 5 fps; cropped to even dimensions.
    assert_eq!(text(&probe.stdout).trim(), "32,20,5/1,10");
}

#[test]
fn make_video_runs_the_same_command_as_nightcap() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in ffmpeg that records its arguments, one per line.
    let fake = dir.path().join("bin");
    fs::create_dir(&fake).unwrap();
    let log = dir.path().join("args");
    fake_tool(&fake, "ffmpeg", &log);
    let list = dir.path().join("l.ffconcat");
    fs::write(&list, "ffconcat version 1.0\n").unwrap();
    let out = dir.path().join("o.mp4");
    for (fps_arg, fps) in [(Some("12"), 12), (None, 25)] {
        let mut cmd = Command::new(script("make-video.sh"));
        cmd.arg(&list)
            .arg(&out)
            .args(fps_arg)
            .env("PATH", path_with(&fake));
        run(&mut cmd);
        let got: Vec<String> = fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        fs::remove_file(&log).unwrap();
        let mut want = ffmpeg_command(&list, &out, fps);
        want[0] = "ffmpeg".into();
        assert_eq!(
            got, want,
            "scripts/make-video.sh and concat::ffmpeg_command differ"
        );
    }
    // Bad input: one line naming the problem.
    for (args, code, says) in [
        (
            vec!["missing.ffconcat", "o.mp4"],
            1,
            "no concat list at missing.ffconcat",
        ),
        (
            vec![list.to_str().unwrap(), "o.mp4", "0"],
            2,
            "FPS must be a whole number",
        ),
        (
            vec![list.to_str().unwrap(), "o.mp4", "fast"],
            2,
            "not 'fast'",
        ),
    ] {
        let o = Command::new(script("make-video.sh"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code), "{args:?}");
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert_eq!(text(&o.stderr).lines().count(), 1);
    }
}

/// Writes an executable `dir/name` that appends `name ARGS...` (one argument per line)
/// to `log`.
fn fake_tool(dir: &Path, name: &str, log: &Path) {
    let path = dir.join(name);
    let body = if name == "ffmpeg" {
        format!(
            "#!/bin/sh\necho ffmpeg >>'{0}'\nfor a; do printf '%s\\n' \"$a\" >>'{0}'; done\n",
            log.display()
        )
    } else {
        format!("#!/bin/sh\necho \"{name} $*\" >>'{}'\n", log.display())
    };
    fs::write(&path, body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A directory of stand-ins for the tools that change the system.
fn system_fakes(dir: &Path) -> (PathBuf, PathBuf) {
    let fake = dir.join("fake-bin");
    fs::create_dir(&fake).unwrap();
    let log = dir.join("system-calls");
    for tool in ["systemctl", "useradd", "getent", "install"] {
        fake_tool(&fake, tool, &log);
    }
    (fake, log)
}

#[test]
fn compare_fixes_says_how_to_use_it() {
    usage_on_no_args_and_help("compare-fixes.sh");
}

#[test]
fn compare_outputs_says_how_to_use_it() {
    usage_on_no_args_and_help("compare-outputs.sh");
}

#[test]
fn install_service_dry_run_changes_nothing() {
    usage_on_no_args_and_help("install-service.sh");
    let dir = tempfile::tempdir().unwrap();
    let (fake, log) = system_fakes(dir.path());
    let out = run(Command::new(script("install-service.sh"))
        .args(["--dry-run", "--bin", BIN])
        .env("PATH", path_with(&fake)));
    let said = text(&out.stdout);
    for want in [
        format!("would run: install -D -m 0755 {BIN} /usr/local/bin/nightcap"),
        "/etc/systemd/system/nightcap-capture.service".into(),
        "/etc/nightcap/nightcap.toml".into(),
        "would run: useradd --system".into(),
        "would run: systemctl enable systemd-time-wait-sync.service".into(),
        "would run: systemctl enable nightcap-capture.service".into(),
    ] {
        assert!(said.contains(&want), "missing {want:?} in:\n{said}");
    }
    assert!(
        !log.exists(),
        "a dry run ran: {}",
        fs::read_to_string(&log).unwrap()
    );
}

#[test]
fn install_service_into_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, log) = system_fakes(dir.path());
    fs::remove_file(fake.join("install")).unwrap(); // the real one, into the prefix
    let root = dir.path().join("root");
    let install = || {
        run(Command::new(script("install-service.sh"))
            .args(["--prefix"])
            .arg(&root)
            .args(["--bin", BIN])
            .env("PATH", path_with(&fake)))
    };
    let out = install();
    assert!(text(&out.stdout).contains("systemctl was not called"));
    assert!(
        !log.exists(),
        "--prefix ran: {}",
        fs::read_to_string(&log).unwrap()
    );

    let bin = root.join("usr/local/bin/nightcap");
    assert_eq!(fs::read(&bin).unwrap(), fs::read(BIN).unwrap());
    assert_eq!(
        fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let unit = root.join("etc/systemd/system/nightcap-capture.service");
    let unit_text = fs::read_to_string(&unit).unwrap();
    assert_eq!(
        unit_text,
        fs::read_to_string(script("nightcap-capture.service")).unwrap()
    );
    for line in [
        "ExecStart=/usr/local/bin/nightcap capture --config /etc/nightcap/nightcap.toml",
        "Restart=on-failure",
        "RestartSec=30",
        "User=nightcap",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit_text.lines().any(|l| l == line), "{line}");
    }
    let config = root.join("etc/nightcap/nightcap.toml");
    assert_eq!(
        fs::read(&config).unwrap(),
        fs::read(script("nightcap.toml")).unwrap()
    );
    let page = fs::read_to_string(root.join("usr/local/share/man/man1/nightcap-capture.1"));
    assert!(page.unwrap().contains("\\-\\-journal"));
    let completion = root.join("usr/local/share/bash-completion/completions/nightcap");
    assert!(fs::read_to_string(completion)
        .unwrap()
        .contains("--exposure"));

    // The installed config is one nightcap accepts (read with --config before `info`).
    let empty = dir.path().join("empty journal");
    fs::create_dir(&empty).unwrap();
    run(Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .arg("info")
        .arg(&empty));

    // A second install keeps the user's edited config.
    fs::write(&config, "[capture]\nexposure = 20000\n").unwrap();
    let out = install();
    assert!(text(&out.stdout).contains("keeping the existing"));
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        "[capture]\nexposure = 20000\n"
    );

    if !on_path("systemd-analyze") {
        return;
    }
    // Verify the unit as installed, pointing at a binary that exists here.
    let check = dir.path().join("nightcap-capture.service");
    fs::write(&check, unit_text.replace("/usr/local/bin/nightcap", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&check)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "",
        "systemd-analyze warns about the unit"
    );
}

#[test]
fn bash_completion_completes_commands_and_flags() {
    if !on_path("bash") {
        return;
    }
    // Loads the generated script into bash and asks it, as the shell does on <Tab>.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let script = format!(
            "source <('{BIN}' completions bash)\n\
             COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
             _nightcap nightcap '{cur}' '{prev}'\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words = words.join(" "),
            cword = words.len() - 1,
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = run(Command::new("bash").arg("-c").arg(script));
        text(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(complete("nightcap capture --ring"), ["--ring-size"]);
    assert_eq!(complete("nightcap capture --expo"), ["--exposure"]);
    assert!(complete("nightcap cap").contains(&"capture".to_string()));
    assert_eq!(complete("nightcap completions fi"), ["fish"]);
}
