//! `nightcap info JOURNAL`: what a journal holds, from its indexes (fast, no decoding of
//! frames). Padding NOTEs (all-zero, written at syncs) are not shown as notes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::ui::{count, Ui};
use nightcap_frame::time::{human_duration, utc_short};
use nightcap_journal::inspect::{summarize, JournalSummary};
use nightcap_journal::Journal;

/// Show the segments, frames, time span, gaps, sizes and compression of a journal.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The journal directory.
    pub journal: PathBuf,
    /// Print the summary as JSON (for scripts); with --frames, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// List every frame instead: seq, exposure start (UTC), exposure, gain, and the
    /// driver's frame number and timestamp (to check a camera's timing).
    #[arg(long)]
    pub frames: bool,
}

pub fn run(args: InfoArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    super::require_journal(&args.journal, true)?;
    let j = Journal::open(&args.journal)
        .with_context(|| format!("cannot read journal {}", args.journal.display()))?;
    if args.frames {
        return list_frames(&j, args.json);
    }
    let s = summarize(&j);
    if args.json {
        super::ui::outln(serde_json::to_string_pretty(&s)?)?;
    } else {
        super::ui::out(render(&s, ui.verbose))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One frame of `info --frames --json`.
#[derive(serde::Serialize)]
struct FrameLine {
    seq: u64,
    start_utc: String,
    time_utc_ns: i64,
    exposure_us: u32,
    gain: f64,
    driver_seq: u32,
    driver_ts_ns: u64,
    /// The time the record holds, for a frame re-timed (stamped before the clock was set).
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded_time_utc_ns: Option<i64>,
}

/// `info --frames`: each frame's metadata from its record header, in journal order. A
/// header that cannot be read is a line saying so (exit 1 at the end), never a stop.
fn list_frames(j: &Journal, json: bool) -> anyhow::Result<ExitCode> {
    use std::fmt::Write;
    let mut damaged = 0u64;
    let mut out = String::new();
    if !json {
        out.push_str("seq        start (UTC)                 exposure s   gain  driver seq   driver time s\n");
    }
    for r in j.frames() {
        let m = match j.frame_meta(&r) {
            Ok(m) => m,
            Err(e) => {
                damaged += 1;
                eprintln!("nightcap: skipped damaged frame: {e}");
                continue;
            }
        };
        let start = nightcap_frame::time::utc_iso_micros(m.time_utc_ns);
        let recorded = (r.entry.time_ns != m.time_utc_ns).then_some(r.entry.time_ns);
        let gain = f64::from(m.gain_milli) / 1000.0;
        if json {
            let line = FrameLine {
                seq: m.seq,
                start_utc: start,
                time_utc_ns: m.time_utc_ns,
                exposure_us: m.exposure_us,
                gain,
                driver_seq: m.driver_seq,
                driver_ts_ns: m.driver_ts_ns,
                recorded_time_utc_ns: recorded,
            };
            let _ = writeln!(out, "{}", serde_json::to_string(&line)?);
        } else {
            let _ = writeln!(
                out,
                "{:<10} {:<27} {:>10.6} {:>6.2} {:>11} {:>15.6}{}",
                m.seq,
                start,
                f64::from(m.exposure_us) / 1e6,
                gain,
                m.driver_seq,
                m.driver_ts_ns as f64 / 1e9,
                if recorded.is_some() { "  re-timed" } else { "" }
            );
        }
        if out.len() > 1 << 16 {
            super::ui::out(std::mem::take(&mut out))?;
        }
    }
    super::ui::out(out)?;
    Ok(if damaged > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A duration that may be years (a clock that started at 1970): in years or days when
/// long, else as [`human_duration`].
fn long_duration(ns: i64) -> String {
    let days = ns as f64 / 86_400e9;
    if days >= 365.0 {
        format!("{:.1} years", days / 365.25)
    } else if days >= 2.0 {
        format!("{days:.1} days")
    } else {
        human_duration(ns)
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// A note's first line for a terminal: control characters (the text comes from the
/// journal, untrusted) shown as `?`, at most 100 characters, `...` when there is more.
fn note_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut line: String = first
        .chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if first.chars().count() > 100 || text.lines().nth(1).is_some() {
        line.push_str(" ...");
    }
    line
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
        .filter(|g| g.state == nightcap_journal::format::SegmentState::Sealed)
        .count();
    let _ = writeln!(
        o,
        "segments   {} ({} sealed, {} active)",
        s.segments.len(),
        sealed,
        s.segments.len() - sealed
    );
    let mut formats: Vec<&str> = Vec::new();
    for seg in &s.segments {
        if !formats.contains(&seg.format.as_str()) {
            formats.push(&seg.format);
        }
    }
    if formats.len() == 1 {
        let _ = writeln!(o, "format     {}", formats[0]);
    } else {
        let _ = writeln!(
            o,
            "format     {} camera formats (stack makes an image of each; trails, timelapse and keogram take one, chosen with --from/--to):",
            formats.len()
        );
        for f in &formats {
            let _ = writeln!(o, "  {f}");
        }
    }
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
    // Captures that started before the kernel's clock was set (a Pi without a real-time
    // clock): their frames are re-timed by the camera's clock once the clock was set;
    // without that, their times may be wrong.
    for r in &s.retimed {
        let _ = writeln!(
            o,
            "clock      frames seq {}..={} were stamped before the clock was set: re-timed by the camera's clock ({} {}); stacks, exports and listings use the new times",
            r.first_seq,
            r.last_seq,
            if r.shift_ns >= 0 { "moved later by" } else { "moved earlier by" },
            long_duration(r.shift_ns.saturating_abs())
        );
    }
    for (i, n) in s.notes.iter().enumerate() {
        if n.text.lines().any(|l| l == "clock_synchronised=no") {
            let next = s.notes[i + 1..]
                .iter()
                .find(|m| m.text.lines().any(|l| l.starts_with("clock_synchronised=")));
            let end = next.map_or(u64::MAX, |m| m.seq);
            if next.is_some()
                && s.retimed
                    .iter()
                    .any(|r| (n.seq..end.max(n.seq + 1)).contains(&r.first_seq))
            {
                continue;
            }
            let until = next.map_or("to the end of that capture".to_string(), |m| {
                format!("to frame seq {}", m.seq.saturating_sub(1))
            });
            let _ = writeln!(
                o,
                "clock      not synchronised when the capture of frame seq {} started: the times of frames seq {} {until} may be wrong{}",
                n.seq,
                n.seq,
                if next.is_some() {
                    " (they have no camera timestamps to re-time them by)"
                } else {
                    " (the capture ended before the clock was set)"
                }
            );
        }
    }
    if let Some(worst) = s
        .clock_steps_back
        .iter()
        .max_by_key(|c| c.before_ns - c.after_ns)
    {
        let _ = writeln!(
            o,
            "clock      stepped back {} (largest {} at frame seq {}): frames after a step may share times with earlier ones; stack keeps them apart",
            match s.clock_steps_back.len() {
                1 => "once".to_string(),
                n => format!("{n} times"),
            },
            human_duration(worst.before_ns - worst.after_ns),
            worst.seq
        );
    }
    if s.frames > 1 {
        let _ = writeln!(
            o,
            "dead time  median {:.0} ms, max {:.0} ms between exposures",
            s.dead_time_p50_ms, s.dead_time_max_ms
        );
    }
    let _ = writeln!(
        o,
        "gaps       {} ({} missed)",
        s.gaps.len(),
        count(s.missed_frames, "frame")
    );
    for g in &s.gaps {
        let _ = writeln!(
            o,
            "  {} .. {}  {}: {}, {}",
            utc_short(g.start_ns),
            utc_short(g.end_ns),
            g.reason.describe(),
            // A count of 0 means unknown (format.md), as after a restarted stream.
            if g.count == 0 {
                "frames lost unknown".to_string()
            } else {
                count(g.count, "frame")
            },
            g.text
        );
    }
    if s.frames > 0 {
        let _ = writeln!(
            o,
            "statistics {} of {} frames measured by the writer{}",
            s.frames_measured,
            s.frames,
            if s.frames_measured < s.frames {
                " (the others are measured when needed)"
            } else {
                ""
            }
        );
    }
    // Padding NOTEs (written at syncs) carry nothing and are not notes to a reader.
    let _ = writeln!(o, "notes      {}", s.notes.len());
    for n in s.notes.iter().take(if verbose { usize::MAX } else { 5 }) {
        let _ = writeln!(o, "  {}  {}", utc_short(n.time_ns), note_line(&n.text));
    }
    if verbose {
        if s.padding_bytes > 0 {
            let _ = writeln!(
                o,
                "padding    {} bytes (page padding at syncs)",
                s.padding_bytes
            );
        }
        for g in &s.segments {
            let _ = writeln!(
                o,
                "  {}  {}  {}  {}",
                g.file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                g.state.extension(),
                count(g.frames, "frame"),
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
            "damage     {} (nightcap verify says what nightcap repair would do)",
            count(s.damage.len() as u64, "problem")
        );
        for d in s.damage.iter().take(if verbose { usize::MAX } else { 5 }) {
            let _ = writeln!(o, "  {d}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_journal::{JournalWriter, WriterConfig};

    #[test]
    fn notes_are_listed_without_the_padding_written_at_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = WriterConfig::new(dir.path());
        cfg.zstd_level = 0;
        cfg.budget.reserve_bytes = 0;
        cfg.sync_interval = std::time::Duration::from_secs(3600);
        let format = nightcap_source::sim::SensorPreset::Tiny.format();
        let mut w = JournalWriter::open(cfg, format).unwrap();
        let raw = vec![9u8; format.max_frame_bytes() as usize];
        let meta = nightcap_frame::FrameMeta {
            seq: 0,
            time_utc_ns: 1_795_996_800_000_000_000,
            exposure_us: 5_000_000,
            gain_milli: 1000,
            driver_seq: 0,
            driver_ts_ns: 0,
        };
        w.append_note(meta.time_utc_ns, "operator: dew heater on\nsecond line")
            .unwrap();
        w.append_frame(&meta, &raw).unwrap();
        w.sync().unwrap();
        w.append_frame(&meta, &raw).unwrap();
        w.close().unwrap();

        let s = summarize(&Journal::open(dir.path()).unwrap());
        assert!(s.damage.is_empty(), "{:?}", s.damage);
        let texts: Vec<&str> = s.notes.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, ["operator: dew heater on\nsecond line"]);
        assert!(
            s.padding_bytes > 0 && s.padding_bytes <= 4096,
            "{}",
            s.padding_bytes
        );
        let out = render(&s, false);
        assert!(out.contains("notes      1\n"), "{out}");
        assert!(out.contains("  operator: dew heater on ...\n"), "{out}");
        assert!(!out.contains("padding"), "{out}");
        assert!(render(&s, true).contains(&format!("padding    {} bytes", s.padding_bytes)));
    }

    #[test]
    fn frames_taken_before_the_clock_was_set_are_pointed_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = WriterConfig::new(dir.path());
        cfg.budget.reserve_bytes = 0;
        let format = nightcap_source::sim::SensorPreset::Tiny.format();
        let mut w = JournalWriter::open(cfg, format).unwrap();
        let raw = vec![9u8; format.max_frame_bytes() as usize];
        let meta = |i: i64| nightcap_frame::FrameMeta {
            time_utc_ns: 1_795_996_800_000_000_000 + i * 5_020_000_000,
            exposure_us: 5_000_000,
            ..Default::default()
        };
        // As capture writes them: unsynchronised at the start, set after two frames.
        w.append_note(0, "source=camera\nclock_synchronised=no")
            .unwrap();
        w.append_frame(&meta(0), &raw).unwrap();
        w.append_frame(&meta(1), &raw).unwrap();
        w.append_note(0, "clock_synchronised=yes").unwrap();
        w.append_frame(&meta(2), &raw).unwrap();
        w.close().unwrap();
        let out = render(&summarize(&Journal::open(dir.path()).unwrap()), false);
        assert!(
            out.contains("clock      not synchronised when the capture of frame seq 0 started: the times of frames seq 0 to frame seq 1 may be wrong"),
            "{out}"
        );
    }

    #[test]
    fn a_note_is_shown_as_one_safe_line() {
        assert_eq!(note_line("a\x1b[2Jb"), "a?[2Jb");
        assert_eq!(
            note_line(&"x".repeat(150)),
            format!("{} ...", "x".repeat(100))
        );
    }
}
