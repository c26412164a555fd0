//! What `nightcap detect` reports: one [`Event`] per meteor, satellite, plane or other
//! thing that crossed, with its frames, geometry, brightness and light curve; written as
//! JSON Lines ([`Event::json`]) and CSV ([`Event::csv_header`], [`Event::csv_row`]).

/// What crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Meteor,
    Satellite,
    Plane,
    /// An insect, a bird, a cloud edge, an artefact.
    Other,
}

impl Class {
    /// The class's name in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Class::Meteor => "meteor",
            Class::Satellite => "satellite",
            Class::Plane => "plane",
            Class::Other => "other",
        }
    }

    /// The class named `name`.
    pub fn from_name(name: &str) -> Option<Class> {
        [Class::Meteor, Class::Satellite, Class::Plane, Class::Other]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// One frame of an event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventFrame {
    /// The frame's journal seq.
    pub seq: u64,
    /// Its exposure start, UTC ns.
    pub start_utc_ns: i64,
    pub exposure_us: u32,
    /// Where the streak starts and ends in this frame (in the direction of travel when
    /// the event spans frames), full-resolution pixels.
    pub from: (f32, f32),
    pub to: (f32, f32),
    pub length: f32,
    pub width: f32,
    /// Brightest and summed excess over the sky per colour (R, G, B), sample units.
    pub peak: [f32; 3],
    pub integrated: [f32; 3],
    /// Luminance excess along the streak.
    pub profile: Vec<f32>,
}

/// Something that crossed the field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    pub class: Class,
    /// 0..1: how sure the rules that decided the class are.
    pub confidence: f32,
    pub frames: Vec<EventFrame>,
    /// Length over all frames, full-resolution pixels.
    pub length: f32,
    /// Widest streak.
    pub width: f32,
    /// Direction of travel (the first frame's streak when there is one), degrees,
    /// image coordinates (0 = +x, 90 = +y, down).
    pub direction_deg: f32,
    /// Pixels per second: length over the exposure time it spans. For an event seen in
    /// one exposure this is a lower bound (a meteor lasts well under the exposure).
    pub speed_px_s: f32,
    /// Brightest excess per colour over all frames, and the sum.
    pub peak: [f32; 3],
    pub integrated: [f32; 3],
    /// The light curve along the whole track, [`PROFILE_BINS`](crate::segments::PROFILE_BINS) samples
    /// per frame.
    pub profile: Vec<f32>,
}

impl Event {
    /// The event of `frames` (in order).
    pub fn of(class: Class, confidence: f32, frames: Vec<EventFrame>) -> Event {
        let length = frames.iter().map(|f| f.length).sum();
        let width = frames.iter().map(|f| f.width).fold(0.0, f32::max);
        let exposure_s: f32 = frames.iter().map(|f| f.exposure_us as f32 / 1e6).sum();
        let (from, to) = (frames[0].from, frames[frames.len() - 1].to);
        let direction_deg = ((to.1 - from.1).atan2(to.0 - from.0).to_degrees() + 360.0) % 360.0;
        let mut peak = [0f32; 3];
        let mut integrated = [0f32; 3];
        for f in &frames {
            for k in 0..3 {
                peak[k] = peak[k].max(f.peak[k]);
                integrated[k] += f.integrated[k];
            }
        }
        Event {
            class,
            confidence,
            length,
            width,
            direction_deg,
            speed_px_s: length / exposure_s.max(1e-6),
            peak,
            integrated,
            profile: frames
                .iter()
                .flat_map(|f| f.profile.iter().copied())
                .collect(),
            frames,
        }
    }

    /// The first frame's seq.
    pub fn first_seq(&self) -> u64 {
        self.frames[0].seq
    }

    /// One line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The CSV header line.
    pub fn csv_header() -> &'static str {
        "class,confidence,first_seq,last_seq,frames,start_utc_ns,from_x,from_y,to_x,to_y,length,width,direction_deg,speed_px_s,peak_r,peak_g,peak_b,sum_r,sum_g,sum_b"
    }

    /// This event as one CSV line (the per-frame details are in the JSON).
    pub fn csv_row(&self) -> String {
        let (first, last) = (&self.frames[0], &self.frames[self.frames.len() - 1]);
        format!(
            "{},{:.2},{},{},{},{},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.0},{:.0},{:.0}",
            self.class.name(),
            self.confidence,
            first.seq,
            last.seq,
            self.frames.len(),
            first.start_utc_ns,
            first.from.0,
            first.from.1,
            last.to.0,
            last.to.1,
            self.length,
            self.width,
            self.direction_deg,
            self.speed_px_s,
            self.peak[0],
            self.peak[1],
            self.peak[2],
            self.integrated[0],
            self.integrated[1],
            self.integrated[2],
        )
    }
}
