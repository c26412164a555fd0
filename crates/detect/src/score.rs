//! Events measured against the truth: the labels the simulated sky writes beside a
//! journal (`sim-truth.jsonl`, one event per line with its class, frames and end points).
//!
//! An event matches a label when they share a frame (the same exposure start) in which
//! both ends of the event's streak lie within [`NEAR`] pixels of the label's line and its
//! middle within the label's extent (plus [`NEAR`]). A label is *visible* when its
//! signal-to-noise ratio is at least [`VISIBLE_SNR`]: recall counts visible labels only;
//! an event matching any label, visible or not, is a true detection for precision.

use std::collections::BTreeMap;
use std::fmt;

use crate::event::{Class, Event};

/// Greatest distance, pixels, of a matching streak from the label's line.
pub const NEAR: f32 = 24.0;
/// Labels at or above this signal-to-noise ratio count for recall.
pub const VISIBLE_SNR: f64 = 3.0;

/// One frame of a label.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TruthFrame {
    pub start_utc_ns: i64,
    pub from: (f32, f32),
    pub to: (f32, f32),
}

/// A label.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Truth {
    pub class: String,
    pub frames: Vec<TruthFrame>,
    pub snr: f64,
}

/// Reads labels from JSON Lines text; a line that does not parse is an error naming it.
pub fn parse_truth(text: &str) -> Result<Vec<Truth>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Whether streak (a, b) lies along the label frame's line and within its extent.
fn on(frame: &TruthFrame, a: (f32, f32), b: (f32, f32)) -> bool {
    let (dx, dy) = (frame.to.0 - frame.from.0, frame.to.1 - frame.from.1);
    let len = dx.hypot(dy).max(1e-3);
    let (ux, uy) = (dx / len, dy / len);
    let dist = |p: (f32, f32)| ((p.0 - frame.from.0) * uy - (p.1 - frame.from.1) * ux).abs();
    let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let t = (mid.0 - frame.from.0) * ux + (mid.1 - frame.from.1) * uy;
    dist(a) < NEAR && dist(b) < NEAR && t > -NEAR && t < len + NEAR
}

/// How many frames event `e` shares with label `l` (matching geometrically).
fn shared(e: &Event, l: &Truth) -> usize {
    e.frames
        .iter()
        .filter(|f| {
            l.frames
                .iter()
                .any(|t| t.start_utc_ns == f.start_utc_ns && on(t, f.from, f.to))
        })
        .count()
}

/// Per class: labels, visible labels, visible ones found with the right class, events
/// of the class, and those matching a label of that class.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ClassScore {
    pub labels: usize,
    pub visible: usize,
    pub found: usize,
    pub events: usize,
    pub correct: usize,
}

impl ClassScore {
    /// Found over visible (1 when there are none).
    pub fn recall(&self) -> f64 {
        if self.visible == 0 {
            1.0
        } else {
            self.found as f64 / self.visible as f64
        }
    }

    /// Correct over events (1 when there are none).
    pub fn precision(&self) -> f64 {
        if self.events == 0 {
            1.0
        } else {
            self.correct as f64 / self.events as f64
        }
    }
}

/// The score of a night.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Score {
    pub classes: BTreeMap<String, ClassScore>,
    /// (true class or "none", predicted class or "missed") -> count, over visible labels
    /// and unmatched events.
    pub confusion: BTreeMap<(String, String), usize>,
    /// Events called meteors that are a satellite's or a plane's streak.
    pub meteors_on_planes_or_satellites: usize,
    /// Events called meteors that are an insect's or a bird's path (class `other`).
    pub meteors_on_others: usize,
}

/// Scores `events` against `truth`.
pub fn score(events: &[Event], truth: &[Truth]) -> Score {
    let mut s = Score::default();
    for c in ["meteor", "satellite", "plane"] {
        s.classes.insert(c.to_string(), ClassScore::default());
    }
    // Each event's best label.
    let best: Vec<Option<usize>> = events
        .iter()
        .map(|e| {
            truth
                .iter()
                .enumerate()
                .map(|(i, l)| (shared(e, l), i))
                .filter(|&(n, _)| n > 0)
                .max()
                .map(|(_, i)| i)
        })
        .collect();
    for (e, b) in events.iter().zip(&best) {
        let entry = s.classes.entry(e.class.name().to_string()).or_default();
        entry.events += 1;
        match b {
            Some(i) if truth[*i].class == e.class.name() => entry.correct += 1,
            Some(i) => {
                if e.class == Class::Meteor {
                    match truth[*i].class.as_str() {
                        "satellite" | "plane" => s.meteors_on_planes_or_satellites += 1,
                        "other" => s.meteors_on_others += 1,
                        _ => {}
                    }
                }
            }
            None => {
                *s.confusion
                    .entry(("none".to_string(), e.class.name().to_string()))
                    .or_default() += 1
            }
        }
    }
    for (i, l) in truth.iter().enumerate() {
        let entry = s.classes.entry(l.class.clone()).or_default();
        entry.labels += 1;
        if l.snr < VISIBLE_SNR {
            continue;
        }
        entry.visible += 1;
        // The class its events got, by the most frames matched.
        let predicted = events
            .iter()
            .zip(&best)
            .filter(|(_, b)| **b == Some(i))
            .max_by_key(|(e, _)| shared(e, l))
            .map(|(e, _)| e.class.name().to_string());
        if events
            .iter()
            .zip(&best)
            .any(|(e, b)| *b == Some(i) && e.class.name() == l.class)
        {
            entry.found += 1;
        }
        *s.confusion
            .entry((
                l.class.clone(),
                predicted.unwrap_or_else(|| "missed".to_string()),
            ))
            .or_default() += 1;
    }
    s
}

impl Score {
    /// Adds another night's score to this one.
    pub fn add(&mut self, other: &Score) {
        for (c, v) in &other.classes {
            let e = self.classes.entry(c.clone()).or_default();
            e.labels += v.labels;
            e.visible += v.visible;
            e.found += v.found;
            e.events += v.events;
            e.correct += v.correct;
        }
        for (k, n) in &other.confusion {
            *self.confusion.entry(k.clone()).or_default() += n;
        }
        self.meteors_on_planes_or_satellites += other.meteors_on_planes_or_satellites;
        self.meteors_on_others += other.meteors_on_others;
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "class      labels visible found recall  events correct precision"
        )?;
        for (c, v) in &self.classes {
            writeln!(
                f,
                "{c:<10} {:>6} {:>7} {:>5} {:>5.1} % {:>7} {:>7} {:>7.1} %",
                v.labels,
                v.visible,
                v.found,
                100.0 * v.recall(),
                v.events,
                v.correct,
                100.0 * v.precision()
            )?;
        }
        let cols = ["meteor", "satellite", "plane", "other", "missed"];
        write!(f, "truth \\ called")?;
        for c in cols {
            write!(f, " {c:>9}")?;
        }
        writeln!(f)?;
        for row in ["meteor", "satellite", "plane", "other", "none"] {
            write!(f, "{row:<14}")?;
            for c in cols {
                let n = self
                    .confusion
                    .get(&(row.to_string(), c.to_string()))
                    .copied()
                    .unwrap_or(0);
                write!(f, " {n:>9}")?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "meteors called on a plane's or satellite's streak: {}",
            self.meteors_on_planes_or_satellites
        )?;
        writeln!(
            f,
            "meteors called on an insect's or bird's path: {}",
            self.meteors_on_others
        )
    }
}
