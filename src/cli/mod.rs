//! The command line: clap definitions ("what the user typed") converted once into the
//! library's typed configs, one file per command. The library never sees clap.
//!
//! Exit codes: 0 success, 1 failure (one line on stderr naming the problem and the fix),
//! 2 bad command line, 3 damage found (`verify`), 130 interrupted before anything ran.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

pub mod args;
pub mod capture;
pub mod clean;
pub mod config;
pub mod detect;
pub mod detect_live;
pub mod detection;
pub mod devices;
pub mod docs;
pub mod errors;
pub mod export;
pub mod info;
pub mod keogram;
pub mod night;
pub mod repair;
pub mod serve;
pub mod stack;
pub mod timelapse;
pub mod trails;
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
    /// Read capture settings from this TOML file (e.g. /etc/nightcap/nightcap.toml);
    /// flags given on the command line override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    Stack(stack::StackArgs),
    Trails(trails::TrailsArgs),
    Timelapse(timelapse::TimelapseArgs),
    Keogram(keogram::KeogramArgs),
    Detect(detect::DetectArgs),
    Night(night::NightArgs),
    Serve(serve::ServeArgs),
    Completions(docs::CompletionsArgs),
    Man(docs::ManArgs),
}

/// The text of a small regular file, read without blocking on a FIFO and refusing one
/// larger than `max` bytes.
pub fn read_small_text(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a FIFO, device or directory)",
        ));
    }
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(text)
}

/// Exit code for a command that ran but found damage (`verify`).
pub const EXIT_DAMAGED: u8 = 3;

/// Runs the command line and maps the result to an exit code.
pub fn main() -> ExitCode {
    // The original program spelled its DRC flag `-drc`; keep that working.
    let args: Vec<std::ffi::OsString> = std::env::args_os()
        .map(|a| if a == "-drc" { "--drc".into() } else { a })
        .collect();
    let parsed = Cli::command()
        .try_get_matches_from(&args)
        .and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return bad_command_line(e, &args),
    };
    match run(cli, &matches) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("nightcap: {}", one_line(&err));
            if err.downcast_ref::<errors::UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Help and version go to stdout as clap prints them; errors become one line (exit 2).
fn bad_command_line(e: clap::Error, args: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand as BareCommand;
    if !e.use_stderr() || e.kind() == BareCommand {
        e.exit();
    }
    eprintln!("nightcap: {}", errors::clap_line(&e, args));
    ExitCode::from(2)
}

fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<ExitCode> {
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    // Read (and check) the file whatever the command, so a broken file is never ignored.
    let file = cli.config.as_deref().map(config::load).transpose()?;
    match cli.command {
        Command::Capture(mut a) => {
            if let (Some(settings), Some(m), Some(path)) = (
                file.as_ref().and_then(|f| f.capture.as_ref()),
                matches.subcommand_matches("capture"),
                &cli.config,
            ) {
                let applied = config::apply_capture(settings, &mut a, m);
                ui.detail(format!("from {}: {}", path.display(), applied.join(", ")));
            }
            if let Some(flag) = matches
                .subcommand_matches("capture")
                .and_then(|m| capture::misplaced_sim_flag(&a, m))
            {
                eprintln!(
                    "nightcap: {flag} is a setting of the simulated sky: add --source sim to capture it (the default source is the camera)"
                );
                return Ok(ExitCode::from(2));
            }
            capture::run(a, ui)
        }
        Command::Import(a) => capture::run_import(a, ui),
        Command::Devices(a) => devices::run(a),
        Command::Info(a) => info::run(a, ui),
        Command::Detect(a) => detect::run(a, ui),
        Command::Verify(a) => verify::run(a, ui),
        Command::Repair(a) => repair::run(a, ui),
        Command::Export(a) => export::run(a, ui),
        Command::Stack(a) => stack::run(a, ui),
        Command::Trails(a) => trails::run(a, ui),
        Command::Timelapse(a) => timelapse::run(a, ui),
        Command::Keogram(a) => keogram::run(a, ui),
        Command::Night(a) => night::run(a),
        Command::Serve(a) => serve::run(a, ui),
        Command::Completions(a) => docs::run_completions(a),
        Command::Man(a) => docs::run_man(a, ui),
    }
}

/// Checks, before any work, that an output file can be written at `path`: its folder is
/// created if missing, and a probe file is created there and removed. So a night is never
/// computed only to fail at the end on a missing or read-only folder.
pub fn check_output_file(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if path.is_dir() {
        anyhow::bail!(
            "--out {} is a directory: give a file name such as {}/trails.jpg",
            path.display(),
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the folder {} for --out", dir.display()))?;
    let probe = dir.join(format!(".nightcap-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| {
            format!(
                "cannot write into {} (check its permissions, or give another --out)",
                dir.display()
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Fails unless `dir` is a journal directory: a directory holding segment files, or an
/// empty one (a journal nothing was captured into yet), which only `allow_empty` commands
/// (`info`) accept. A directory of other files is not a journal: the read-only commands
/// say so in one line instead of reporting nothing.
pub fn require_journal(dir: &std::path::Path, allow_empty: bool) -> anyhow::Result<()> {
    let segments = nightcap_journal::reader::list_segments(dir)?;
    if !segments.is_empty() {
        return Ok(());
    }
    let others = std::fs::read_dir(dir)?
        .flatten()
        .any(|e| e.file_name() != nightcap_journal::format::LOCK_FILE);
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
    let mut line = parts.join(": ").replace('\n', "; ");
    if let Some(hint) = errors::hint(err) {
        line.push_str(&format!(" ({hint})"));
    }
    line
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
