//! Parts of frames to leave out of stacks and star trails: a plane's or a satellite's
//! streak, found by detection, as [`Capsule`]s (a line segment and a radius) per frame
//! ([`FrameMasks`]).
//!
//! Leaving a part out ([`FrameMasks::apply`]) replaces its pixels by the sky around it
//! (the median of a band just outside the capsule, per colour of the mosaic), so a
//! max-stack or a star-trail composite takes that frame's sky there and the other
//! frames' stars, and a mean or a sum is not pulled down by a hole. The image keeps its
//! layout (a mosaic stays a mosaic, each colour filled with its own colour).
//!
//! Promises: only pixels within a capsule's radius of its segment change; the work is
//! bounded by the capsules' areas (each clipped to the image), whatever their
//! coordinates.

use std::collections::BTreeMap;

use crate::pixels::Image16;
use crate::Cfa;

/// A line segment and the pixels within `radius` of it, in full-resolution pixel
/// coordinates (the centre of pixel (x, y) is (x + 0.5, y + 0.5)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capsule {
    /// One end.
    pub a: (f32, f32),
    /// The other end.
    pub b: (f32, f32),
    /// Pixels closer than this to the segment are inside.
    pub radius: f32,
}

impl Capsule {
    /// Distance of point `p` from the segment.
    pub fn distance(&self, p: (f32, f32)) -> f32 {
        let (dx, dy) = (self.b.0 - self.a.0, self.b.1 - self.a.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (((p.0 - self.a.0) * dx + (p.1 - self.a.1) * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (qx, qy) = (self.a.0 + t * dx, self.a.1 + t * dy);
        (p.0 - qx).hypot(p.1 - qy)
    }

    /// Calls `each(x, y)` for every pixel of a `width` x `height` image inside the
    /// capsule (the work is bounded by the capsule's box clipped to the image).
    pub fn for_each_pixel(&self, width: u32, height: u32, mut each: impl FnMut(usize, usize)) {
        if !self.is_sane() {
            return;
        }
        let Some((x0, x1, y0, y1)) = pixel_box(self, 0.0, width, height) else {
            return;
        };
        for y in y0..y1 {
            for x in x0..x1 {
                if self.distance((x as f32 + 0.5, y as f32 + 0.5)) <= self.radius {
                    each(x, y);
                }
            }
        }
    }

    /// Whether every coordinate is a finite number and the radius is not negative.
    fn is_sane(&self) -> bool {
        [self.a.0, self.a.1, self.b.0, self.b.1, self.radius]
            .iter()
            .all(|v| v.is_finite())
            && self.radius >= 0.0
    }
}

/// The capsules to leave out of each frame, by the frame's journal seq.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameMasks {
    by_seq: BTreeMap<u64, Vec<Capsule>>,
}

/// Width of the band outside a capsule whose median fills it, pixels.
const SKY_BAND: f32 = 6.0;
/// Samples of that band used per capsule and colour, at most.
const SKY_SAMPLES: usize = 4096;

impl FrameMasks {
    /// No masks.
    pub fn new() -> FrameMasks {
        FrameMasks::default()
    }

    /// Leaves `capsule` out of frame `seq` (a capsule with a coordinate that is not a
    /// number is ignored).
    pub fn add(&mut self, seq: u64, capsule: Capsule) {
        if capsule.is_sane() {
            self.by_seq.entry(seq).or_default().push(capsule);
        }
    }

    /// The capsules of frame `seq`.
    pub fn get(&self, seq: u64) -> &[Capsule] {
        self.by_seq.get(&seq).map_or(&[], Vec::as_slice)
    }

    /// Whether frame `seq` has anything to leave out.
    pub fn touches(&self, seq: u64) -> bool {
        self.by_seq.contains_key(&seq)
    }

    /// Frames with something to leave out.
    pub fn frames(&self) -> usize {
        self.by_seq.len()
    }

    /// Whether there is nothing to leave out of any frame.
    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// Replaces the pixels of frame `seq`'s capsules in `img` by the sky around each;
    /// returns how many pixels changed.
    pub fn apply(&self, seq: u64, img: &mut Image16) -> u64 {
        self.get(seq).iter().map(|c| fill_capsule(img, c)).sum()
    }
}

/// The colour phase of pixel (x, y): its place in the 2×2 mosaic tile, 0 without one.
fn phase(cfa: Cfa, x: usize, y: usize) -> usize {
    if cfa == Cfa::None {
        0
    } else {
        (y & 1) * 2 + (x & 1)
    }
}

/// The pixel box (x0..x1, y0..y1) within `margin` of the capsule, clipped to the image;
/// `None` when nothing of it is inside.
fn pixel_box(
    c: &Capsule,
    margin: f32,
    width: u32,
    height: u32,
) -> Option<(usize, usize, usize, usize)> {
    let r = c.radius + margin;
    let clip = |v: f32, hi: u32| (v.floor().max(0.0) as u64).min(u64::from(hi)) as usize;
    let x0 = clip(c.a.0.min(c.b.0) - r, width);
    let x1 = clip(c.a.0.max(c.b.0) + r + 1.0, width);
    let y0 = clip(c.a.1.min(c.b.1) - r, height);
    let y1 = clip(c.a.1.max(c.b.1) + r + 1.0, height);
    (x0 < x1 && y0 < y1).then_some((x0, x1, y0, y1))
}

fn fill_capsule(img: &mut Image16, c: &Capsule) -> u64 {
    let Some((x0, x1, y0, y1)) = pixel_box(c, SKY_BAND + 1.0, img.width, img.height) else {
        return 0;
    };
    let (w, chans) = (img.width as usize, usize::from(img.channels.max(1)));
    let centre = |x: usize, y: usize| (x as f32 + 0.5, y as f32 + 0.5);
    // The sky band is sampled evenly, at most SKY_SAMPLES pixels per colour or so.
    let band_area = (x1 - x0) * (y1 - y0);
    let stride = (band_area / SKY_SAMPLES).max(1);
    let mut sky: Vec<Vec<u16>> = vec![Vec::new(); 4 * chans];
    let mut n = 0usize;
    for y in y0..y1 {
        for x in x0..x1 {
            let d = c.distance(centre(x, y));
            if d > c.radius + 1.0 && d <= c.radius + 1.0 + SKY_BAND {
                n += 1;
                if !n.is_multiple_of(stride) {
                    continue;
                }
                let p = phase(img.cfa, x, y);
                for k in 0..chans {
                    sky[p * chans + k].push(img.data[(y * w + x) * chans + k]);
                }
            }
        }
    }
    let fill: Vec<Option<u16>> = sky
        .iter_mut()
        .map(|v| {
            if v.is_empty() {
                return None;
            }
            let mid = v.len() / 2;
            Some(*v.select_nth_unstable(mid).1)
        })
        .collect();
    let mut changed = 0;
    let cfa = img.cfa;
    let data = &mut img.data;
    c.for_each_pixel(img.width, img.height, |x, y| {
        let p = phase(cfa, x, y);
        for k in 0..chans {
            if let Some(v) = fill[p * chans + k] {
                data[(y * w + x) * chans + k] = v;
                changed += 1;
            }
        }
    });
    changed / chans as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sky(w: u32, h: u32, cfa: Cfa) -> Image16 {
        let mut img = Image16::zeroed(w, h, 1, cfa, 12);
        for y in 0..h as usize {
            for x in 0..w as usize {
                // Each mosaic colour its own sky level.
                img.data[y * w as usize + x] = 200 + 10 * phase(cfa, x, y) as u16;
            }
        }
        img
    }

    #[test]
    fn a_streak_is_replaced_by_the_sky_of_its_own_colours_and_nothing_else_changes() {
        let mut img = sky(64, 48, Cfa::Rggb);
        let clean = img.clone();
        // A bright diagonal streak from (10, 10) to (50, 30), 2 pixels wide.
        let streak = Capsule {
            a: (10.0, 10.0),
            b: (50.0, 30.0),
            radius: 1.0,
        };
        for y in 0..48 {
            for x in 0..64 {
                if streak.distance((x as f32 + 0.5, y as f32 + 0.5)) <= 1.0 {
                    img.data[y * 64 + x] = 4000;
                }
            }
        }
        // A star well away from it stays.
        img.data[40 * 64 + 5] = 3000;
        let mut masks = FrameMasks::new();
        masks.add(
            7,
            Capsule {
                radius: 3.0,
                ..streak
            },
        );
        assert_eq!(masks.apply(6, &mut img.clone()), 0, "another frame");
        let changed = masks.apply(7, &mut img);
        assert!(changed > 80, "{changed}");
        for y in 0..48 {
            for x in 0..64 {
                let i = y * 64 + x;
                if (x, y) == (5, 40) {
                    assert_eq!(img.data[i], 3000);
                } else {
                    assert_eq!(img.data[i], clean.data[i], "pixel ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn capsules_outside_or_absurd_change_nothing_and_never_panic() {
        let mut img = sky(32, 32, Cfa::None);
        let before = img.clone();
        let mut masks = FrameMasks::new();
        for c in [
            Capsule {
                a: (-500.0, -500.0),
                b: (-100.0, -90.0),
                radius: 5.0,
            },
            Capsule {
                a: (1e30, 0.0),
                b: (2e30, 5.0),
                radius: 1e30,
            },
            Capsule {
                a: (f32::NAN, 0.0),
                b: (1.0, 1.0),
                radius: 3.0,
            },
            Capsule {
                a: (1.0, 1.0),
                b: (2.0, 2.0),
                radius: -1.0,
            },
        ] {
            masks.add(1, c);
        }
        assert_eq!(
            masks.get(1).len(),
            2,
            "the NaN and negative ones are refused"
        );
        masks.apply(1, &mut img);
        assert_eq!(img, before);
    }

    #[test]
    fn rgb_images_are_filled_per_channel() {
        let mut img = Image16::zeroed(20, 20, 3, Cfa::None, 8);
        for px in img.data.chunks_mut(3) {
            px.copy_from_slice(&[10, 20, 30]);
        }
        img.data[(10 * 20 + 10) * 3..(10 * 20 + 11) * 3].copy_from_slice(&[255, 255, 255]);
        let mut masks = FrameMasks::new();
        masks.add(
            0,
            Capsule {
                a: (10.5, 10.5),
                b: (10.5, 10.5),
                radius: 2.0,
            },
        );
        assert!(masks.apply(0, &mut img) >= 9);
        assert!(img.data.chunks(3).all(|p| p == [10, 20, 30]));
    }
}
