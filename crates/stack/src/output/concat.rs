//! ffmpeg concat lists and video encoding.
//!
//! A timelapse is a folder of frames plus an `ffconcat` list giving each frame its
//! duration. [`write_concat`] writes the list:
//! - paths relative to the list's directory when the frame is inside it (ffmpeg resolves
//!   relative paths against the list), absolute otherwise;
//! - every path single-quoted, a `'` written as `'\''` (close quote, escaped quote, reopen);
//!   inside quotes every other byte, spaces and unicode included, is literal. A newline
//!   cannot be represented in a list line, so such a name is an error;
//! - the last-frame rule: ffmpeg versions before 5 ignore the `duration` of the last entry,
//!   so the last file is listed once more, with `outpoint 0` so that newer versions (which
//!   honour the duration) do not show it as an extra frame.
//!
//! [`ffmpeg_command`] builds the encode command and [`encode`] runs it when ffmpeg is on
//! `PATH`, or hands back the command for the user to run.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{write_atomic, OutputError};

/// One frame of a concat list: the image and how long it is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcatEntry {
    pub path: PathBuf,
    pub duration_s: f64,
}

/// Why a concat list cannot be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConcatProblem {
    #[error("the list has no entries; there is nothing to encode")]
    Empty,
    #[error("entry {index} has duration {duration_s}; durations must be positive and finite")]
    Duration { index: usize, duration_s: f64 },
    #[error("entry {index} ({path:?}) contains a line break, which a concat list cannot hold; rename the file")]
    LineBreak { index: usize, path: PathBuf },
}

/// The bytes of a path, quoted for a concat list (`'` becomes `'\''`).
pub fn quote_path(path: &Path) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in path_bytes(path).iter() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

/// `path` as written in a list stored in `list_dir`: relative when inside it. When the
/// folder's name holds a character ffmpeg reads as URL syntax (`:`, `#`, `%`, `?`), the
/// entry is written as an absolute `file:` URL instead, which ffmpeg takes literally
/// (a relative entry would be resolved against the list's name as a URL and mangled).
fn list_relative(path: &Path, list_dir: &Path) -> PathBuf {
    if url_like(list_dir) || url_like(path) {
        return file_url(path);
    }
    match path.strip_prefix(list_dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

/// Whether ffmpeg would read part of `path` as URL syntax rather than as a file name.
fn url_like(path: &Path) -> bool {
    path_bytes(path).iter().any(|b| b":#%?".contains(b))
}

/// `file:` + the absolute path: a name ffmpeg opens literally.
fn file_url(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut s = std::ffi::OsString::from("file:");
    s.push(abs.as_os_str());
    PathBuf::from(s)
}

/// `path` as an ffmpeg input or output argument (see [`list_relative`]).
fn ffmpeg_path(path: &Path) -> OsString {
    if url_like(path) {
        file_url(path).into_os_string()
    } else {
        path.as_os_str().to_owned()
    }
}

/// A duration in seconds as ffmpeg parses it (plain decimal, microsecond precision).
fn duration_text(s: f64) -> String {
    let t = format!("{s:.6}");
    let t = t.trim_end_matches('0');
    t.strip_suffix('.').unwrap_or(t).to_string()
}

/// The text of a concat list for `entries` stored in `list_dir` (entry paths and
/// `list_dir` both absolute, or both relative to the same directory).
pub fn concat_text(list_dir: &Path, entries: &[ConcatEntry]) -> Result<Vec<u8>, ConcatProblem> {
    let last = entries.last().ok_or(ConcatProblem::Empty)?;
    let mut out = b"ffconcat version 1.0\n".to_vec();
    let file_line = |out: &mut Vec<u8>, index: usize, path: &Path| {
        let rel = list_relative(path, list_dir);
        let quoted = quote_path(&rel);
        if quoted.iter().any(|&b| b == b'\n' || b == b'\r') {
            return Err(ConcatProblem::LineBreak {
                index,
                path: path.to_path_buf(),
            });
        }
        out.extend_from_slice(b"file ");
        out.extend_from_slice(&quoted);
        out.push(b'\n');
        Ok(())
    };
    for (index, e) in entries.iter().enumerate() {
        if !(e.duration_s.is_finite() && e.duration_s > 0.0) {
            return Err(ConcatProblem::Duration {
                index,
                duration_s: e.duration_s,
            });
        }
        file_line(&mut out, index, &e.path)?;
        out.extend_from_slice(format!("duration {}\n", duration_text(e.duration_s)).as_bytes());
    }
    // The last-frame rule (see the module docs).
    file_line(&mut out, entries.len() - 1, &last.path)?;
    out.extend_from_slice(b"outpoint 0\n");
    Ok(out)
}

/// Writes the concat list `list_path` (atomically).
/// Relative frame paths are taken relative to the current directory (like every other
/// path the user gives) and rewritten relative to the list's directory, or absolute.
pub fn write_concat(list_path: &Path, entries: &[ConcatEntry]) -> Result<(), OutputError> {
    // ffmpeg resolves relative names against the list's directory, not our working
    // directory, so compare absolute forms.
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| OutputError::io(p, e));
    let list_abs = absolute(list_path)?;
    let dir = list_abs.parent().unwrap_or(Path::new("/"));
    let entries = entries
        .iter()
        .map(|e| {
            Ok(ConcatEntry {
                path: absolute(&e.path)?,
                duration_s: e.duration_s,
            })
        })
        .collect::<Result<Vec<_>, OutputError>>()?;
    let text = concat_text(dir, &entries).map_err(|problem| OutputError::Concat {
        path: list_path.to_path_buf(),
        problem,
    })?;
    write_atomic(list_path, |w| {
        w.write_all(&text)
            .map_err(|e| OutputError::io(list_path, e))
    })
}

/// The ffmpeg arguments (program name first) that encode the list to an H.264 MP4 at
/// `fps` frames per second: constant frame rate (frames repeated or dropped to follow the
/// list's durations), yuv420p for players, dimensions cropped to even numbers as
/// yuv420p requires, `+faststart` so the video plays while downloading.
pub fn ffmpeg_command(list: &Path, out: &Path, fps: u32) -> Vec<String> {
    ffmpeg_args(list, out, fps)
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// [`ffmpeg_command`] as OS strings, so non-UTF-8 paths reach ffmpeg intact.
fn ffmpeg_args(list: &Path, out: &Path, fps: u32) -> Vec<OsString> {
    let fps = fps.max(1).to_string();
    let mut args: Vec<OsString> = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
        .iter()
        .chain(&["-f", "concat", "-safe", "0", "-i"])
        .map(OsString::from)
        .collect();
    args.push(ffmpeg_path(list));
    let encode = [
        "-fps_mode",
        "cfr",
        "-r",
        &fps,
        "-vf",
        "crop=trunc(iw/2)*2:trunc(ih/2)*2",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-movflags",
        "+faststart",
    ];
    args.extend(encode.iter().map(OsString::from));
    args.push(ffmpeg_path(out));
    args
}

/// What [`encode`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeOutcome {
    /// The video was written.
    Encoded { out: PathBuf },
    /// ffmpeg is not on `PATH`; `command` is the shell command to run by hand.
    NotInstalled { command: String },
}

/// Quotes one argument for a POSIX shell (for printing commands).
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+,%".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The first executable `name` on `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Encodes the list to `out` with ffmpeg when it is installed.
pub fn encode(list: &Path, out: &Path, fps: u32) -> Result<EncodeOutcome, OutputError> {
    let printable = ffmpeg_command(list, out, fps)
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    let Some(ffmpeg) = find_on_path("ffmpeg") else {
        return Ok(EncodeOutcome::NotInstalled { command: printable });
    };
    let mut cmd = Command::new(ffmpeg);
    cmd.args(&ffmpeg_args(list, out, fps)[1..]);
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| OutputError::io(list, e))?;
    if output.status.success() {
        return Ok(EncodeOutcome::Encoded {
            out: out.to_path_buf(),
        });
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    Err(OutputError::Ffmpeg {
        command: printable,
        status: output.status.to_string(),
        stderr_tail: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::image::tests::meta;
    use crate::output::{write_image, OutputFormat};
    use nightcap_frame::pixels::Image16;
    use nightcap_frame::Cfa;

    fn entry(path: &str, d: f64) -> ConcatEntry {
        ConcatEntry {
            path: PathBuf::from(path),
            duration_s: d,
        }
    }

    fn text(dir: &str, entries: &[ConcatEntry]) -> String {
        String::from_utf8(concat_text(Path::new(dir), entries).unwrap()).unwrap()
    }

    #[test]
    fn names_are_quoted_and_relative() {
        let t = text(
            "/night",
            &[
                entry("/night/frames/a b.png", 0.04),
                entry("/night/it's.png", 0.04),
                entry("/elsewhere/étoile ☆.png", 1.5),
            ],
        );
        let want = "ffconcat version 1.0\n\
                    file 'frames/a b.png'\nduration 0.04\n\
                    file 'it'\\''s.png'\nduration 0.04\n\
                    file '/elsewhere/étoile ☆.png'\nduration 1.5\n\
                    file '/elsewhere/étoile ☆.png'\noutpoint 0\n";
        assert_eq!(t, want);
    }

    #[test]
    fn last_frame_is_listed_twice() {
        let t = text("/d", &[entry("/d/1.png", 0.2), entry("/d/2.png", 0.2)]);
        let files: Vec<&str> = t.lines().filter(|l| l.starts_with("file ")).collect();
        assert_eq!(files, ["file '1.png'", "file '2.png'", "file '2.png'"]);
        assert!(t.ends_with("file '2.png'\noutpoint 0\n"));
        // Every real entry keeps its duration, including the last one.
        assert_eq!(t.matches("duration 0.2\n").count(), 2);
    }

    #[test]
    fn bad_lists_are_refused() {
        let dir = Path::new("/d");
        assert_eq!(concat_text(dir, &[]), Err(ConcatProblem::Empty));
        for d in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                concat_text(dir, &[entry("/d/a.png", d)]),
                Err(ConcatProblem::Duration { index: 0, .. })
            ));
        }
        assert!(matches!(
            concat_text(dir, &[entry("/d/a\nb.png", 1.0)]),
            Err(ConcatProblem::LineBreak { index: 0, .. })
        ));
    }

    #[test]
    fn relative_entries_are_resolved_against_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("sub").join("l.ffconcat");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let cwd = std::env::current_dir().unwrap();
        // A relative name means "in the working directory", not "next to the list".
        write_concat(&list, &[entry("frame.png", 1.0)]).unwrap();
        let t = std::fs::read_to_string(&list).unwrap();
        let want = String::from_utf8(quote_path(&cwd.join("frame.png"))).unwrap();
        assert!(t.contains(&format!("file {want}\n")), "{t}");
        // A frame next to the list is written relative to it.
        let next = dir.path().join("sub").join("f.png");
        write_concat(
            &list,
            &[ConcatEntry {
                path: next,
                duration_s: 1.0,
            }],
        )
        .unwrap();
        assert!(std::fs::read_to_string(&list)
            .unwrap()
            .contains("file 'f.png'\n"));
    }

    #[test]
    fn durations_and_shell_quoting() {
        assert_eq!(duration_text(0.04), "0.04");
        assert_eq!(duration_text(2.0), "2");
        assert_eq!(duration_text(1.0 / 3.0), "0.333333");
        assert_eq!(shell_quote("/a/b.mp4"), "/a/b.mp4");
        assert_eq!(shell_quote("it's here"), "'it'\\''s here'");
    }

    #[test]
    fn ffmpeg_encodes_every_frame() {
        if find_on_path("ffmpeg").is_none() || find_on_path("ffprobe").is_none() {
            assert!(std::env::var_os("CI").is_none(), "ffmpeg is missing in CI");
            eprintln!("SKIPPED: ffmpeg/ffprobe are not installed; no real encode");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let frames = dir.path().join("frames");
        std::fs::create_dir(&frames).unwrap();
        let mut entries = Vec::new();
        for i in 0..10u16 {
            // Odd size on purpose: the command must crop to even dimensions.
            let mut img = Image16::zeroed(33, 21, 3, Cfa::None, 16);
            img.data.iter_mut().for_each(|v| *v = i * 6000);
            let path = frames.join(format!("frame {i} it's.png"));
            write_image(&path, &img, OutputFormat::Png, &meta()).unwrap();
            entries.push(ConcatEntry {
                path,
                duration_s: 0.2,
            });
        }
        let list = dir.path().join("timelapse.ffconcat");
        write_concat(&list, &entries).unwrap();
        let out = dir.path().join("out.mp4");
        let outcome = encode(&list, &out, 5).unwrap();
        assert_eq!(outcome, EncodeOutcome::Encoded { out: out.clone() });
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(probe.status.success());
        assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "10");
    }

    #[test]
    fn ffmpeg_failure_is_reported_with_the_command() {
        if find_on_path("ffmpeg").is_none() {
            assert!(std::env::var_os("CI").is_none(), "ffmpeg is missing in CI");
            eprintln!("SKIPPED: ffmpeg is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("l.ffconcat");
        write_concat(&list, &[entry("missing.png", 1.0)]).unwrap();
        match encode(&list, &dir.path().join("o.mp4"), 5) {
            Err(OutputError::Ffmpeg { command, .. }) => assert!(command.starts_with("ffmpeg ")),
            other => panic!("expected an ffmpeg error, got {other:?}"),
        }
    }
}
