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
}

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
    out
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
        let (class, confidence) = if red_green && (n < 3 || plane_votes * 10 >= n * 3)
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
            t.pieces.iter().map(EventFrame::of).collect(),
        ))
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
