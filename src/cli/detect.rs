//! `nightcap detect JOURNAL`: meteors, satellites and planes in a journal's frames.
//!
//! Frames are read in journal order and handed to [`nightcap_detect::Detector`]; a frame
//! that cannot be read is skipped and said (it breaks the run like a gap). Written to
//! `--out`: `events.jsonl` (one event per line, every frame of it), `events.csv` (one
//! line per event) and, per meteor, `meteor-SEQ.png`: the frames of the meteor
//! max-stacked and cropped around it. Prints a line per class; with a truth file
//! (`--truth`, or the `sim-truth.jsonl` a simulated capture leaves in the journal) the
//! score against it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::detection;
use super::ui::{count, Ui};
use nightcap_detect::score::{parse_truth, score};
use nightcap_detect::{Class, DetectConfig};
use nightcap_journal::Journal;

/// Find meteors, satellites and planes in a journal's frames.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// The journal directory.
    pub journal: PathBuf,
    /// Directory for events.jsonl, events.csv and a PNG per meteor (created if missing).
    #[arg(long, default_value = "detections")]
    pub out: PathBuf,
    #[command(flatten)]
    pub range: super::stack::RangeArgs,
    /// Detection threshold, in noise sigmas.
    #[arg(long, default_value_t = 5.0)]
    pub sigma: f32,
    /// Classify each streak on its own, without following it across exposures (for
    /// comparison: how detectors without linking do).
    #[arg(long)]
    pub no_link: bool,
    /// Score the events against this truth file (JSON Lines, as `sim-truth.jsonl`);
    /// by default the journal's `sim-truth.jsonl`, if it has one.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Also write `meteors.jpg`: every meteor of the night over the sky (the median of
    /// five frames in a row from the middle of the night: stars, no planes).
    #[arg(long, conflicts_with = "follow")]
    pub composite: bool,
    #[command(flatten)]
    pub look: super::stack::LookArgs,
    /// Keep searching the journal as it grows (a capture writing it), appending each
    /// event to the files as it is found, until Ctrl-C.
    #[arg(long, conflicts_with_all = ["to", "truth"])]
    pub follow: bool,
}

pub fn run(args: DetectArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    super::require_journal(&args.journal, false)?;
    if !(args.sigma.is_finite() && (2.0..=50.0).contains(&args.sigma)) {
        crate::usage!(
            "--sigma {} is out of range: use 2 to 50 (default 5)",
            args.sigma
        );
    }
    let j = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    let (from, to) = args.range.resolve(&j);
    if args.follow {
        return follow(&args, from, ui);
    }
    let frames = j.frames_in(from, to);
    if frames.is_empty() {
        anyhow::bail!(
            "no frames to search in {} (check --from/--to against `nightcap info`)",
            args.journal.display()
        );
    }
    let truth = truth_file(&args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let found = detection::find_events(
        &j,
        &frames,
        DetectConfig {
            sigma: args.sigma,
            link: !args.no_link,
            ..DetectConfig::default()
        },
        &ui,
    );
    let (events, notes, skipped) = (found.events, found.notes, found.skipped);
    for n in &notes {
        ui.say(format!("note: {n}"));
    }
    detection::write_events(&args.out, &events)?;
    let crops = detection::write_meteor_crops(&j, &frames, &events, &args.out)?;
    if args.composite {
        let path = args.out.join("meteors.jpg");
        let n =
            detection::write_composite(&j, &frames, &events, &path, args.look.settings_for(&j))?;
        ui.say(format!(
            "{} over the night's sky in {}",
            count(n, "meteor"),
            path.display()
        ));
    }
    let by_class = |c: Class| events.iter().filter(|e| e.class == c).count() as u64;
    ui.say(format!(
        "{} searched{}: {}, {}, {}, {}; {} in {}",
        count(frames.len() as u64 - skipped, "frame"),
        if skipped > 0 {
            format!(" ({skipped} damaged, skipped)")
        } else {
            String::new()
        },
        count(by_class(Class::Meteor), "meteor"),
        count(by_class(Class::Satellite), "satellite"),
        count(by_class(Class::Plane), "plane"),
        count(by_class(Class::Other), "other event"),
        count(crops, "meteor crop"),
        args.out.display()
    ));
    if let Some((path, truth)) = truth {
        let s = score(&events, &truth);
        super::ui::out(format!("score against {}:\n{s}", path.display()))?;
    }
    Ok(if skipped > 0 {
        ExitCode::from(super::EXIT_DAMAGED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `detect --follow`: until Ctrl-C.
fn follow(args: &DetectArgs, from: Option<i64>, ui: Ui) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    let f = super::detect_live::Follow {
        out: args.out.clone(),
        cfg: DetectConfig {
            sigma: args.sigma,
            link: !args.no_link,
            ..DetectConfig::default()
        },
        from_ns: from,
        from_seq: None,
        fresh: true,
        search_rest: false,
    };
    ui.say(format!(
        "following {} (Ctrl-C to stop); events go to {}",
        args.journal.display(),
        args.out.display()
    ));
    let done = super::detect_live::follow(&args.journal, &f, &stop, &ui, "")?;
    ui.say(format!("{} in {}", done.describe(), args.out.display()));
    Ok(if done.skipped > 0 {
        ExitCode::from(super::EXIT_DAMAGED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The truth file to score against, if any: `--truth`, else the journal's own.
fn truth_file(
    args: &DetectArgs,
) -> anyhow::Result<Option<(PathBuf, Vec<nightcap_detect::score::Truth>)>> {
    let path = match &args.truth {
        Some(p) => p.clone(),
        None => {
            let p = args.journal.join("sim-truth.jsonl");
            if !p.is_file() {
                return Ok(None);
            }
            p
        }
    };
    let text = super::read_small_text(&path, 64 << 20)
        .with_context(|| format!("cannot read the truth file {}", path.display()))?;
    let truth = parse_truth(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a truth file: {e}", path.display()))?;
    Ok(Some((path, truth)))
}
