//! The command line: clap definitions ("what the user typed") converted once into the
//! library's typed configs, one file per command. The library never sees clap.
//!
//! Exit codes: 0 success, 1 failure (one line on stderr naming the problem and the fix),
//! 2 bad command line, 3 damage found (`verify`), 130 interrupted before anything ran.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod args;
pub mod capture;
pub mod devices;
pub mod export;
pub mod info;
pub mod repair;
pub mod ui;
pub mod verify;

use ui::Ui;

/// Night-sky long-exposure capture into a raw frame journal, and stacking from it.
#[derive(Debug, Parser)]
#[command(name = "nightcap", version, about, long_about = None)]
pub struct Cli {
    /// Print more detail about what is happening.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print nothing but errors (and results asked for, such as --json).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
// One value parsed once at startup: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    Capture(capture::CaptureArgs),
    Import(capture::ImportArgs),
    /// List cameras: formats, sizes and exposure/gain controls.
    Devices(devices::DevicesArgs),
    Info(info::InfoArgs),
    Verify(verify::VerifyArgs),
    Repair(repair::RepairArgs),
    Export(export::ExportArgs),
}

/// Exit code for a command that ran but found damage (`verify`).
pub const EXIT_DAMAGED: u8 = 3;

/// Runs the command line and maps the result to an exit code.
pub fn main() -> ExitCode {
    // The original program spelled its DRC flag `-drc`; keep that working.
    let args = std::env::args_os().map(|a| if a == "-drc" { "--drc".into() } else { a });
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("nightcap: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Capture(a) => capture::run(a, ui),
        Command::Import(a) => capture::run_import(a, ui),
        Command::Devices(a) => devices::run(a),
        Command::Info(a) => info::run(a, ui),
        Command::Verify(a) => verify::run(a, ui),
        Command::Repair(a) => repair::run(a, ui),
        Command::Export(a) => export::run(a, ui),
    }
}

/// Prints a command-line error as one line (the problem, clap's tip if any, where to
/// look) and returns exit code 2; help and version requests print as clap does.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::from(err.exit_code().clamp(0, 255) as u8);
    }
    let text = err.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad command line");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // Required arguments are listed on the lines after the first.
    let missing: Vec<&str> = text
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.trim().is_empty())
        .map(str::trim)
        .filter(|l| !l.starts_with("tip:"))
        .collect();
    if !missing.is_empty() {
        line.push(' ');
        line.push_str(&missing.join(" "));
    }
    if let Some(tip) = text.lines().map(str::trim).find(|l| l.starts_with("tip:")) {
        line.push_str(&format!(" ({tip})"));
    }
    match text.lines().find_map(|l| l.trim().strip_prefix("Usage: ")) {
        Some(usage) => line.push_str(&format!("; usage: {usage} (see --help)")),
        None => line.push_str(" (see --help)"),
    }
    eprintln!("nightcap: {line}");
    ExitCode::from(2)
}

/// Fails unless `dir` is a journal directory: a directory holding segment files, or an
/// empty one (a journal nothing was captured into yet), which only `allow_empty` commands
/// (`info`) accept. A directory of other files is not a journal: the read-only commands
/// say so in one line instead of reporting nothing.
pub fn require_journal(dir: &std::path::Path, allow_empty: bool) -> anyhow::Result<()> {
    let segments = crate::journal::reader::list_segments(dir)?;
    if !segments.is_empty() {
        return Ok(());
    }
    let others = std::fs::read_dir(dir)?
        .flatten()
        .any(|e| e.file_name() != crate::journal::format::LOCK_FILE);
    if others {
        anyhow::bail!(
            "{} is not a nightcap journal: it holds no segment files (*.seg, *.active) (check the path)",
            dir.display()
        );
    }
    if !allow_empty {
        anyhow::bail!(
            "{} is an empty journal: no segments yet (capture into it first, or check the path)",
            dir.display()
        );
    }
    Ok(())
}

/// The error and its causes as one line: "what failed: because: because".
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
