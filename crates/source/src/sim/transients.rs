//! What crosses the simulated sky, and the truth about it: meteors, satellites and planes
//! as straight streaks of light per exposure, each belonging to one event, and the
//! labels ([`Label`]) a detector is measured against.
//!
//! Every event is a pure function of the seed and its time slot, so any frame can be
//! rendered alone and the labels of a night computed without rendering it:
//! - a **meteor** belongs to the frame slot it starts in: it starts anywhere in that
//!   slot's exposure or the dead time after it and lasts 0.1–1 s, so some cross into the
//!   next exposure (straddling the boundary) and a few fall partly in the dead time;
//!   its brightness rises and falls over its whole flight (`sin²` of the time fraction);
//! - a **satellite** crosses the field in 40–240 s along a straight line, steady, or
//!   (one in four) flaring once for a second or two;
//! - a **plane** crosses in 40–240 s with a red and a green navigation light a wingspan
//!   apart and a white anti-collision strobe flashing every second;
//! - an **other** thing, near the lens (an insect or a bird lit by the town's lights),
//!   crosses along a curve in 0.5–3 s, out of focus (3–8 px wide), its light flickering
//!   with its wing beats; like a meteor it belongs to the frame slot it starts in.
//!
//! Rates are [`Rates`]: the defaults (meteors 6/h, satellites 3.6/h, planes 0.7/h,
//! others 1/h) look like a suburban night in a 12 MP field; benchmarks raise them.

use std::f64::consts::TAU;

use nightcap_frame::PixelFormat;

use super::rng::{hash2, Stream};

/// Electrons per second from a magnitude-0 star (the sky's calibration).
pub(super) const MAG0_E_PER_S: f64 = 5.0e5;
/// Longest crossing of the frame by a satellite or plane, seconds.
pub(super) const MAX_PASS_S: f64 = 240.0;
/// Star PSF: Gaussian standard deviation in pixels.
pub(super) const PSF_SIGMA: f32 = 1.2;

const TAG_METEOR: u64 = 5;
const TAG_SATELLITE: u64 = 6;
const TAG_PLANE: u64 = 7;
const TAG_OTHER: u64 = 8;

/// Events per hour of each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub meteors_per_hour: f64,
    pub satellites_per_hour: f64,
    pub planes_per_hour: f64,
    /// Insects and birds near the lens.
    pub others_per_hour: f64,
}

impl Default for Rates {
    fn default() -> Rates {
        Rates {
            meteors_per_hour: 6.0,
            satellites_per_hour: 3.6,
            planes_per_hour: 0.7,
            others_per_hour: 1.0,
        }
    }
}

/// What crosses the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transient {
    Meteor,
    Satellite,
    /// A plane's navigation light or one strobe flash.
    Plane,
    /// A piece of an insect's or a bird's curved path.
    Other,
}

impl Transient {
    /// The class name detectors and labels use.
    pub fn name(self) -> &'static str {
        match self {
            Transient::Meteor => "meteor",
            Transient::Satellite => "satellite",
            Transient::Plane => "plane",
            Transient::Other => "other",
        }
    }
}

/// One event: its kind and the slot it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    pub kind: Transient,
    pub slot: i64,
}

/// A straight streak of light during one exposure.
#[derive(Debug, Clone, Copy)]
pub(super) struct Streak {
    pub event: EventId,
    pub from: (f64, f64),
    pub to: (f64, f64),
    /// Total electrons.
    pub flux: f64,
    pub colour: [f32; 3],
    /// The fractions of the whole flight this piece covers, for a meteor's taper
    /// (`sin²` over the whole flight); `None`: even brightness.
    pub taper: Option<(f64, f64)>,
    /// Gaussian width of its light across, pixels ([`PSF_SIGMA`] when in focus).
    pub sigma: f32,
}

/// The streaks of the exposure `[t0, t1]` (seconds, UTC) of frame slot `index`.
pub(super) struct Frame {
    pub seed: u64,
    pub format: PixelFormat,
    pub rates: Rates,
    pub index: u64,
    pub t0: f64,
    pub t1: f64,
    /// Exposure start to exposure start, seconds.
    pub period: f64,
}

impl Frame {
    /// Everything crossing during the exposure.
    pub fn streaks(&self) -> Vec<Streak> {
        let mut out = Vec::new();
        // Meteors start in this slot or the one before (and may run on into this one).
        for k in [self.index.checked_sub(1), Some(self.index)]
            .into_iter()
            .flatten()
        {
            if let Some(m) = self.meteor(k) {
                m.pieces(self.t0, self.t1, &mut out);
            }
            if let Some(o) = self.other(k) {
                o.pieces(self.t0, self.t1, &mut out);
            }
        }
        for (kind, default_slot, rate) in [
            (Transient::Satellite, 600.0, self.rates.satellites_per_hour),
            (Transient::Plane, 1800.0, self.rates.planes_per_hour),
        ] {
            if rate <= 0.0 || !rate.is_finite() {
                continue;
            }
            // A pass starts inside its slot and lasts at most MAX_PASS_S.
            let slot_s = f64::min(default_slot, 3600.0 / rate).max(1.0);
            let chance = (rate * slot_s / 3600.0).min(1.0);
            let tag = if kind == Transient::Satellite {
                TAG_SATELLITE
            } else {
                TAG_PLANE
            };
            let first = ((self.t0 - slot_s - MAX_PASS_S) / slot_s).floor() as i64;
            let last = (self.t1 / slot_s).floor() as i64;
            for slot in first..=last {
                let mut r = Stream::new(hash2(self.seed, tag), slot as u64);
                if r.next() >= chance {
                    continue;
                }
                let event = EventId { kind, slot };
                let pass = Pass::new(&mut r, slot as f64 * slot_s, slot_s, self.format);
                if kind == Transient::Satellite {
                    pass.satellite(&mut r, event, self.t0, self.t1, &mut out);
                } else {
                    pass.plane(&mut r, event, self.t0, self.t1, &mut out);
                }
            }
        }
        out
    }

    /// Whether frame slot `k` has an event of the kind `tag` that happens `rate` times an
    /// hour, each starting in its slot: its random stream and start time (seconds).
    fn slot_start(&self, tag: u64, rate: f64, k: u64) -> Option<(Stream, f64)> {
        if rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        let mut r = Stream::new(hash2(self.seed, tag), k);
        if r.next() >= (rate * self.period / 3600.0).min(1.0) {
            return None;
        }
        let start =
            self.t0 + (k as f64 - self.index as f64) * self.period + r.range(0.0, self.period);
        Some((r, start))
    }

    /// The insect or bird of frame slot `k`, if it has one.
    fn other(&self, k: u64) -> Option<Other> {
        let (mut r, start) = self.slot_start(TAG_OTHER, self.rates.others_per_hour, k)?;
        let (w, h) = (f64::from(self.format.width), f64::from(self.format.height));
        let from = (r.range(0.0, w), r.range(0.0, h));
        let dir = r.range(0.0, TAU);
        let len = w.hypot(h) * r.range(0.1, 0.4);
        let to = (from.0 + len * dir.cos(), from.1 + len * dir.sin());
        // The curve bends to one side by up to a third of its length.
        let bend = len * r.range(0.1, 0.33) * if r.next() < 0.5 { -1.0 } else { 1.0 };
        let mid = ((from.0 + to.0) / 2.0, (from.1 + to.1) / 2.0);
        let control = (mid.0 - dir.sin() * bend, mid.1 + dir.cos() * bend);
        // Out of focus: wider on larger sensors (the blur is a fraction of the field).
        let sigma = (r.range(0.0015, 0.004) * w.hypot(h)).clamp(2.5, 16.0) as f32;
        Some(Other {
            event: EventId {
                kind: Transient::Other,
                slot: k as i64,
            },
            start,
            duration: r.range(0.5, 3.0),
            from,
            control,
            to,
            sigma,
            flux: MAG0_E_PER_S * 10f64.powf(-0.4 * r.range(-2.0, 1.5)),
            beat_hz: r.range(4.0, 12.0),
            phase: r.next(),
        })
    }

    /// The meteor of frame slot `k`, if it has one.
    fn meteor(&self, k: u64) -> Option<Meteor> {
        let (mut r, start) = self.slot_start(TAG_METEOR, self.rates.meteors_per_hour, k)?;
        let (w, h) = (f64::from(self.format.width), f64::from(self.format.height));
        let duration = r.range(0.1, 1.0);
        let from = (r.range(0.0, w), r.range(0.0, h));
        let dir = r.range(0.0, TAU);
        let len = w.hypot(h) * r.range(0.04, 0.25);
        let mag = r.range(-2.0, 3.0);
        Some(Meteor {
            event: EventId {
                kind: Transient::Meteor,
                slot: k as i64,
            },
            start,
            duration,
            from,
            to: (from.0 + len * dir.cos(), from.1 + len * dir.sin()),
            flux: MAG0_E_PER_S * 10f64.powf(-0.4 * mag) * 0.4,
        })
    }
}

/// One meteor's whole flight.
struct Meteor {
    event: EventId,
    start: f64,
    duration: f64,
    from: (f64, f64),
    to: (f64, f64),
    /// Total electrons over the whole flight.
    flux: f64,
}

impl Meteor {
    /// The part of the flight inside `[t0, t1]`, as a streak.
    fn pieces(&self, t0: f64, t1: f64, out: &mut Vec<Streak>) {
        let (a, b) = (t0.max(self.start), t1.min(self.start + self.duration));
        if a >= b {
            return;
        }
        let (u0, u1) = (
            (a - self.start) / self.duration,
            (b - self.start) / self.duration,
        );
        let at = |u: f64| {
            (
                self.from.0 + (self.to.0 - self.from.0) * u,
                self.from.1 + (self.to.1 - self.from.1) * u,
            )
        };
        // The share of the light of the flight's tapered profile inside [u0, u1]:
        // the integral of sin²(πu) is u/2 - sin(2πu)/(4π).
        let cum = |u: f64| u / 2.0 - (TAU * u).sin() / (2.0 * TAU);
        let share = (cum(u1) - cum(u0)) / 0.5;
        out.push(Streak {
            event: self.event,
            from: at(u0),
            to: at(u1),
            flux: self.flux * share,
            colour: [0.85, 1.15, 1.0],
            taper: Some((u0, u1)),
            sigma: PSF_SIGMA,
        });
    }
}

/// An insect or a bird near the lens: a curved, blurred, flickering path.
struct Other {
    event: EventId,
    start: f64,
    duration: f64,
    from: (f64, f64),
    /// The quadratic Bézier curve's control point.
    control: (f64, f64),
    to: (f64, f64),
    sigma: f32,
    /// Electrons per second at full brightness.
    flux: f64,
    /// Wing beats: the light flickers at this rate.
    beat_hz: f64,
    phase: f64,
}

impl Other {
    /// Straight pieces along the curve, per share of the flight.
    const STEPS: usize = 24;

    fn at(&self, u: f64) -> (f64, f64) {
        let v = 1.0 - u;
        (
            v * v * self.from.0 + 2.0 * v * u * self.control.0 + u * u * self.to.0,
            v * v * self.from.1 + 2.0 * v * u * self.control.1 + u * u * self.to.1,
        )
    }

    /// The parts of the flight inside `[t0, t1]`, as straight pieces of the curve.
    fn pieces(&self, t0: f64, t1: f64, out: &mut Vec<Streak>) {
        let step = self.duration / Self::STEPS as f64;
        for i in 0..Self::STEPS {
            let (s0, s1) = (
                self.start + i as f64 * step,
                self.start + (i + 1) as f64 * step,
            );
            let (a, b) = (t0.max(s0), t1.min(s1));
            if a >= b {
                continue;
            }
            let u = |t: f64| (t - self.start) / self.duration;
            let beat = (TAU * (self.beat_hz * (a + b) / 2.0 + self.phase)).sin();
            out.push(Streak {
                event: self.event,
                from: self.at(u(a)),
                to: self.at(u(b)),
                flux: self.flux * (b - a) * (0.65 + 0.35 * beat),
                colour: [1.25, 1.0, 0.7],
                taper: None,
                sigma: self.sigma,
            });
        }
    }
}

/// A straight crossing of the frame by a satellite or plane, in one time slot.
struct Pass {
    start_s: f64,
    duration_s: f64,
    from: (f64, f64),
    to: (f64, f64),
}

impl Pass {
    fn new(r: &mut Stream, slot_start_s: f64, slot_s: f64, f: PixelFormat) -> Pass {
        let (w, h) = (f64::from(f.width), f64::from(f.height));
        // Enter and leave through different edges, a little outside the frame.
        let edge_point = |r: &mut Stream, edge: u64| {
            let t = r.next();
            match edge % 4 {
                0 => (t * w, -10.0),
                1 => (w + 10.0, t * h),
                2 => (t * w, h + 10.0),
                _ => (-10.0, t * h),
            }
        };
        let e0 = (r.next() * 4.0) as u64;
        let e1 = e0 + 1 + (r.next() * 3.0) as u64;
        Pass {
            start_s: slot_start_s + r.range(0.0, slot_s),
            duration_s: r.range(40.0, MAX_PASS_S),
            from: edge_point(r, e0),
            to: edge_point(r, e1),
        }
    }

    fn at(&self, t: f64) -> (f64, f64) {
        let s = (t - self.start_s) / self.duration_s;
        (
            self.from.0 + (self.to.0 - self.from.0) * s,
            self.from.1 + (self.to.1 - self.from.1) * s,
        )
    }

    /// The part of the pass inside `[t0, t1]`, if any.
    fn overlap(&self, t0: f64, t1: f64) -> Option<(f64, f64)> {
        let (a, b) = (t0.max(self.start_s), t1.min(self.start_s + self.duration_s));
        (a < b).then_some((a, b))
    }

    /// A satellite: a steady streak (magnitude 2-5) along the part crossed; one in four
    /// flares once (up to 3 magnitudes brighter for a second or two).
    fn satellite(&self, r: &mut Stream, event: EventId, t0: f64, t1: f64, out: &mut Vec<Streak>) {
        let mag = r.range(2.0, 5.0);
        let flare = (r.next() < 0.25).then(|| {
            (
                self.start_s + r.range(0.2, 0.8) * self.duration_s,
                r.range(1.0, 2.0),
                r.range(1.0, 3.0),
            )
        });
        let Some((a, b)) = self.overlap(t0, t1) else {
            return;
        };
        let e_per_s = MAG0_E_PER_S * 10f64.powf(-0.4 * mag);
        out.push(Streak {
            event,
            from: self.at(a),
            to: self.at(b),
            flux: e_per_s * (b - a),
            colour: [1.0, 1.0, 1.0],
            taper: None,
            sigma: PSF_SIGMA,
        });
        if let Some((mid, len, gain)) = flare {
            if let Some((fa, fb)) = overlap((mid - len / 2.0, mid + len / 2.0), (a, b)) {
                out.push(Streak {
                    event,
                    from: self.at(fa),
                    to: self.at(fb),
                    flux: e_per_s * (10f64.powf(0.4 * gain) - 1.0) * (fb - fa),
                    colour: [1.0, 1.0, 1.0],
                    taper: Some((
                        (fa - (mid - len / 2.0)) / len,
                        (fb - (mid - len / 2.0)) / len,
                    )),
                    sigma: PSF_SIGMA,
                });
            }
        }
    }

    /// A plane: a red (left wing) and a green (right wing) navigation light a wingspan
    /// apart, and a white strobe flashing for 50 ms every second.
    fn plane(&self, r: &mut Stream, event: EventId, t0: f64, t1: f64, out: &mut Vec<Streak>) {
        let phase = r.next();
        let span = r.range(6.0, 12.0);
        let Some((a, b)) = self.overlap(t0, t1) else {
            return;
        };
        let (dx, dy) = (self.to.0 - self.from.0, self.to.1 - self.from.1);
        let norm = dx.hypot(dy).max(1e-9);
        // Left of the direction of flight (image y down): (dy, -dx).
        let left = (dy / norm * span / 2.0, -dx / norm * span / 2.0);
        let shift = |p: (f64, f64), s: f64| (p.0 + left.0 * s, p.1 + left.1 * s);
        let nav = MAG0_E_PER_S * 10f64.powf(-0.4 * 3.5) * (b - a);
        for (side, colour) in [(1.0, [1.9, 0.45, 0.5]), (-1.0, [0.35, 1.6, 0.9])] {
            out.push(Streak {
                event,
                from: shift(self.at(a), side),
                to: shift(self.at(b), side),
                flux: nav,
                colour,
                taper: None,
                sigma: PSF_SIGMA,
            });
        }
        const FLASH_S: f64 = 0.05;
        let mut k = (a - phase).ceil();
        while k + phase < b {
            let (fa, fb) = (k + phase, (k + phase + FLASH_S).min(b));
            out.push(Streak {
                event,
                from: self.at(fa),
                to: self.at(fb),
                flux: MAG0_E_PER_S * 10f64.powf(0.4) * (fb - fa),
                colour: [1.0, 1.0, 1.0],
                taper: None,
                sigma: PSF_SIGMA,
            });
            k += 1.0;
        }
    }
}

fn overlap(a: (f64, f64), b: (f64, f64)) -> Option<(f64, f64)> {
    let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
    (lo < hi).then_some((lo, hi))
}

/// The truth about one event over a run of frames.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Label {
    /// `meteor`, `satellite` or `plane`.
    pub class: &'static str,
    /// Which event (the slot it belongs to), for telling events apart.
    pub slot: i64,
    /// Each frame it crosses, in order.
    pub frames: Vec<LabelFrame>,
    /// Peak signal over the sky's noise on the brightest pixel inside the frame of its
    /// brightest frame (full resolution): below about 3 a detector cannot be expected to
    /// see it.
    pub snr: f64,
}

/// One frame of a [`Label`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelFrame {
    /// The simulation's frame slot.
    pub index: u64,
    /// The frame's exposure start, UTC ns.
    pub start_utc_ns: i64,
    /// Where the event's main streak runs in this frame, pixels.
    pub from: (f64, f64),
    pub to: (f64, f64),
}

/// The peak electrons per pixel a streak puts on its brightest pixel inside a `width` x
/// `height` frame (0 when none of it is inside): light per pixel of length where it is
/// brightest (a meteor's taper included), across a Gaussian of the PSF's width.
pub(super) fn peak_e(s: &Streak, width: f64, height: f64) -> f64 {
    let len = (s.to.0 - s.from.0).hypot(s.to.1 - s.from.1).max(1.0);
    let n = (len.ceil() as usize).clamp(1, 20_000);
    let weight = |u: f64| match s.taper {
        Some((u0, u1)) => (std::f64::consts::PI * (u0 + (u1 - u0) * u)).sin().powi(2),
        None => 1.0,
    };
    let total: f64 = (0..n).map(|i| weight((i as f64 + 0.5) / n as f64)).sum();
    let brightest = (0..n)
        .map(|i| (i as f64 + 0.5) / n as f64)
        .filter(|&u| {
            let (x, y) = (
                s.from.0 + (s.to.0 - s.from.0) * u,
                s.from.1 + (s.to.1 - s.from.1) * u,
            );
            (0.0..width).contains(&x) && (0.0..height).contains(&y)
        })
        .map(weight)
        .fold(0.0, f64::max);
    // Electrons per pixel of length where it is brightest.
    let along = s.flux * brightest / total.max(1e-12) * (n as f64 / len);
    let colour = s.colour.iter().copied().fold(0.0f32, f32::max);
    along / ((TAU).sqrt() * f64::from(s.sigma)) * f64::from(colour)
}

/// Groups the streaks of consecutive frames into labelled events. `frames` holds, per
/// frame slot in order, its index, exposure start and streaks; `noise_e` is the sky's
/// noise per pixel in electrons, `size` the frame's.
pub(super) fn labels(
    frames: &[(u64, i64, Vec<Streak>)],
    noise_e: f64,
    size: (f64, f64),
) -> Vec<Label> {
    use std::collections::BTreeMap;
    let mut events: BTreeMap<EventId, Label> = BTreeMap::new();
    for (index, start, streaks) in frames {
        for s in streaks {
            let l = events.entry(s.event).or_insert_with(|| Label {
                class: s.event.kind.name(),
                slot: s.event.slot,
                frames: Vec::new(),
                snr: 0.0,
            });
            l.snr = l.snr.max(peak_e(s, size.0, size.1) / noise_e.max(1e-9));
            // The first streak of an event in a frame is its main one (a plane's red
            // light, a satellite's steady track); an insect's path goes on piece by
            // piece.
            if let Some(f) = l.frames.last_mut().filter(|f| f.index == *index) {
                if s.event.kind == Transient::Other {
                    f.to = s.to;
                }
            } else {
                l.frames.push(LabelFrame {
                    index: *index,
                    start_utc_ns: *start,
                    from: s.from,
                    to: s.to,
                });
            }
        }
    }
    let mut out: Vec<Label> = events.into_values().collect();
    out.sort_by_key(|l| (l.frames[0].index, l.class, l.slot));
    out
}
