//! What to leave out of a clean stack or star trail: the streaks of the events found,
//! as [`FrameMasks`] (`trails --clean`, `stack --clean`).
//!
//! Each frame of an event gives a capsule around its streak, wider than the streak by
//! [`PAD`] pixels and at least twice its half-width (a plane's lights and their glow). A
//! track of two or more frames is also covered in the frames it skipped (found before
//! and after, too faint between: the line between them, shared evenly) and for one
//! frame beyond each end (a satellite fading into the Earth's shadow is still there,
//! fainter than the detector's threshold). Between pieces in frames in a row, the gap
//! between one's end and the next one's start is covered in both (a piece is often found
//! shorter than it was: a faint end, a flare split off).
//!
//! Events can come from a [`crate::Detector`] run or from an `events.jsonl` written by
//! one ([`read_events`]).

use nightcap_frame::mask::{Capsule, FrameMasks};

use crate::event::{Class, Event, EventFrame};

/// Pixels added around a streak's half-width.
pub const PAD: f32 = 4.0;

/// The streaks of `events` whose class is not in `keep`, as masks per frame seq.
pub fn masks(events: &[Event], keep: &[Class]) -> FrameMasks {
    let mut out = FrameMasks::new();
    for e in events.iter().filter(|e| !keep.contains(&e.class)) {
        add_track(&mut out, &e.frames);
    }
    out
}

fn radius(width: f32) -> f32 {
    let half = width.max(1.0) / 2.0;
    (half + PAD).max(2.0 * half)
}

fn add_track(out: &mut FrameMasks, frames: &[EventFrame]) {
    for f in frames {
        out.add(
            f.seq,
            Capsule {
                a: f.from,
                b: f.to,
                radius: radius(f.width),
            },
        );
    }
    // Frames skipped inside the track: the line from one piece's end to the next one's
    // start, shared evenly among them.
    for pair in frames.windows(2) {
        let (p, q) = (&pair[0], &pair[1]);
        let missing = q.seq.saturating_sub(p.seq + 1);
        if missing == 0 {
            // Frames in a row: the streak ran from one to the other with no more than the
            // dead time between. A piece found shorter than it was (its end fainter, or
            // split off where it flared) leaves a gap: bridged in both frames.
            let gap = (q.from.0 - p.to.0).hypot(q.from.1 - p.to.1);
            if gap > 1.0 && gap < 2.0 * p.length.max(q.length) {
                let bridge = Capsule {
                    a: p.to,
                    b: q.from,
                    radius: radius(p.width.max(q.width)),
                };
                out.add(p.seq, bridge);
                out.add(q.seq, bridge);
            }
            continue;
        }
        if missing > 8 {
            continue;
        }
        let r = radius(p.width.max(q.width));
        let at = |k: u64| {
            let t = k as f32 / missing as f32;
            (
                p.to.0 + t * (q.from.0 - p.to.0),
                p.to.1 + t * (q.from.1 - p.to.1),
            )
        };
        for k in 0..missing {
            out.add(
                p.seq + 1 + k,
                Capsule {
                    a: at(k),
                    b: at(k + 1),
                    radius: r,
                },
            );
        }
    }
    // One frame beyond each end of a track that moved from frame to frame.
    if let (Some(first), Some(last)) = (frames.first(), frames.last()) {
        if frames.len() >= 2 {
            let step = |f: &EventFrame, towards: (f32, f32), from: (f32, f32)| Capsule {
                a: towards,
                b: (
                    towards.0 + (towards.0 - from.0),
                    towards.1 + (towards.1 - from.1),
                ),
                radius: radius(f.width),
            };
            if let Some(seq) = first.seq.checked_sub(1) {
                out.add(seq, step(first, first.from, first.to));
            }
            out.add(last.seq + 1, step(last, last.to, last.from));
        }
    }
}

/// One event read back from `events.jsonl`: what masks need.
#[derive(Debug, serde::Deserialize)]
struct Row {
    class: String,
    frames: Vec<RowFrame>,
}

#[derive(Debug, serde::Deserialize)]
struct RowFrame {
    seq: u64,
    #[serde(default)]
    start_utc_ns: i64,
    #[serde(default)]
    exposure_us: u32,
    from: (f32, f32),
    to: (f32, f32),
    #[serde(default)]
    length: f32,
    width: f32,
}

/// Most frames one event read back may have (a plane crossing in 10 minutes of 1 s
/// exposures has 600).
pub const MAX_EVENT_FRAMES: usize = 100_000;

/// Why an events file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// A line is not an event.
    #[error("line {line}: not an event ({why})")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
}

/// The events of an `events.jsonl` written by `nightcap detect` (what masks need of
/// them: class and the streak of each frame). Blank lines are skipped.
pub fn read_events(text: &str) -> Result<Vec<Event>, EventsError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| EventsError::Line { line: i + 1, why };
        let row: Row = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let class = Class::from_name(&row.class).ok_or_else(|| {
            bad(format!(
                "unknown class '{}': meteor, satellite, plane or other",
                row.class
            ))
        })?;
        if row.frames.is_empty() || row.frames.len() > MAX_EVENT_FRAMES {
            return Err(bad(format!(
                "{} frames (1 to {MAX_EVENT_FRAMES})",
                row.frames.len()
            )));
        }
        let frames = row
            .frames
            .into_iter()
            .map(|f| EventFrame {
                seq: f.seq,
                start_utc_ns: f.start_utc_ns,
                exposure_us: f.exposure_us,
                from: f.from,
                to: f.to,
                length: f.length,
                width: f.width,
                peak: [0.0; 3],
                integrated: [0.0; 3],
                profile: Vec::new(),
            })
            .collect();
        events.push(Event::of(class, 1.0, frames));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, from: (f32, f32), to: (f32, f32)) -> EventFrame {
        EventFrame {
            seq,
            start_utc_ns: seq as i64 * 5_000_000_000,
            exposure_us: 5_000_000,
            from,
            to,
            length: (to.0 - from.0).hypot(to.1 - from.1),
            width: 4.0,
            peak: [100.0; 3],
            integrated: [1000.0; 3],
            profile: vec![1.0; 4],
        }
    }

    #[test]
    fn a_satellite_is_masked_in_its_frames_the_skipped_one_and_one_beyond_each_end() {
        let sat = Event::of(
            Class::Satellite,
            0.9,
            vec![
                frame(10, (0.0, 0.0), (100.0, 0.0)),
                frame(11, (110.0, 0.0), (200.0, 0.0)),
                // 12 not found
                frame(13, (301.0, 0.0), (400.0, 0.0)),
            ],
        );
        let meteor = Event::of(
            Class::Meteor,
            0.9,
            vec![frame(30, (5.0, 5.0), (50.0, 50.0))],
        );
        let m = masks(&[sat.clone(), meteor.clone()], &[Class::Meteor]);
        let seqs: Vec<u64> = (0..40).filter(|&s| m.touches(s)).collect();
        assert_eq!(seqs, vec![9, 10, 11, 12, 13, 14]);
        let gap = m.get(12)[0];
        assert!((gap.a.0 - 200.0).abs() < 1e-3 && (gap.b.0 - 301.0).abs() < 1e-3);
        assert!(m.get(14)[0].b.0 > 450.0, "extends beyond the last piece");
        for seq in [10, 11] {
            let bridged = m.get(seq).iter().any(|c| c.a.0 == 100.0 && c.b.0 == 110.0);
            assert!(bridged, "frame {seq}: {:?}", m.get(seq));
        }
        assert!(m.get(10)[0].radius >= 6.0);
        // Without keeping meteors, the meteor's frame is masked too.
        assert!(masks(&[sat, meteor], &[]).touches(30));
    }

    #[test]
    fn events_read_back_from_json_lines_give_the_same_masks() {
        let e = Event::of(
            Class::Plane,
            0.75,
            vec![
                frame(3, (10.0, 10.0), (60.0, 20.0)),
                frame(4, (61.0, 20.0), (110.0, 30.0)),
            ],
        );
        let text = format!("{}\n\n{}\n", e.json(), e.json());
        let back = read_events(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(masks(&back[..1], &[]), masks(&[e], &[]));
        for (bad, why) in [
            ("{\"class\":\"ufo\",\"frames\":[]}", "unknown class"),
            ("{\"class\":\"plane\",\"frames\":[]}", "0 frames"),
            ("not json", "line 1"),
        ] {
            let err = read_events(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
    }
}
