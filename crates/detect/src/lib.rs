//! nightcap-detect: meteors, satellites and planes in a journal's frames.
//!
//! A [`Detector`] takes frames one at a time, in journal order, and returns the
//! [`Event`]s it has finished with. For each frame it:
//! 1. bins it to half resolution ([`binned`]);
//! 2. subtracts a background made from the frames around it and measures the noise
//!    ([`background`]): what is left is what crossed during the exposure;
//! 3. finds the streaks in it ([`segments`]);
//! 4. follows each streak into the next exposures and decides what the track is
//!    ([`tracks`]): nightcap's exposures follow each other with almost no dead time, so
//!    satellites and planes continue from frame to frame while meteors do not.
//!
//! A frame is searched once the [`DetectConfig::window`] frames after it have arrived
//! (they are part of its background), so events come out a few frames late; memory is
//! `2 × window + 1` half-resolution frames (about 2 MB per megapixel of the sensor).
//! [`score`] measures events against the simulated sky's truth; [`mask`] turns events
//! into the parts of frames a clean stack leaves out.

pub mod background;
pub mod binned;
pub mod event;
pub mod mask;
pub mod score;
pub mod segments;
pub mod tracks;

use std::collections::VecDeque;

use binned::Binned;
pub use event::{Class, Event, EventFrame};
use nightcap_frame::pixels::Image16;
use tracks::Linker;

/// How to detect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectConfig {
    /// Frames on each side that make a frame's background.
    pub window: usize,
    /// Threshold in noise sigmas.
    pub sigma: f32,
    /// Follow streaks across frames (off: the baseline that classifies each alone).
    pub link: bool,
    /// Two frames further apart than this (start to start, ns) are not neighbours: a gap
    /// in the capture.
    pub max_period_ns: i64,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            window: 2,
            sigma: 5.0,
            link: true,
            max_period_ns: 0,
        }
    }
}

struct Slot {
    seq: u64,
    start_ns: i64,
    exposure_us: u32,
    frame: Binned,
    searched: bool,
}

impl Slot {
    /// Whether `next` follows this frame without a gap.
    fn followed_by(&self, next: &Slot, max_period_ns: i64) -> bool {
        let period = i64::from(self.exposure_us) * 1000;
        let limit = if max_period_ns > 0 {
            max_period_ns
        } else {
            period + period / 2 + 2_000_000_000
        };
        next.seq == self.seq + 1
            && next.start_ns > self.start_ns
            && next.start_ns - self.start_ns <= limit
            && next.frame.width == self.frame.width
            && next.frame.height == self.frame.height
    }
}

/// Detection over a stream of frames.
pub struct Detector {
    cfg: DetectConfig,
    ring: VecDeque<Slot>,
    linker: Linker,
    notes: Vec<String>,
    searched: u64,
    /// The seq of the last frame searched.
    last_searched: Option<u64>,
}

impl Detector {
    /// A detector that has seen nothing yet.
    pub fn new(cfg: DetectConfig) -> Detector {
        Detector {
            cfg,
            ring: VecDeque::new(),
            linker: Linker::new(cfg.link),
            notes: Vec::new(),
            searched: 0,
            last_searched: None,
        }
    }

    /// The next frame (journal seq, exposure start, exposure); returns finished events.
    pub fn push(
        &mut self,
        seq: u64,
        start_ns: i64,
        exposure_us: u32,
        image: &Image16,
    ) -> Vec<Event> {
        let slot = Slot {
            seq,
            start_ns,
            exposure_us,
            frame: Binned::of(image),
            searched: false,
        };
        let mut events = Vec::new();
        // A gap (or a new format) ends the run: search what is left of it first.
        if let Some(last) = self.ring.back() {
            if !last.followed_by(&slot, self.cfg.max_period_ns) {
                events.extend(self.drain());
            }
        }
        self.ring.push_back(slot);
        let k = self.cfg.window.max(1);
        if self.ring.len() > k {
            let centre = self.ring.len() - 1 - k;
            events.extend(self.search(centre));
        }
        while self.ring.len() > 2 * k + 1 {
            self.ring.pop_front();
        }
        events
    }

    /// A frame that could not be read: it breaks the run like a gap.
    pub fn skip(&mut self) -> Vec<Event> {
        self.drain()
    }

    /// Ends the stream: searches the last frames and finishes every track. Returns the
    /// remaining events and notes on what could not be done.
    pub fn finish(mut self) -> (Vec<Event>, Vec<String>) {
        let mut events = self.drain();
        events.extend(self.linker.finish());
        if self.searched == 0 {
            self.notes.push("no frame could be searched: detection needs at least two frames in a row (one frame has no background to compare with)".to_string());
        }
        (events, self.notes)
    }

    /// Notes so far (thresholds raised on cloudy frames, runs too short).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Searches every frame of the current run not searched yet, and empties the ring.
    fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        for i in 0..self.ring.len() {
            if !self.ring[i].searched {
                events.extend(self.search(i));
            }
        }
        self.ring.clear();
        events
    }

    /// Searches the frame at `centre` of the ring against its neighbours.
    fn search(&mut self, centre: usize) -> Vec<Event> {
        let k = self.cfg.window.max(1);
        let lo = centre.saturating_sub(k);
        let hi = (centre + k).min(self.ring.len() - 1);
        let others: Vec<&[u16]> = (lo..=hi)
            .filter(|&i| i != centre)
            .map(|i| self.ring[i].frame.luma.as_slice())
            .collect();
        let slot = &self.ring[centre];
        let (seq, start_ns, exposure_us) = (slot.seq, slot.start_ns, slot.exposure_us);
        if others.is_empty() {
            self.notes.push(format!(
                "frame seq {seq}: no neighbouring frame to compare with (a run of one frame), not searched"
            ));
            self.ring[centre].searched = true;
            return Vec::new();
        }
        let f = &slot.frame;
        let residual = background::residual(&f.luma, &others, f.width, f.height);
        let noise = background::noise(&residual, background::noise_floor(f.max_value));
        let found = segments::find(f, &residual, noise, self.cfg.sigma);
        if let Some(fraction) = found.raised {
            self.notes.push(format!(
                "frame seq {seq}: {:.0} % of the pixels changed (clouds, the moon, lights?): threshold raised to {:.0}",
                fraction * 100.0,
                found.threshold
            ));
        }
        let segs = tracks::merge_in_frame(found.segments);
        let adjacent = self.last_searched.is_some_and(|s| s + 1 == seq)
            && centre > 0
            && self.ring[centre - 1].seq + 1 == seq;
        let events = self.linker.add(seq, start_ns, exposure_us, adjacent, segs);
        self.ring[centre].searched = true;
        self.ring[centre].frame.colour = None;
        self.searched += 1;
        self.last_searched = Some(seq);
        events
    }
}
