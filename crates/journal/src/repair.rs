//! `nightcap repair`: makes a journal whole again without losing an intact record, and
//! without ever destroying what it keeps.
//!
//! [`plan`] is the one place that decides what is damaged and what repair does about it;
//! `verify` prints the same plan, so the two never disagree:
//!
//! - [`Fix::Seal`]: a crashed `.active` segment is recovered exactly as the next capture
//!   would (valid prefix kept, damaged tail moved to a `.tail` file) and sealed.
//! - [`Fix::Rewrite`]: a sealed segment with damage is rewritten from its intact records,
//!   byte for byte (no re-encoding; seqs and times kept; a duplicated record once; frames
//!   in seq order). Each run of frames left out becomes a GAP record with reason
//!   "set aside" that accounts for exactly their seq numbers, so the rewritten segment
//!   reads clean and a second repair finds nothing to do.
//! - [`Fix::RebuildHeader`]: a segment whose header cannot be read is rebuilt through
//!   `rebuild` (every frame must then decode, or the guess is refused), then
//!   rewritten as above. If no rebuilt header works, the file is set aside.
//! - What repair cannot fix (frames missing between segments: a segment deleted or not
//!   copied) is reported by both commands, never "repaired" away.
//!
//! Nothing is thrown away: before a segment is replaced, its original bytes are copied,
//! synced and renamed to `<name>.damaged` (then `.damaged.2`, `.damaged.3`, ...: an
//! existing copy is never overwritten; an identical one is reused). A repair killed at
//! any point leaves the original or its copy, and running repair again is safe.
//!
//! Repair takes the journal lock, so it cannot run while a capture writes the journal.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{Damage, JournalError};
use super::format::{SegmentName, SegmentState};
use super::inspect::VerifyReport;
use super::reader::{list_segments, Journal};
use super::rewrite::{keep_original, rebuild, rewrite};
pub use super::rewrite::{Rewritten, KEPT_SUFFIX};
use super::segment::sync_dir;
use super::writer::{JournalWriter, WriterConfig};

/// One thing repair will do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "fix", rename_all = "kebab-case")]
pub enum Fix {
    /// Recover a crashed `.active` segment and seal it.
    Seal {
        /// The segment file.
        segment: PathBuf,
        /// Why it needs recovering.
        why: String,
    },
    /// Rewrite a sealed segment from its intact records.
    Rewrite {
        /// The segment file.
        segment: PathBuf,
        /// What is damaged in it.
        damage: Vec<Damage>,
    },
    /// Rebuild an unreadable header, then rewrite the segment.
    RebuildHeader {
        /// The segment file.
        segment: PathBuf,
        /// What is wrong with its header.
        why: String,
    },
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fix::Seal { segment, why } => write!(f, "seal {} ({why})", segment.display()),
            Fix::Rewrite { segment, damage } => write!(
                f,
                "rewrite {} from its intact records ({} damaged place{})",
                segment.display(),
                damage.len(),
                if damage.len() == 1 { "" } else { "s" }
            ),
            Fix::RebuildHeader { segment, why } => write!(
                f,
                "rebuild the header of {} from its records ({why})",
                segment.display()
            ),
        }
    }
}

/// What repair would do to a journal, and what it cannot do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairPlan {
    /// Every fix, in journal order.
    pub fixes: Vec<Fix>,
    /// Damage no rewrite can mend (frames missing between segments).
    pub cannot_fix: Vec<Damage>,
    /// Originals kept by earlier repairs (informative: not damage).
    pub kept: Vec<PathBuf>,
}

impl RepairPlan {
    /// Whether repair has anything to do.
    pub fn has_fixes(&self) -> bool {
        !self.fixes.is_empty()
    }
}

/// What repair did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairReport {
    /// Active segments recovered and sealed (with what recovery found).
    pub recovered: Vec<String>,
    /// Segments rewritten.
    pub rewritten: Vec<Rewritten>,
    /// Segments whose header could not be rebuilt: moved aside whole (path kept as).
    pub set_aside: Vec<(PathBuf, PathBuf)>,
    /// What repair could not fix.
    pub cannot_fix: Vec<Damage>,
}

/// Decides what repair does, from a journal and its verification (see the module docs).
/// `dir` is listed again to find segments the journal could not open.
pub fn plan(
    dir: &Path,
    journal: &Journal,
    report: &VerifyReport,
) -> Result<RepairPlan, JournalError> {
    let mut plan = RepairPlan {
        kept: kept_originals(dir)?,
        ..RepairPlan::default()
    };
    let opened: Vec<&Path> = journal.segments.iter().map(|s| s.path.as_path()).collect();
    let files = list_segments(dir)?;
    let superseded = |name: &SegmentName| {
        files
            .iter()
            .any(|(_, n)| n.segno == name.segno && n.state > name.state)
    };
    for (path, name) in &files {
        if name.state == SegmentState::Tmp || opened.contains(&path.as_path()) || superseded(name) {
            continue;
        }
        let why = journal
            .damage
            .iter()
            .find(|d| d.segment == *path)
            .map_or_else(|| "header unreadable".to_string(), |d| d.what.clone());
        plan.fixes.push(Fix::RebuildHeader {
            segment: path.clone(),
            why,
        });
    }
    let unreadable: Vec<PathBuf> = plan
        .fixes
        .iter()
        .filter_map(|f| match f {
            Fix::RebuildHeader { segment, .. } => Some(segment.clone()),
            _ => None,
        })
        .collect();
    for seg in &journal.segments {
        let damage: Vec<Damage> = report
            .damage
            .iter()
            .filter(|d| d.segment == seg.path)
            .filter(|d| !journal.damage.contains(d))
            .cloned()
            .collect();
        match seg.name.state {
            SegmentState::Active if !damage.is_empty() => plan.fixes.push(Fix::Seal {
                segment: seg.path.clone(),
                why: format!(
                    "left by a capture that did not stop cleanly; {}",
                    damage[0].what
                ),
            }),
            SegmentState::Sealed if !damage.is_empty() => plan.fixes.push(Fix::Rewrite {
                segment: seg.path.clone(),
                damage,
            }),
            _ => {}
        }
    }
    // Journal-level damage: unreadable segments are fixed above; the rest are frames
    // that no segment here holds.
    plan.cannot_fix = journal
        .damage
        .iter()
        .filter(|d| !unreadable.contains(&d.segment))
        .cloned()
        .collect();
    Ok(plan)
}

/// Originals kept by repairs (`*.damaged*`), sorted.
fn kept_originals(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let mut kept = Vec::new();
    for entry in fs::read_dir(dir).map_err(JournalError::io("listing", dir))? {
        let entry = entry.map_err(JournalError::io("listing", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A `.partial` is a copy a killed repair did not finish: not an original.
        if name.contains(&format!(".{KEPT_SUFFIX}")) && !name.ends_with(".partial") {
            kept.push(entry.path());
        }
    }
    kept.sort();
    Ok(kept)
}

/// Repairs the journal in `dir`. See the module docs.
pub fn repair(dir: &Path) -> Result<RepairReport, JournalError> {
    let mut report = RepairReport::default();
    // Crashed active segments are recovered by the writer's own recovery, exactly as the
    // next capture would; the lock it takes is held until the last rewrite. An active
    // segment whose header cannot be read is left for the rebuild below.
    list_segments(dir)?;
    let mut cfg = WriterConfig::new(dir);
    cfg.budget.reserve_bytes = 0;
    cfg.sync_interval = std::time::Duration::ZERO;
    let (_lock, recovery) = JournalWriter::recover(cfg)?;
    report.recovered = recovery.recovered;
    let journal = Journal::open(dir)?;
    let verified = super::inspect::verify(&journal, &|_| {});
    let plan = plan(dir, &journal, &verified)?;
    let neighbours: Vec<_> = journal.segments.iter().map(|s| s.header).collect();
    // Headers first: a rewrite sets aside the seqs up to the next segment's first, which
    // is known only once that segment's header is readable again (with the damaged
    // header left out, the next readable segment's first seq would make the rewrite set
    // aside every frame of the one between, as if it were missing).
    let (rebuilds, rewrites): (Vec<&Fix>, Vec<&Fix>) = plan
        .fixes
        .iter()
        .partition(|f| matches!(f, Fix::RebuildHeader { .. }));
    let mut reopened = None;
    for fix in rebuilds.into_iter().chain(rewrites) {
        if matches!(fix, Fix::Rewrite { .. }) && reopened.is_none() {
            reopened = Some(Journal::open(dir)?);
        }
        let journal = reopened.as_ref().unwrap_or(&journal);
        match fix {
            Fix::Rewrite { segment, .. } => {
                let Some(seg) = journal.segments.iter().find(|s| s.path == *segment) else {
                    // Gone since it was planned (another process): the final check says so.
                    continue;
                };
                let next = next_first_seq(journal, seg.name.segno);
                let original = keep_original(segment)?;
                let (kept, set_aside) = rewrite(dir, seg, seg.header, next)?;
                report.rewritten.push(Rewritten {
                    segment: segment.clone(),
                    frames_kept: kept,
                    frames_set_aside: set_aside,
                    header_rebuilt: false,
                    original,
                });
            }
            Fix::RebuildHeader { segment, .. } => {
                let name =
                    SegmentName::parse(&segment.file_name().unwrap_or_default().to_string_lossy())
                        .expect("listed as a segment");
                let next = next_first_seq(journal, name.segno);
                match rebuild(dir, segment, &name, &neighbours, next)? {
                    Some(done) => report.rewritten.push(done),
                    None => {
                        let original = keep_original(segment)?;
                        fs::remove_file(segment).map_err(JournalError::io("removing", segment))?;
                        sync_dir(dir)?;
                        report.set_aside.push((segment.clone(), original));
                    }
                }
            }
            // Recovered by the writer above; a damaged active segment it could not
            // recover (another process appeared) is reported by the next verify.
            Fix::Seal { .. } => {}
        }
    }
    // What is still missing between segments once every segment is readable again.
    report.cannot_fix = Journal::open(dir)?.damage;
    Ok(report)
}

/// The first seq of the segment after `segno`, if the journal has one.
fn next_first_seq(journal: &Journal, segno: u64) -> Option<u64> {
    journal
        .segments
        .iter()
        .filter(|s| s.name.segno > segno)
        .map(|s| s.header.first_seq)
        .min()
}
