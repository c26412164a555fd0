//! `nightcap detect JOURNAL`: meteors, satellites and planes in a journal's frames.
//!
//! Frames are read in journal order and handed to [`nightcap_detect::Detector`]; a frame
//! that cannot be read is skipped and said (it breaks the run like a gap). Written to
//! `--out`: `events.jsonl` (one event per line, every frame of it), `events.csv` (one
//! line per event) and, per meteor, `meteor-SEQ.png`: the frames of the meteor
//! max-stacked and cropped around it. Prints a line per class; with a truth file
//! (`--truth`, or the `sim-truth.jsonl` a simulated capture leaves in the journal) the
//! score against it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::ui::{count, Ui};
use nightcap_detect::score::{parse_truth, score};
use nightcap_detect::{Class, DetectConfig, Detector, Event};
use nightcap_frame::pixels::{to_image16, Image16};
use nightcap_journal::codec::Decoder;
use nightcap_journal::Journal;
use nightcap_stack::night::JournalFrames;
use nightcap_stack::pool::Buffers;

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
    let found = find_events(
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
    write_events(&args.out, &events)?;
    let crops = write_meteor_crops(&j, &frames, &events, &args.out)?;
    if args.composite {
        let path = args.out.join("meteors.jpg");
        let n = write_composite(&j, &frames, &events, &path, &args.look)?;
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

/// What a detection pass over some frames found.
pub struct Found {
    /// In time order.
    pub events: Vec<Event>,
    /// What could not be done (runs too short, thresholds raised).
    pub notes: Vec<String>,
    /// Damaged frames skipped (each said on stderr).
    pub skipped: u64,
}

/// Runs the detector over `frames` of `j` in order, with a progress bar; a frame that
/// cannot be read is said and skipped (it breaks the run like a gap).
pub fn find_events(
    j: &Journal,
    frames: &[nightcap_journal::FrameRef],
    cfg: DetectConfig,
    ui: &Ui,
) -> Found {
    let mut detector = Detector::new(cfg);
    let bar = ui.bar(frames.len() as u64, "detect");
    let mut events = Vec::new();
    let mut buf = Buffers::new();
    let mut skipped = 0u64;
    for r in frames {
        match read_frame(j, r, &mut buf) {
            Ok(meta) => {
                events.extend(detector.push(meta.seq, r.time_ns, meta.exposure_us, buf.image()))
            }
            Err(e) => {
                skipped += 1;
                bar.suspend(|| eprintln!("nightcap: skipped damaged frame: {e}"));
                events.extend(detector.skip());
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (rest, notes) = detector.finish();
    events.extend(rest);
    events.sort_by_key(|e| (e.first_seq(), e.frames[0].start_utc_ns));
    Found {
        events,
        notes,
        skipped,
    }
}

/// Decodes frame `r` into `buf` (raw frames straight to samples, with no copy of the
/// camera's bytes); the damage, said in words, when it cannot be read.
pub fn read_frame(
    j: &Journal,
    r: &nightcap_journal::FrameRef,
    buf: &mut Buffers,
) -> Result<nightcap_frame::FrameMeta, String> {
    JournalFrames::decode_into(j, r, buf).map_err(|d| d.to_string())
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

/// `events.jsonl` and `events.csv`, each written whole under a temporary name first.
fn write_events(out: &Path, events: &[Event]) -> anyhow::Result<()> {
    let mut jsonl = String::new();
    let mut csv = String::from(Event::csv_header());
    csv.push('\n');
    for e in events {
        jsonl.push_str(&e.json());
        jsonl.push('\n');
        csv.push_str(&e.csv_row());
        csv.push('\n');
    }
    for (name, text) in [("events.jsonl", jsonl), ("events.csv", csv)] {
        let path = out.join(name);
        nightcap_stack::output::write_bytes_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Frames whose median is the composite's sky: few enough in a row that the stars
/// hardly move, enough that a plane or a meteor in one of them is gone.
const SKY_FRAMES: usize = 5;

/// `meteors.jpg`: the median of [`SKY_FRAMES`] frames in a row from the middle of
/// `frames`, each meteor's streak pasted onto it from its frames. Returns the meteors
/// drawn.
fn write_composite(
    j: &Journal,
    frames: &[nightcap_journal::FrameRef],
    events: &[Event],
    path: &Path,
    look: &super::stack::LookArgs,
) -> anyhow::Result<u64> {
    let mut buf = Buffers::new();
    let first = (frames.len() / 2).saturating_sub(SKY_FRAMES / 2);
    let sky: Vec<Image16> = frames[first..]
        .iter()
        .take(SKY_FRAMES)
        .filter_map(|r| read_frame(j, r, &mut buf).ok().map(|_| buf.image().clone()))
        .collect();
    let Some(mut composite) = nightcap_stack::products::median_of(&sky) else {
        anyhow::bail!(
            "cannot make {}: the night's frames could not be read, or are of more than one format",
            path.display()
        );
    };
    drop(sky);
    let meteors: Vec<Event> = events
        .iter()
        .filter(|e| e.class == Class::Meteor)
        .cloned()
        .collect();
    let masks = nightcap_detect::mask::masks(&meteors, &[]);
    for r in frames.iter().filter(|r| masks.touches(r.entry.seq)) {
        if read_frame(j, r, &mut buf).is_ok() {
            nightcap_stack::products::paste_max(
                &mut composite,
                buf.image(),
                masks.get(r.entry.seq),
            );
        }
    }
    let mut meta =
        nightcap_stack::select::product_meta("meteor composite", frames, frames.len() as u32);
    meta.cfa = composite.cfa.name().map(str::to_string);
    let mut cfg = nightcap_stack::StackConfig::new(".");
    cfg.format = nightcap_stack::output::image::OutputFormat::Jpeg;
    cfg.render = look.settings_for(j);
    nightcap_stack::night::write_stack(path, &composite, &cfg, &meta)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(meteors.len() as u64)
}

/// Margin around a meteor's streak in its crop, pixels.
const CROP_MARGIN: f32 = 48.0;

/// Per meteor, its frames max-stacked and cropped around its streak, rendered as a PNG.
pub fn write_meteor_crops(
    j: &Journal,
    frames: &[nightcap_journal::FrameRef],
    events: &[Event],
    out: &Path,
) -> anyhow::Result<u64> {
    let mut dec = Decoder::new();
    let mut scratch = Vec::new();
    let mut written = 0;
    for e in events.iter().filter(|e| e.class == Class::Meteor) {
        let mut stacked: Option<Image16> = None;
        for f in &e.frames {
            // Frames are in journal order, so by seq.
            let Ok(at) = frames.binary_search_by_key(&f.seq, |r| r.entry.seq) else {
                continue;
            };
            let r = &frames[at];
            let Ok(frame) = j.read_frame(r, &mut dec, &mut scratch) else {
                continue;
            };
            let Ok(img) = to_image16(&frame.format, &frame.data) else {
                continue;
            };
            stacked = Some(match stacked {
                None => img,
                Some(mut acc) if acc.same_shape(&img) => {
                    for (a, b) in acc.data.iter_mut().zip(&img.data) {
                        *a = (*a).max(*b);
                    }
                    acc
                }
                Some(acc) => acc,
            });
        }
        let Some(img) = stacked else { continue };
        let xs = e.frames.iter().flat_map(|f| [f.from.0, f.to.0]);
        let ys = e.frames.iter().flat_map(|f| [f.from.1, f.to.1]);
        let (x0, x1) = xs.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (y0, y1) = ys.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let crop = crop(
            &img,
            x0 - CROP_MARGIN,
            y0 - CROP_MARGIN,
            x1 + CROP_MARGIN,
            y1 + CROP_MARGIN,
        );
        let Some(crop) = crop else { continue };
        let shown = nightcap_stack::tone::render(&crop, &Default::default());
        let path = out.join(format!("meteor-{}.png", e.first_seq()));
        let meta = nightcap_stack::output::image::OutputMeta::new("max");
        nightcap_stack::output::image::write_image(
            &path,
            &shown,
            nightcap_stack::output::image::OutputFormat::Png,
            &meta,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
    }
    Ok(written)
}

/// The part of `img` inside the box, clipped to the image, its corner on even
/// coordinates (a mosaic keeps its colour order); `None` when nothing is left.
fn crop(img: &Image16, x0: f32, y0: f32, x1: f32, y1: f32) -> Option<Image16> {
    let (w, h) = (img.width as i64, img.height as i64);
    let clamp = |v: f32, hi: i64| (v.floor() as i64).clamp(0, hi);
    let (ax, ay) = (clamp(x0, w) & !1, clamp(y0, h) & !1);
    let (bx, by) = (clamp(x1, w), clamp(y1, h));
    if bx - ax < 2 || by - ay < 2 {
        return None;
    }
    let (cw, ch) = ((bx - ax) as usize, (by - ay) as usize);
    let chan = usize::from(img.channels);
    let mut out = Image16::zeroed(cw as u32, ch as u32, img.channels, img.cfa, img.bit_depth);
    for y in 0..ch {
        let src = ((ay as usize + y) * w as usize + ax as usize) * chan;
        out.data[y * cw * chan..(y + 1) * cw * chan]
            .copy_from_slice(&img.data[src..src + cw * chan]);
    }
    Some(out)
}
