//! `nightcap repair JOURNAL`: recover crashed active segments and rewrite damaged sealed
//! ones from their intact records (originals kept aside).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::ui::Ui;
use crate::journal::repair::repair;

/// Recover and seal segments left by a crash, and rewrite damaged sealed segments from
/// their intact records (the originals are kept as *.damaged; nothing is deleted).
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The journal directory (no capture may be writing it).
    pub journal: PathBuf,
}

pub fn run(args: RepairArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    super::require_journal(&args.journal, false)?;
    let report = repair(&args.journal)
        .with_context(|| format!("cannot repair journal {}", args.journal.display()))?;
    for r in &report.recovered {
        ui.say(format!("recovered: {r}"));
    }
    for (seg, kept, dropped, aside) in &report.rewritten {
        ui.say(format!(
            "rewrote {}: {kept} records kept, {dropped} damaged records dropped; original kept as {}",
            seg.display(),
            aside.display()
        ));
    }
    if report.recovered.is_empty() && report.rewritten.is_empty() {
        ui.say("nothing to repair");
    }
    Ok(ExitCode::SUCCESS)
}
