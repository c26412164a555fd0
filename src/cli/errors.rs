//! Error messages as the user sees them: one line on stderr that names the problem and
//! says what to do.
//!
//! - [`clap_line`] folds clap's multi-line usage errors into one line that ends with the
//!   `--help` to read;
//! - [`hint`] adds a hint to errors whose root cause does not say what to do: a bare
//!   operating-system error ("No such file or directory"), or a path that is not a journal.

use std::ffi::OsString;
use std::io::ErrorKind;

use clap::CommandFactory;

use super::Cli;
use nightcap_journal::JournalError;

/// A value on the command line (or in the config file) that cannot work, found after
/// clap parsed it (a range, or two flags that contradict each other): exit 2, like any
/// other bad command line, and nothing created.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Returns a [`UsageError`] from `format!`-style arguments.
#[macro_export]
macro_rules! usage {
    ($($t:tt)*) => {
        return Err($crate::cli::errors::UsageError(format!($($t)*)).into())
    };
}

/// A clap error (bad command line) as one line, without the `error: ` prefix:
/// `invalid value '20X' for '--ring-size <RING_SIZE>': ... (see `nightcap capture --help`)`.
/// `args` is the command line, to name the subcommand when clap's text does not.
pub fn clap_line(err: &clap::Error, args: &[OsString]) -> String {
    let rendered = err.render().to_string();
    let mut message: Vec<&str> = Vec::new();
    let mut tips: Vec<&str> = Vec::new();
    let mut command = command_of(args);
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(usage) = line.strip_prefix("Usage:") {
            // `Usage: nightcap capture [OPTIONS]` → `nightcap capture`
            let words: Vec<&str> = usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect();
            if !words.is_empty() {
                command = words.join(" ");
            }
        } else if let Some(tip) = line.strip_prefix("tip:") {
            tips.push(tip.trim());
        } else if !line.starts_with("For more information") {
            message.push(line.strip_prefix("error:").unwrap_or(line).trim());
        }
    }
    let mut hint = tips.join("; ");
    if !hint.is_empty() {
        hint.push_str("; ");
    }
    format!(
        "{} ({hint}see `{command} --help`)",
        message.join(" ").trim_end_matches(':')
    )
}

/// `nightcap SUBCOMMAND` for the first argument naming a subcommand, else `nightcap`.
fn command_of(args: &[OsString]) -> String {
    let cmd = Cli::command();
    let sub = args.iter().skip(1).find_map(|a| {
        let a = a.to_str()?;
        cmd.get_subcommands().find(|s| s.get_name() == a)
    });
    match sub {
        Some(s) => format!("nightcap {}", s.get_name()),
        None => "nightcap".to_string(),
    }
}

/// What to do about an error whose root cause does not say.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    let root = err.root_cause();
    // The journal's errors say what is wrong in its own terms; the flags are ours.
    match root.downcast_ref::<JournalError>() {
        Some(JournalError::NotAJournal { why, .. }) => {
            // The library's "cannot stat" reason already carries a hint.
            return (!why.contains('('))
                .then_some("give the journal directory, the one capture wrote with --journal");
        }
        Some(JournalError::Locked { .. }) => {
            return Some("stop it first, or use another --journal")
        }
        Some(JournalError::DiskFull { .. }) => {
            return Some("free space, or lower --segment-size / --reserve")
        }
        Some(JournalError::RingFull { .. }) => {
            return Some("raise --ring-size or lower --segment-size")
        }
        _ => {}
    }
    match root.downcast_ref::<nightcap_stack::StackError>() {
        Some(nightcap_stack::StackError::NoFrames { .. }) => {
            return Some("check --from/--to against `nightcap info`")
        }
        Some(nightcap_stack::StackError::NothingStacked { .. }) => {
            return Some("run `nightcap verify`")
        }
        _ => {}
    }
    io_hint(root.downcast_ref::<std::io::Error>()?)
}

/// What to do about a bare I/O error, by its kind.
fn io_hint(io: &std::io::Error) -> Option<&'static str> {
    Some(match io.kind() {
        ErrorKind::NotFound => "check that the path exists",
        ErrorKind::PermissionDenied => {
            "check the permissions, or run as a user who may use that path (the service runs as user nightcap)"
        }
        ErrorKind::AlreadyExists => "a file of that name is in the way: move it or choose another path",
        ErrorKind::NotADirectory => "a file is in the way where a directory is needed: check the path",
        ErrorKind::IsADirectory => "that is a directory: give a file",
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            "the disk is full: free some space, or lower --ring-size"
        }
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only: choose another path",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory;

    fn clap_err(args: &[&str]) -> String {
        let err = Cli::command().try_get_matches_from(args).unwrap_err();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        clap_line(&err, &args)
    }

    #[test]
    fn clap_errors_become_one_line_with_the_help_to_read() {
        let bad_size = clap_err(&["nightcap", "capture", "--ring-size", "20X"]);
        assert_eq!(
            bad_size,
            "invalid value '20X' for '--ring-size <RING_SIZE>': '20X' is not a size: use a number \
             with an optional unit, e.g. 512M or 8G (see `nightcap capture --help`)"
        );
        let missing = clap_err(&["nightcap", "export", "j"]);
        assert_eq!(
            missing,
            "the following required arguments were not provided: <OUT> (see `nightcap export --help`)"
        );
        let unknown = clap_err(&["nightcap", "capture", "--expose", "5"]);
        assert!(
            unknown.starts_with("unexpected argument '--expose' found ("),
            "{unknown}"
        );
        assert!(unknown.contains("--exposure"), "{unknown}");
        assert!(
            unknown.ends_with("see `nightcap capture --help`)"),
            "{unknown}"
        );
        let shell = clap_err(&["nightcap", "completions", "tcsh"]);
        assert!(shell.contains("[possible values: bash,"), "{shell}");
        assert!(
            shell.ends_with("see `nightcap completions --help`)"),
            "{shell}"
        );
        let sub = clap_err(&["nightcap", "captre"]);
        assert!(
            sub.starts_with("unrecognized subcommand 'captre' ("),
            "{sub}"
        );
        assert!(sub.ends_with("see `nightcap --help`)"), "{sub}");
        for line in [bad_size, missing, unknown, sub] {
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn journal_errors_get_the_flags_that_fix_them() {
        let dir = std::path::PathBuf::from("j");
        let cases = [
            (
                JournalError::Locked {
                    dir: dir.clone(),
                    pid: Some(7),
                },
                "--journal",
            ),
            (
                JournalError::DiskFull {
                    dir: dir.clone(),
                    needed: 1,
                    reserve: 1,
                    available: 0,
                },
                "--segment-size / --reserve",
            ),
            (
                JournalError::RingFull {
                    dir,
                    budget: 1,
                    needed: 2,
                },
                "--ring-size",
            ),
        ];
        for (err, flag) in cases {
            assert!(
                !err.to_string().contains("--"),
                "the library names no flag: {err}"
            );
            let err = anyhow::Error::new(err).context("capture stopped");
            assert!(hint(&err).unwrap().contains(flag), "{err:#}");
        }
    }

    #[test]
    fn stack_errors_get_the_command_that_helps() {
        let none = nightcap_stack::StackError::NoFrames {
            dir: "j".into(),
            from: "21:00".into(),
            to: "22:00".into(),
        };
        let broken = nightcap_stack::StackError::NothingStacked { frames: 3 };
        for (err, want) in [(none, "--from/--to"), (broken, "nightcap verify")] {
            assert!(
                !err.to_string().contains("nightcap "),
                "the library names no command: {err}"
            );
            assert!(hint(&anyhow::Error::new(err)).unwrap().contains(want));
        }
    }

    #[test]
    fn bare_io_errors_get_a_hint() {
        let not_found = anyhow::Error::new(std::io::Error::from(ErrorKind::NotFound))
            .context("cannot import frames");
        assert_eq!(hint(&not_found), Some("check that the path exists"));
        let full = anyhow::Error::new(std::io::Error::from(ErrorKind::StorageFull));
        assert!(hint(&full).unwrap().contains("--ring-size"));
        assert_eq!(hint(&anyhow::anyhow!("no frames")), None);
        let file = tempfile::NamedTempFile::new().unwrap();
        let Err(err) = nightcap_journal::Journal::open(file.path()) else {
            panic!("a file is not a journal")
        };
        let err = anyhow::Error::new(err);
        assert_eq!(
            hint(&err),
            Some("give the journal directory, the one capture wrote with --journal")
        );
    }
}
