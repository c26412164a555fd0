//! `nightcap completions SHELL` and `nightcap man`: shell completions and manual pages
//! generated from the clap definitions, so they can never disagree with `--help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::CommandFactory;

use super::ui::Ui;
use super::Cli;

/// Print a shell completion script to stdout.
///
/// bash: `nightcap completions bash > /etc/bash_completion.d/nightcap`;
/// zsh: `nightcap completions zsh > "${fpath[1]}/_nightcap"`;
/// fish: `nightcap completions fish > ~/.config/fish/completions/nightcap.fish`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the manual page (roff) to stdout, or write one page per command with --out.
///
/// Read it with `nightcap man | man -l -`, or install the pages with
/// `nightcap man --out /usr/local/share/man/man1`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The command whose page to print (e.g. capture); the overview page when omitted.
    pub command: Option<String>,
    /// Write every page (nightcap.1, nightcap-capture.1, ...) into this directory instead.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out: Option<PathBuf>,
}

pub fn run_completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "nightcap", &mut out);
    write_stdout(&out)
}

pub fn run_man(args: ManArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let cmd = built_command();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for page in std::iter::once(&cmd).chain(cmd.get_subcommands()) {
            man(page)
                .generate_to(dir)
                .with_context(|| format!("cannot write manual pages into {}", dir.display()))?;
        }
        ui.say(format!("manual pages written to {}", dir.display()));
        return Ok(ExitCode::SUCCESS);
    }
    write_stdout(&render_page(cmd, args.command.as_deref())?)
}

/// The command tree as the pages describe it: built, so that subcommands carry their
/// display names (`nightcap-capture`), and without the `help` pseudo-command.
fn built_command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The roff page of `command` (a subcommand's name) or of nightcap itself; `cmd` built.
fn render_page(cmd: clap::Command, command: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let page = match command {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                bail!("no command '{name}': use one of {}", names.join(", "));
            }
        },
    };
    let mut out = Vec::new();
    man(&page)
        .render(&mut out)
        .context("cannot render the manual page")?;
    Ok(out)
}

/// The page of one command, titled with nightcap's name and version.
fn man(cmd: &clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd.clone()).source(format!("nightcap {}", env!("CARGO_PKG_VERSION")))
}

/// Writes to stdout; a closed pipe (`nightcap man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(shell: clap_complete::Shell) -> String {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "nightcap", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn completions_know_commands_and_flags() {
        use clap_complete::Shell::*;
        let bash = completion(Bash);
        assert!(bash.contains("capture") && bash.contains("--exposure"));
        assert!(bash.contains("--ring-size") && bash.contains("--config"));
        for shell in [Zsh, Fish, Elvish, PowerShell] {
            let text = completion(shell);
            assert!(
                text.contains("exposure") && text.contains("verify"),
                "{shell}"
            );
        }
    }

    fn page(command: Option<&str>) -> String {
        String::from_utf8(render_page(built_command(), command).unwrap()).unwrap()
    }

    /// The first request of a page, after the preamble that defines the `\\*(Aq`
    /// apostrophe string (which the page uses, so it stays).
    fn first_request(page: &str) -> &str {
        let mut lines = page.lines();
        assert_eq!(lines.next(), Some(".ie \\n(.g .ds Aq \\(aq"));
        assert_eq!(lines.next(), Some(".el .ds Aq '"));
        lines.next().unwrap()
    }

    #[test]
    fn man_pages_document_the_flags() {
        let top = page(None);
        assert!(first_request(&top).starts_with(".TH nightcap 1"), "{top}");
        assert!(top.contains("\"nightcap 0.1.0\""), "{top}");
        assert!(top.contains("capture") && top.contains("\\-\\-config"));
        let capture = page(Some("capture"));
        assert!(first_request(&capture).starts_with(".TH nightcap-capture 1"));
        assert!(first_request(&capture).contains("\"nightcap 0.1.0\""));
        // roff escapes the dashes of option names.
        assert!(capture.contains("\\-\\-journal"), "{capture}");
        assert!(capture.contains("The journal directory"));
        let err = render_page(built_command(), Some("captur"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no command 'captur': use one of capture, import"),
            "{err}"
        );
    }

    #[test]
    fn man_out_writes_one_page_per_command() {
        let dir = tempfile::tempdir().unwrap();
        let args = ManArgs {
            command: None,
            out: Some(dir.path().join("man1")),
        };
        run_man(
            args,
            Ui {
                quiet: true,
                verbose: false,
            },
        )
        .unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("man1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for want in [
            "nightcap.1",
            "nightcap-capture.1",
            "nightcap-verify.1",
            "nightcap-man.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        let capture = std::fs::read_to_string(dir.path().join("man1/nightcap-capture.1")).unwrap();
        assert!(first_request(&capture).starts_with(".TH"));
        assert!(capture.contains("\\-\\-journal"));
    }
}
