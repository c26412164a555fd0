//! The `nightcap` binary: parse, run, map errors to exit codes.
use std::process::ExitCode;

fn main() -> ExitCode {
    nightcap::cli::main()
}
