//! `nightcap info JOURNAL`: what a journal holds, from its indexes (fast, no decoding).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::ui::Ui;
use crate::journal::inspect::{summarize, JournalSummary};
use crate::journal::Journal;
use crate::time::{human_duration, utc_short};

/// Show the segments, frames, time span, gaps, sizes and compression of a journal.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The journal directory.
    pub journal: PathBuf,
    /// Print the summary as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InfoArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    super::require_journal(&args.journal, true)?;
    let j = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let s = summarize(&j);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", render(&s, ui.verbose));
    }
    Ok(ExitCode::SUCCESS)
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// The human-readable summary.
pub fn render(s: &JournalSummary, verbose: bool) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "journal    {}", s.dir.display());
    if s.segments.is_empty() {
        let _ = writeln!(
            o,
            "empty: no segments yet (capture writes them: nightcap capture --journal {})",
            s.dir.display()
        );
        return o;
    }
    let sealed = s
        .segments
        .iter()
        .filter(|g| g.state == crate::journal::format::SegmentState::Sealed)
        .count();
    let _ = writeln!(
        o,
        "segments   {} ({} sealed, {} active)",
        s.segments.len(),
        sealed,
        s.segments.len() - sealed
    );
    let _ = writeln!(o, "format     {}", s.segments[0].format);
    let _ = writeln!(
        o,
        "frames     {}{}",
        s.frames,
        match (s.first_seq, s.last_seq) {
            (Some(a), Some(b)) => format!(" (seq {a}..={b})"),
            _ => String::new(),
        }
    );
    if let (Some(a), Some(b)) = (s.start_ns, s.end_ns) {
        let _ = writeln!(
            o,
            "time       {} .. {} UTC ({})",
            utc_short(a),
            utc_short(b),
            human_duration(b - a)
        );
        let _ = writeln!(
            o,
            "exposure   {} in total",
            human_duration(s.total_exposure_us as i64 * 1000)
        );
    }
    let _ = writeln!(
        o,
        "size       {} on disk; frames {} raw, {} stored, ratio {:.2}:1",
        mib(s.bytes_on_disk),
        mib(s.raw_bytes),
        mib(s.stored_bytes),
        s.compression_ratio
    );
    let _ = writeln!(
        o,
        "gaps       {} ({} frames missed)",
        s.gaps.len(),
        s.missed_frames
    );
    for g in &s.gaps {
        let _ = writeln!(
            o,
            "  {} .. {}  {:?}: {} frames, {}",
            utc_short(g.start_ns),
            utc_short(g.end_ns),
            g.reason,
            g.count,
            g.text
        );
    }
    if verbose {
        for g in &s.segments {
            let _ = writeln!(
                o,
                "  {}  {:?}  {} frames  {}",
                g.file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                g.state,
                g.frames,
                mib(g.bytes)
            );
        }
    }
    if s.damage.is_empty() {
        let _ = writeln!(
            o,
            "damage     none found in the indexes (nightcap verify decodes every frame)"
        );
    } else {
        let _ = writeln!(
            o,
            "damage     {} problems (nightcap verify for details, nightcap repair to fix)",
            s.damage.len()
        );
        for d in s.damage.iter().take(if verbose { usize::MAX } else { 5 }) {
            let _ = writeln!(o, "  {d}");
        }
    }
    o
}
