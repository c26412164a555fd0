//! Detection following a growing journal: `nightcap detect --follow` and `capture
//! --detect`.
//!
//! Every [`POLL`] the journal is opened again and the frames written since the last
//! look are handed to a [`Detector`], in order; each event is appended to
//! `events.jsonl` and `events.csv` as soon as the detector is done with it (a few frames
//! after its last one: a track ends when it does not continue), a meteor's crop written
//! beside them, and a line said. When the stop flag is raised, the frames written so far
//! are searched and every open track finished. A frame that cannot be read (damaged, or
//! deleted by the ring before its turn) is said and skipped like a gap.
//!
//! Beside a capture it runs on its own thread and rayon pool at the live stacker's nice
//! value ([`BESIDE_CAPTURE_NICE`]): below the capture's compression workers, so that it
//! never delays a frame; when it falls behind it catches up, frames stay in the journal.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nightcap_detect::{Class, DetectConfig, Detector, Event};
use nightcap_journal::Journal;
use nightcap_stack::follow::BESIDE_CAPTURE_NICE;

/// How often the journal is looked at for new frames.
pub const POLL: Duration = Duration::from_secs(2);

/// What to follow and where events go.
#[derive(Debug, Clone)]
pub struct Follow {
    /// Directory of the event files and crops.
    pub out: PathBuf,
    pub cfg: DetectConfig,
    /// Only frames starting at or after this time (UTC ns).
    pub from_ns: Option<i64>,
    /// Only frames of this seq or later (`capture --detect`: the frames captured now,
    /// whatever their times).
    pub from_seq: Option<u64>,
    /// Empty the event files first (`detect --follow`); else append (`capture --detect`
    /// restarted on the same night keeps the events found before).
    pub fresh: bool,
    /// When stopped, search the frames written until then first (`capture --detect`:
    /// the capture has ended, a few frames are left); else stop at once (Ctrl-C on
    /// `detect --follow`, which may be far behind).
    pub search_rest: bool,
}

/// What a follow found.
#[derive(Debug, Default)]
pub struct Followed {
    pub frames: u64,
    pub skipped: u64,
    /// Events per class: meteor, satellite, plane, other.
    pub by_class: [u64; 4],
}

impl Followed {
    /// "N frames searched: ..." for the last line.
    pub fn describe(&self) -> String {
        use super::ui::count;
        format!(
            "{} searched{}: {}, {}, {}, {}",
            count(self.frames, "frame"),
            if self.skipped > 0 {
                format!(" ({} unreadable, skipped)", self.skipped)
            } else {
                String::new()
            },
            count(self.by_class[0], "meteor"),
            count(self.by_class[1], "satellite"),
            count(self.by_class[2], "plane"),
            count(self.by_class[3], "other event"),
        )
    }
}

/// Follows the journal in `dir` until `stop` is raised (then searches what is left and
/// finishes every track). `ui` says a line per event found and per frame skipped, each
/// after `prefix`, and with `-v` where it caught up with the journal.
pub fn follow(
    dir: &Path,
    f: &Follow,
    stop: &AtomicBool,
    ui: &super::ui::Ui,
    prefix: &str,
) -> anyhow::Result<Followed> {
    let say = &|line: String| ui.say(format!("{prefix}{line}"));
    let mut log = super::detection::EventLog::open(&f.out, f.fresh)?;
    let mut detector = Detector::new(f.cfg);
    let mut next_seq = f.from_seq.unwrap_or(0);
    let mut done = Followed::default();
    let mut buf = nightcap_stack::pool::Buffers::new();
    let mut journal: Option<Journal> = None;
    loop {
        let finishing = stop.load(Ordering::Relaxed);
        let search = !finishing || f.search_rest;
        // The journal as it is now (a missing one is waited for: capture creates it).
        match Journal::open(dir) {
            Ok(j) => journal = Some(j),
            Err(e) if journal.is_some() => {
                say(format!("cannot read the journal {}: {e}", dir.display()))
            }
            Err(_) => {}
        }
        if let Some(j) = journal.as_ref().filter(|_| search) {
            let frames: Vec<_> = j
                .frames()
                .into_iter()
                .filter(|r| r.entry.seq >= next_seq)
                .filter(|r| f.from_ns.is_none_or(|from| r.time_ns >= from))
                .collect();
            for r in &frames {
                let events = match super::detection::read_frame(j, r, &mut buf) {
                    Ok(meta) => {
                        done.frames += 1;
                        detector.push(meta.seq, r.time_ns, meta.exposure_us, buf.image())
                    }
                    Err(e) => {
                        done.skipped += 1;
                        say(format!("skipped a frame it could not read: {e}"));
                        detector.skip()
                    }
                };
                record(j, &events, &mut log, &f.out, &mut done, say)?;
                next_seq = r.entry.seq + 1;
                if !finishing && !f.search_rest && stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            if !frames.is_empty() && !finishing {
                ui.detail(format!(
                    "{prefix}searched up to frame {}; waiting for more",
                    next_seq.saturating_sub(1)
                ));
            }
        }
        if finishing {
            let (rest, notes) = detector.finish();
            if let Some(j) = &journal {
                record(j, &rest, &mut log, &f.out, &mut done, say)?;
            }
            for n in notes.iter().filter(|_| done.frames > 0) {
                say(format!("note: {n}"));
            }
            return Ok(done);
        }
        let until = Instant::now() + POLL;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Appends events, writes meteor crops, says each.
fn record(
    j: &Journal,
    events: &[Event],
    log: &mut super::detection::EventLog,
    out: &Path,
    done: &mut Followed,
    say: &(dyn Fn(String) + Sync),
) -> anyhow::Result<()> {
    for e in events {
        log.append(e)?;
        let k = match e.class {
            Class::Meteor => 0,
            Class::Satellite => 1,
            Class::Plane => 2,
            Class::Other => 3,
        };
        done.by_class[k] += 1;
        let first = &e.frames[0];
        let when = nightcap_frame::time::utc_iso(first.start_utc_ns).replace('T', " ");
        let mut line = format!(
            "{} at {when} UTC, frame {}{}",
            e.class.name(),
            first.seq,
            if e.frames.len() > 1 {
                format!(" to {}", e.frames[e.frames.len() - 1].seq)
            } else {
                String::new()
            }
        );
        if e.class == Class::Meteor {
            let frames = j.frames();
            let crops =
                super::detection::write_meteor_crops(j, &frames, std::slice::from_ref(e), out)?;
            if crops > 0 {
                line.push_str(&format!(
                    ", {}",
                    out.join(format!("meteor-{}.png", e.first_seq())).display()
                ));
            }
        }
        say(line);
    }
    Ok(())
}

/// [`follow`] on a thread of its own at [`BESIDE_CAPTURE_NICE`], its rayon work on a pool
/// of threads at that priority too; errors are said, never stop the capture.
pub fn spawn_beside_capture(
    dir: PathBuf,
    f: Follow,
    stop: std::sync::Arc<AtomicBool>,
    ui: super::ui::Ui,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let lower = || {
            let _ = rustix::process::setpriority_process(None, BESIDE_CAPTURE_NICE);
        };
        lower();
        let run = || follow(&dir, &f, &stop, &ui, "detect: ");
        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("live-detect-{i}"))
            .start_handler(move |_| lower())
            .build();
        let result = match pool {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        };
        match result {
            Ok(done) => ui.say(format!("detect: {} in {}", done.describe(), f.out.display())),
            Err(e) => eprintln!(
                "nightcap: live detection stopped: {e:#} (capture goes on; run `nightcap detect` on the journal later)"
            ),
        }
    })
}
