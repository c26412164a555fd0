//! Terminal output shared by the commands: progress bars that hide themselves when
//! stderr is not a terminal or `--quiet` is given, and status lines.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How chatty the commands are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ui {
    pub quiet: bool,
    pub verbose: bool,
}

impl Ui {
    /// A progress bar of `len` steps with an ETA; hidden unless stderr is a terminal.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(len), self.target());
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }

    /// A spinner-style status line; hidden unless stderr is a terminal.
    pub fn status(&self) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {wide_msg}").expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// Prints a line to stderr unless quiet.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    /// Prints a line to stderr only with `--verbose`.
    pub fn detail(&self, text: impl AsRef<str>) {
        if self.verbose {
            eprintln!("{}", text.as_ref());
        }
    }
}

/// Set once stdout is found closed (`nightcap info J | head -1`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Prints `text` to stdout (results: reports, JSON). A closed pipe is not an error: the
/// reader has all it wanted, so the rest is dropped quietly and the command finishes
/// with its own exit code, as `grep` or `ls` do behind `head`. Other write errors are
/// returned.
pub fn out(text: impl std::fmt::Display) -> std::io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    match write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// [`out`] with a newline.
pub fn outln(text: impl std::fmt::Display) -> std::io::Result<()> {
    out(format_args!("{text}\n"))
}

/// `1 frame`, `2 frames`.
pub fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
