//! `nightcap repair JOURNAL`: recover crashed active segments, rewrite damaged sealed
//! ones from their intact records and rebuild unreadable headers (originals kept aside).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::ui::Ui;
use super::EXIT_DAMAGED;
use nightcap_journal::repair::repair;

/// Recover and seal segments left by a crash, rewrite damaged sealed segments from their
/// intact records, and rebuild unreadable segment headers. Originals are kept as
/// *.damaged (then *.damaged.2, ...); nothing is deleted or overwritten. Running it
/// again is safe.
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
    for r in &report.rewritten {
        ui.say(format!(
            "rewrote {}{}: {} kept, {} set aside (recorded as a GAP); original kept as {}",
            r.segment.display(),
            if r.header_rebuilt {
                " with a rebuilt header"
            } else {
                ""
            },
            super::ui::count(r.frames_kept, "frame"),
            super::ui::count(r.frames_set_aside, "frame"),
            r.original.display()
        ));
    }
    for (seg, kept) in &report.set_aside {
        ui.say(format!(
            "set aside {}: its header could not be rebuilt from its records; kept as {}",
            seg.display(),
            kept.display()
        ));
    }
    for d in &report.cannot_fix {
        eprintln!("nightcap: repair cannot fix: {d}");
    }
    let did = !report.recovered.is_empty()
        || !report.rewritten.is_empty()
        || !report.set_aside.is_empty();
    if !did && report.cannot_fix.is_empty() {
        ui.say("nothing to repair");
    }
    if !report.cannot_fix.is_empty() {
        eprintln!(
            "nightcap: {} repair cannot fix (each is named above with what to do)",
            super::ui::count(report.cannot_fix.len() as u64, "problem")
        );
        return Ok(ExitCode::from(EXIT_DAMAGED));
    }
    Ok(ExitCode::SUCCESS)
}
