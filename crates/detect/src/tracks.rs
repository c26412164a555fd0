//! Following streaks from one exposure into the next, and saying what each track is.
//!
//! nightcap's exposures follow each other with almost no dead time, so whatever crosses
//! the field slowly (a satellite, a plane: tens of seconds to minutes) leaves a streak
//! in every frame it crosses, each one continuing the last: same line, its near end
//! where the previous one ended plus the distance flown during the dead time. A meteor
//! lasts under a second: one frame, or two when it straddles a boundary.
//!
//! Rules, in order (each with the confidence given to the class):
//! - flashes along the track (a strobe), a red and a green light side by side, or a
//!   streak as wide as two lights a wingspan apart, in enough of its frames: plane;
//! - three frames or more: satellite (a plane without visible lights is called one too);
//! - a streak that is part of a longer track's line in the same frames: that track's;
//! - two frames: a satellite entering and leaving within them (it touches an edge at
//!   both outer ends), else a meteor crossing the boundary between two exposures;
//! - one frame or two, along a curve, or blurred (its core, the part above half its
//!   peak, 1.6 times as wide as the median of the night's last streaks, which are in
//!   focus), and not saturated: something near the lens (an insect, a bird): other;
//! - one frame: too broad to be a point moving (a bird, an insect, a cloud edge): other;
//!   with frames on both sides in which it does not continue: meteor (a satellite would);
//!   at the start or end of the data: meteor if its light curve tapers, else satellite.
//!
//! With `link` off every streak is classified alone, as a detector without linking
//! would: the baseline the benchmark compares against.

use crate::event::{Class, Event, EventFrame};
use crate::segments::Segment;

/// A streak of one frame, with the frame's identity.
#[derive(Debug, Clone)]
pub struct Piece {
    pub seq: u64,
    pub start_ns: i64,
    pub exposure_us: u32,
    pub seg: Segment,
}

/// The event's frame of a track's piece.
fn frame_of(p: &Piece) -> EventFrame {
    EventFrame {
        seq: p.seq,
        start_utc_ns: p.start_ns,
        exposure_us: p.exposure_us,
        from: p.seg.a,
        to: p.seg.b,
        length: p.seg.length,
        width: p.seg.width,
        peak: p.seg.peak,
        integrated: p.seg.integrated,
        profile: p.seg.profile.clone(),
    }
}

impl Piece {
    fn end_ns(&self) -> i64 {
        self.start_ns + i64::from(self.exposure_us) * 1000
    }
}

#[derive(Debug, Clone)]
struct Track {
    pieces: Vec<Piece>,
    /// Whether the frame before its first piece was searched.
    before: bool,
    /// Whether the frame after its last piece was searched (set when it closes).
    after: bool,
}

/// The tracks being followed.
#[derive(Debug, Default)]
pub struct Linker {
    pub link: bool,
    open: Vec<Track>,
    /// Tracks of three frames or more closed recently: short tracks on their line are
    /// parts of them.
    long: Vec<Track>,
    last: Option<(u64, i64)>,
    /// Every streak of the last few frames: short tracks on one line with another are
    /// pieces of something slow that was not followed (a faint satellite found in
    /// pieces), not meteors.
    recent: Vec<Piece>,
    /// Core widths of the last [`WIDTHS`] straight streaks: their median is how wide a
    /// streak in focus is tonight (satellites, meteors), against which a path near the
    /// lens, out of focus, stands out.
    widths: std::collections::VecDeque<f32>,
}

/// Streak widths remembered.
const WIDTHS: usize = 256;
/// How many times the night's focus width a streak's core must be to be blurred.
const BLURRED: f32 = 1.6;
/// Widths needed before the night's focus width is trusted.
const MIN_WIDTHS: usize = 16;

/// Frames a track may skip (not found in them) and still continue.
const MAX_SKIP: u64 = 2;

/// Angle (degrees) between two segments' lines.
fn angle_between(a: &Segment, b: &Segment) -> f32 {
    let d = (a.angle_deg - b.angle_deg).rem_euclid(180.0);
    d.min(180.0 - d)
}

/// Whether `b` lies on `a`'s line: both its ends within `tol` pixels of it, and (when
/// both are long enough for their direction to mean something) nearly parallel.
fn collinear(a: &Segment, b: &Segment, tol: f32) -> bool {
    let on_line = a.line_distance(b.a) < tol && a.line_distance(b.b) < tol;
    on_line && (a.length.min(b.length) < 80.0 || angle_between(a, b) < 5.0)
}

/// Merges the segments of one frame that are pieces of one streak: collinear with a small
/// gap (a streak broken by noise), or parallel lines a wingspan apart (a plane's red and
/// green lights, found as two lines).
pub fn merge_in_frame(mut segs: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    segs.sort_by(|a, b| b.length.total_cmp(&a.length));
    'next: for s in segs {
        for o in &mut out {
            let (ux, uy) = o.direction();
            let t = |p: (f32, f32)| (p.0 - o.a.0) * ux + (p.1 - o.a.1) * uy;
            let (ta, tb) = (t(s.a), t(s.b));
            let (lo, hi) = (ta.min(tb), ta.max(tb));
            let gap = (lo - o.length).max(-hi).max(0.0);
            if angle_between(o, &s) < 4.0
                && o.line_distance(s.a) < 5.0
                && o.line_distance(s.b) < 5.0
                && gap < 60.0
            {
                // Extend `o` to cover `s`.
                let (omin, omax) = (lo.min(0.0), hi.max(o.length));
                let a = (o.a.0 + ux * omin, o.a.1 + uy * omin);
                let b = (o.a.0 + ux * omax, o.a.1 + uy * omax);
                o.a = a;
                o.b = b;
                o.length = omax - omin;
                o.flashes = o.flashes.max(s.flashes);
                o.red_green |= s.red_green;
                o.stubby &= s.stubby;
                o.saturated |= s.saturated;
                o.curved |= s.curved;
                o.pixels += s.pixels;
                for k in 0..3 {
                    o.peak[k] = o.peak[k].max(s.peak[k]);
                    o.integrated[k] += s.integrated[k];
                }
                continue 'next;
            }
            let apart = o.line_distance(s.a).max(o.line_distance(s.b));
            let overlap = hi.min(o.length) - lo.max(0.0);
            if angle_between(o, &s) < 3.0
                && (4.0..=30.0).contains(&apart)
                && overlap > 0.5 * s.length.min(o.length)
            {
                // Two lights side by side: a plane when one is red and the other green.
                let red = |x: &Segment| x.integrated[0] > 1.2 * x.integrated[1];
                let green = |x: &Segment| x.integrated[1] > 1.2 * x.integrated[0];
                if (red(o) && green(&s)) || (green(o) && red(&s)) {
                    o.red_green = true;
                    o.flashes = o.flashes.max(s.flashes);
                    continue 'next;
                }
            }
        }
        out.push(s);
    }
    chain_bent_paths(out)
}

/// Joins pieces of one frame that continue each other end to end at an angle (a path
/// broken where its light flickered: an insect's wing beats), when the joined path
/// bends: one curved segment from the first end to the last, so it is told as one thing
/// near the lens instead of a few short straight streaks.
fn chain_bent_paths(mut segs: Vec<Segment>) -> Vec<Segment> {
    let near = |p: (f32, f32), q: (f32, f32), reach: f32| (p.0 - q.0).hypot(p.1 - q.1) < reach;
    let mut joined = true;
    while joined {
        joined = false;
        'pairs: for i in 0..segs.len() {
            for j in 0..segs.len() {
                if i == j {
                    continue;
                }
                let (a, b) = (&segs[i], &segs[j]);
                let reach = 3.0 * a.width.max(b.width).max(8.0);
                // a's end meets b's start, whichever way each was measured.
                let ends = [
                    (a.b, b.a, false, false),
                    (a.b, b.b, false, true),
                    (a.a, b.a, true, false),
                    (a.a, b.b, true, true),
                ];
                let Some(&(_, _, flip_a, flip_b)) = ends.iter().find(|e| near(e.0, e.1, reach))
                else {
                    continue;
                };
                let a = if flip_a { a.reversed() } else { a.clone() };
                let b = if flip_b { b.reversed() } else { b.clone() };
                let turn = angle_between(&a, &b);
                if !(10.0..=80.0).contains(&turn) {
                    continue;
                }
                let mut m = a.clone();
                m.b = b.b;
                let chord = (m.b.0 - m.a.0).hypot(m.b.1 - m.a.1);
                // The joint's distance from the chord: the bend.
                let (dx, dy) = (
                    (m.b.0 - m.a.0) / chord.max(1e-6),
                    (m.b.1 - m.a.1) / chord.max(1e-6),
                );
                let bend = ((a.b.0 - m.a.0) * dy - (a.b.1 - m.a.1) * dx).abs();
                if chord < 1.0 || bend < 0.04 * chord {
                    continue;
                }
                m.length = a.length + b.length;
                m.width = a.width.max(b.width);
                m.angle_deg = (dy.atan2(dx).to_degrees() + 360.0) % 360.0;
                for k in 0..3 {
                    m.peak[k] = a.peak[k].max(b.peak[k]);
                    m.integrated[k] = a.integrated[k] + b.integrated[k];
                }
                m.pixels = a.pixels + b.pixels;
                m.curved = true;
                m.tapered = false;
                m.stubby = false;
                m.core_width = a.core_width.max(b.core_width);
                m.saturated = a.saturated || b.saturated;
                m.flashes = a.flashes.max(b.flashes);
                m.at_edge = [a.at_edge[0], b.at_edge[1]];
                let half = m.profile.len() / 2;
                m.profile = a
                    .profile
                    .iter()
                    .step_by(2)
                    .chain(b.profile.iter().step_by(2))
                    .copied()
                    .take(2 * half)
                    .collect();
                let (hi, lo) = (i.max(j), i.min(j));
                segs.swap_remove(hi);
                segs.swap_remove(lo);
                segs.push(m);
                joined = true;
                break 'pairs;
            }
        }
    }
    segs
}

impl Linker {
    /// A linker; `link` false classifies every streak alone.
    pub fn new(link: bool) -> Linker {
        Linker {
            link,
            ..Linker::default()
        }
    }

    /// The streaks of the next frame searched (frames in order); returns the events of
    /// the tracks that ended before it. `adjacent`: whether this frame follows the
    /// previous one searched without a gap.
    pub fn add(
        &mut self,
        seq: u64,
        start_ns: i64,
        exposure_us: u32,
        adjacent: bool,
        segs: Vec<Segment>,
    ) -> Vec<Event> {
        let mut done = Vec::new();
        // Tracks that can no longer continue are finished: a gap in the data, or more
        // than MAX_SKIP frames since their last streak (a faint satellite can be missed
        // in a frame or two).
        let mut keep = Vec::new();
        for mut t in std::mem::take(&mut self.open) {
            let last = t.pieces.last().map_or(0, |p| p.seq);
            let continues = self.link && adjacent && seq <= last + 1 + MAX_SKIP;
            if continues {
                keep.push(t);
            } else {
                // The frame after its last was searched if it was this one (adjacent) or
                // one before it.
                t.after = last < self.last.map_or(0, |l| l.0) || (adjacent && last + 1 == seq);
                done.push(t);
            }
        }
        self.open = keep;
        let before = adjacent && self.last.is_some();
        self.recent.retain(|p| p.seq + 2 * (MAX_SKIP + 1) >= seq);
        for seg in segs
            .iter()
            .filter(|s| !s.stubby && !s.curved && !s.red_green && !s.saturated)
            .filter(|s| s.core_width >= 1.0)
        {
            if self.widths.len() == WIDTHS {
                self.widths.pop_front();
            }
            self.widths.push_back(seg.core_width);
        }
        for seg in &segs {
            self.recent.push(Piece {
                seq,
                start_ns,
                exposure_us,
                seg: seg.clone(),
            });
        }
        let continuing = self.open.len();
        let mut taken = vec![false; continuing];
        for seg in segs {
            let piece = Piece {
                seq,
                start_ns,
                exposure_us,
                seg,
            };
            let found = if self.link {
                (0..continuing)
                    .filter(|&i| !taken[i])
                    .find(|&i| continues(&self.open[i], &piece))
            } else {
                None
            };
            match found {
                Some(i) => {
                    taken[i] = true;
                    let t = &mut self.open[i];
                    orient(t, &piece);
                    let mut p = piece;
                    if let Some(prev) = t.pieces.last() {
                        align(prev, &mut p);
                    }
                    t.pieces.push(p);
                }
                None => self.open.push(Track {
                    pieces: vec![piece],
                    before,
                    after: false,
                }),
            }
        }
        // Without linking a track is one streak: it ends with its frame.
        if !self.link {
            for mut t in std::mem::take(&mut self.open) {
                t.after = true;
                t.before = true;
                done.push(t);
            }
        }
        self.last = Some((seq, start_ns));
        self.finish_tracks(done)
    }

    /// Ends every track (the end of the data).
    pub fn finish(&mut self) -> Vec<Event> {
        let last = self.last.map_or(0, |l| l.0);
        let mut done = std::mem::take(&mut self.open);
        for t in &mut done {
            t.after = t.pieces.last().is_some_and(|p| p.seq < last);
        }
        self.finish_tracks(done)
    }

    fn finish_tracks(&mut self, done: Vec<Track>) -> Vec<Event> {
        let mut events = Vec::new();
        for t in done.iter().filter(|t| t.pieces.len() >= 3) {
            self.long.push(t.clone());
        }
        // Keep only long tracks near in time (their frames within the last minute).
        if let Some((_, now)) = self.last {
            self.long.retain(|t| {
                t.pieces
                    .last()
                    .is_some_and(|p| now - p.start_ns < 120_000_000_000)
            });
        }
        for t in done {
            if let Some(e) = self.classify(&t) {
                events.push(e);
            }
        }
        events
    }

    /// The event a track is, or `None` when it is part of a longer track.
    fn classify(&self, t: &Track) -> Option<Event> {
        let n = t.pieces.len();
        let flashes = t.pieces.iter().filter(|p| p.seg.flashes >= 3).count();
        let red_green = t.pieces.iter().any(|p| p.seg.red_green);
        let broad = t
            .pieces
            .iter()
            .all(|p| p.seg.width > 14.0 && p.seg.width * 4.0 > p.seg.length);
        if n <= 2 && self.link && self.part_of_long(t) {
            return None;
        }
        // Stubby pieces are too round to be a streak on their own: a slow plane's frames
        // linked into a track, or nothing (a blob, a twinkle).
        if t.pieces.iter().all(|p| p.seg.stubby) && (n < 3 || !self.link) {
            return None;
        }
        let slow_in_pieces = n <= 2 && self.link && self.on_line_with_others(t);
        // Two lights a wingspan apart, found as one streak, make it wide.
        let wide = t.pieces.iter().filter(|p| p.seg.width >= 8.0).count();
        let plane_votes = flashes + wide + t.pieces.iter().filter(|p| p.seg.red_green).count();
        // A path that bends, or is blurred well beyond the night's streaks in focus,
        // seen in a frame or two: something near the lens.
        let curved = n <= 2 && t.pieces.iter().any(|p| p.seg.curved && !p.seg.saturated);
        let blurred = n <= 2
            && self.focus_width().is_some_and(|w| {
                t.pieces
                    .iter()
                    .all(|p| !p.seg.saturated && p.seg.core_width > BLURRED * w)
            });
        let (class, confidence) = if curved || blurred {
            (Class::Other, 0.7)
        } else if red_green && (n < 3 || plane_votes * 10 >= n * 3)
            || (flashes > 0 && flashes * 2 >= n)
            || (n >= 3 && plane_votes * 2 >= n)
        {
            (Class::Plane, if red_green { 0.9 } else { 0.75 })
        } else if n >= 3 {
            (Class::Satellite, 0.9)
        } else if slow_in_pieces {
            (Class::Satellite, 0.6)
        } else if broad {
            (Class::Other, 0.6)
        } else if n == 2 {
            let first = &t.pieces[0].seg;
            let last = &t.pieces[1].seg;
            if first.at_edge[0] && last.at_edge[1] {
                (Class::Satellite, 0.6)
            } else {
                (Class::Meteor, 0.8)
            }
        } else {
            let s = &t.pieces[0].seg;
            if !self.link {
                if s.tapered {
                    (Class::Meteor, 0.6)
                } else {
                    (Class::Satellite, 0.5)
                }
            } else if t.before && t.after {
                (Class::Meteor, if s.tapered { 0.9 } else { 0.7 })
            } else if s.tapered {
                (Class::Meteor, 0.6)
            } else {
                (Class::Satellite, 0.5)
            }
        };
        Some(Event::of(
            class,
            confidence,
            t.pieces.iter().map(frame_of).collect(),
        ))
    }

    /// How wide a streak in focus is tonight: the median core width of the last straight
    /// streaks (most are satellites and meteors, in focus; `None` until enough were
    /// seen).
    fn focus_width(&self) -> Option<f32> {
        if self.widths.len() < MIN_WIDTHS {
            return None;
        }
        let mut v: Vec<f32> = self.widths.iter().copied().collect();
        let k = v.len() / 2;
        Some(*v.select_nth_unstable_by(k, f32::total_cmp).1)
    }

    /// Whether a short track lies on one line with streaks of other tracks within a few
    /// frames: a slow mover found in pieces (two meteors on one line within seconds are
    /// far rarer than a faint satellite missed here and there).
    fn on_line_with_others(&self, t: &Track) -> bool {
        // The track's own streaks (turned to its direction of travel, so either way).
        let own = |q: &Piece| {
            t.pieces.iter().any(|p| {
                p.seq == q.seq
                    && ((p.seg.a == q.seg.a && p.seg.b == q.seg.b)
                        || (p.seg.a == q.seg.b && p.seg.b == q.seg.a))
            })
        };
        t.pieces.iter().any(|p| {
            self.recent.iter().any(|q| {
                !own(q)
                    // Pieces of one frame on one line are one streak broken, not a mover.
                    && q.seq != p.seq
                    && q.seq.abs_diff(p.seq) <= MAX_SKIP + 1
                    && collinear(&q.seg, &p.seg, 12.0)
                    && collinear(&p.seg, &q.seg, 12.0)
            })
        })
    }

    /// Whether a short track lies on the line of a long track in the same frames.
    fn part_of_long(&self, t: &Track) -> bool {
        let tracks = self
            .long
            .iter()
            .chain(self.open.iter().filter(|o| o.pieces.len() >= 2));
        for long in tracks {
            for p in &t.pieces {
                if long
                    .pieces
                    .iter()
                    .any(|q| q.seq.abs_diff(p.seq) <= 1 && collinear(&q.seg, &p.seg, 12.0))
                {
                    return true;
                }
            }
        }
        false
    }
}

/// Whether `p` continues track `t`: its frame follows the track's last (or skips up to
/// [`MAX_SKIP`] frames), its line is the track's, and one of its ends is where the
/// track's last streak ended plus the flight during the time between the two exposures.
fn continues(t: &Track, p: &Piece) -> bool {
    let Some(last) = t.pieces.last() else {
        return false;
    };
    if p.seq <= last.seq {
        return false;
    }
    if !collinear(&last.seg, &p.seg, 10.0) {
        return false;
    }
    let dead_s = ((p.start_ns - last.end_ns()).max(0)) as f32 / 1e9;
    let speed = last.seg.length / (last.exposure_us.max(1) as f32 / 1e6);
    let tol = 16.0 + 0.2 * last.seg.length + 1.5 * speed * dead_s;
    let ends = [last.seg.a, last.seg.b];
    let near = |q: (f32, f32)| {
        ends.iter()
            .map(|e| (e.0 - q.0).hypot(e.1 - q.1))
            .fold(f32::MAX, f32::min)
    };
    near(p.seg.a).min(near(p.seg.b)) < tol
}

/// Orients a track's first streak so that its `b` end is where the second one starts.
fn orient(t: &mut Track, next: &Piece) {
    if t.pieces.len() != 1 {
        return;
    }
    let first = &t.pieces[0].seg;
    let d = |p: (f32, f32), q: (f32, f32)| (p.0 - q.0).hypot(p.1 - q.1);
    let to_b = d(first.b, next.seg.a).min(d(first.b, next.seg.b));
    let to_a = d(first.a, next.seg.a).min(d(first.a, next.seg.b));
    if to_a < to_b {
        t.pieces[0].seg = first.reversed();
    }
}

/// Orients `p` to run on from `prev` (its `a` end nearest `prev`'s `b`).
fn align(prev: &Piece, p: &mut Piece) {
    let d = |q: (f32, f32)| (prev.seg.b.0 - q.0).hypot(prev.seg.b.1 - q.1);
    if d(p.seg.b) < d(p.seg.a) {
        p.seg = p.seg.reversed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(a: (f32, f32), b: (f32, f32), width: f32) -> Segment {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        Segment {
            a,
            b,
            length: dx.hypot(dy),
            width,
            angle_deg: (dy.atan2(dx).to_degrees() + 360.0) % 360.0,
            peak: [100.0; 3],
            integrated: [1000.0; 3],
            profile: vec![50.0; crate::segments::PROFILE_BINS],
            pixels: 100,
            tapered: false,
            flashes: 0,
            red_green: false,
            at_edge: [false, false],
            stubby: false,
            curved: false,
            core_width: width / 2.0,
            saturated: false,
        }
    }

    #[test]
    fn pieces_of_a_bending_path_join_into_one_curved_streak_and_straight_ones_do_not() {
        // An insect's path broken where its light flickered: three pieces turning.
        let path = vec![
            seg((100.0, 100.0), (160.0, 120.0), 12.0),
            seg((175.0, 128.0), (220.0, 170.0), 12.0),
            // Measured the other way round.
            seg((240.0, 260.0), (228.0, 185.0), 12.0),
        ];
        let out = merge_in_frame(path);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].curved);
        let ends = [out[0].a, out[0].b];
        assert!(
            ends.contains(&(100.0, 100.0)) && ends.contains(&(240.0, 260.0)),
            "{ends:?}"
        );
        // A meteor broken by a gap stays one straight streak; two meteors far apart stay
        // two.
        let out = merge_in_frame(vec![
            seg((0.0, 0.0), (100.0, 50.0), 5.0),
            seg((110.0, 55.0), (200.0, 100.0), 5.0),
            seg((600.0, 600.0), (700.0, 500.0), 5.0),
        ]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(|s| !s.curved));
    }

    #[test]
    fn a_blurred_streak_in_one_frame_is_other_once_the_night_shows_streaks_in_focus() {
        let mut linker = Linker::new(true);
        let mut events = Vec::new();
        // A satellite in focus for 20 frames (core 2.5 pixels), then, in a frame of its
        // own, a streak with a core twice as wide (out of focus, near the lens).
        for seq in 0..30u64 {
            let mut segs = Vec::new();
            if seq < 20 {
                let x = seq as f32 * 50.0;
                segs.push(seg((x, 10.0), (x + 49.0, 10.0), 5.0));
            }
            if seq == 24 {
                segs.push(seg((300.0, 400.0), (420.0, 500.0), 11.0));
            }
            events.extend(linker.add(seq, seq as i64 * 5_000_000_000, 5_000_000, true, segs));
        }
        events.extend(linker.finish());
        let classes: Vec<(Class, u64)> = events.iter().map(|e| (e.class, e.first_seq())).collect();
        assert!(classes.contains(&(Class::Satellite, 0)), "{classes:?}");
        assert!(classes.contains(&(Class::Other, 24)), "{classes:?}");
        assert!(!classes.iter().any(|c| c.0 == Class::Meteor), "{classes:?}");
    }
}
