//! `nightcap verify JOURNAL`: decode every frame and check every checksum.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::ui::Ui;
use super::EXIT_DAMAGED;
use nightcap_journal::inspect::verify;
use nightcap_journal::repair::{plan, RepairPlan};
use nightcap_journal::Journal;

/// Check every record of a journal (CRCs, zstd checksums, sequence numbers); exits 3 if
/// anything is damaged.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The journal directory.
    pub journal: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: VerifyArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    super::require_journal(&args.journal, false)?;
    let j = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let total = j.frames().len() as u64;
    let bar = ui.bar(total, "verify");
    let report = verify(&j, &|n| bar.set_position(n));
    bar.finish_and_clear();
    // The same plan `repair` carries out, so the two never disagree.
    let plan = plan(&args.journal, &j, &report)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Both<'a> {
            #[serde(flatten)]
            report: &'a nightcap_journal::inspect::VerifyReport,
            repair: &'a RepairPlan,
        }
        super::ui::outln(serde_json::to_string_pretty(&Both {
            report: &report,
            repair: &plan,
        })?)?;
    } else {
        super::ui::outln(format_args!(
            "{} segments, {} records, {} of {} frames intact",
            report.segments, report.records_checked, report.frames_ok, report.frames_checked
        ))?;
        for d in &report.damage {
            super::ui::outln(format_args!("damaged: {d}"))?;
        }
        for k in &plan.kept {
            super::ui::outln(format_args!("kept by an earlier repair: {}", k.display()))?;
        }
        if report.is_clean() {
            super::ui::outln("ok: no damage found")?;
        } else {
            super::ui::outln(format_args!(
                "{} found",
                super::ui::count(report.damage.len() as u64, "problem")
            ))?;
            for f in &plan.fixes {
                super::ui::outln(format_args!("repair would {f}"))?;
            }
            for d in &plan.cannot_fix {
                super::ui::outln(format_args!("repair cannot fix: {d}"))?;
            }
            if plan.has_fixes() {
                super::ui::outln(format_args!(
                    "run `nightcap repair {}`: it keeps every intact record and the originals",
                    args.journal.display()
                ))?;
            }
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DAMAGED)
    })
}
