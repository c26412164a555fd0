//! Stacking windows: which frames go into which output, computed from frame timestamps at
//! stack time (so a night can be reprocessed with any window length).
//!
//! Promises (pure functions, no I/O):
//! - a frame belongs to the window containing its *exposure start*; windows are half-open
//!   `[start, end)`, so a frame exactly on an edge goes to the later window;
//! - [`Align::Clock`] windows start at multiples of the window length since the Unix epoch
//!   (60 s windows start at :00 of every minute, like the original program's outputs);
//!   [`Align::First`] windows start at the first frame (after `--from`);
//! - `every = None` is one window spanning the whole selected range;
//! - windows without frames are not returned; windows come back in time order, each with
//!   the indices of its frames in the order given;
//! - a window is **partial** when its frames do not cover it: the first frame starts more
//!   than 1.5 frame periods after the window start, the last frame starts more than 1.5
//!   periods before its end, or two consecutive frames are more than 1.5 periods apart
//!   (dropped frames, a pause). The frame period is the median interval between
//!   consecutive frame starts over the whole selection (the capture cadence), so a window
//!   holding every frame the camera could deliver is never partial, whatever the cadence.

/// Where window boundaries fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// At multiples of the window length since the Unix epoch.
    #[default]
    Clock,
    /// At the first frame.
    First,
}

/// How to cut a night into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window length in ns; `None` (or `Some(0)`) is one window for the whole range.
    pub every_ns: Option<i64>,
    pub align: Align,
    /// Only frames starting at or after this UTC ns.
    pub from_ns: Option<i64>,
    /// Only frames starting before this UTC ns.
    pub to_ns: Option<i64>,
}

impl Default for WindowSpec {
    /// 60 s windows on the clock, whole journal.
    fn default() -> WindowSpec {
        WindowSpec {
            every_ns: Some(60_000_000_000),
            align: Align::Clock,
            from_ns: None,
            to_ns: None,
        }
    }
}

/// When a frame was exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTime {
    pub start_ns: i64,
    pub exposure_us: u32,
}

impl FrameTime {
    /// End of the exposure.
    pub fn end_ns(&self) -> i64 {
        self.start_ns
            .saturating_add(i64::from(self.exposure_us) * 1000)
    }
}

/// One stacking window and the frames in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Window start, UTC ns (names the output file).
    pub start_ns: i64,
    /// Window end (exclusive), UTC ns.
    pub end_ns: i64,
    /// Indices into the slice given to [`plan`], in that slice's order.
    pub frames: Vec<usize>,
    /// Frames do not cover the whole window (see the module docs).
    pub partial: bool,
    /// Frames left out by rejection (set by the caller; [`plan`] leaves it 0).
    pub rejected: u32,
}

/// Gaps longer than this many frame periods make a window partial.
const GAP_TOLERANCE: f64 = 1.5;

/// Cuts `frames` into windows (see the module docs for the rules).
pub fn plan(frames: &[FrameTime], spec: &WindowSpec) -> Vec<Window> {
    let selected: Vec<usize> = (0..frames.len())
        .filter(|&i| {
            let t = frames[i].start_ns;
            spec.from_ns.is_none_or(|f| t >= f) && spec.to_ns.is_none_or(|e| t < e)
        })
        .collect();
    let Some(first) = selected.iter().map(|&i| frames[i].start_ns).min() else {
        return Vec::new();
    };
    let period = frame_period(frames, &selected);
    let every = spec.every_ns.filter(|&e| e > 0);
    let mut windows: Vec<Window> = match every {
        None => {
            let last_end = selected.iter().map(|&i| frames[i].end_ns()).max();
            let start = spec.from_ns.unwrap_or(first);
            let end = spec
                .to_ns
                .unwrap_or_else(|| last_end.unwrap_or(first).max(first + 1));
            vec![Window {
                start_ns: start,
                end_ns: end.max(start + 1),
                frames: selected,
                partial: false,
                rejected: 0,
            }]
        }
        Some(every) => {
            let origin = match spec.align {
                Align::Clock => 0,
                Align::First => first,
            };
            let mut by_index: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
            for &i in &selected {
                let k = (frames[i].start_ns - origin).div_euclid(every);
                by_index.entry(k).or_default().push(i);
            }
            by_index
                .into_iter()
                .map(|(k, idx)| {
                    let start = origin + k * every;
                    Window {
                        start_ns: start,
                        end_ns: start + every,
                        frames: idx,
                        partial: false,
                        rejected: 0,
                    }
                })
                .collect()
        }
    };
    for w in &mut windows {
        w.partial = is_partial(w, frames, period, every.is_some());
    }
    windows
}

/// The median interval between consecutive frame starts (the capture cadence), or the
/// median exposure when there is only one frame; `None` when nothing is known.
pub fn frame_period(frames: &[FrameTime], selected: &[usize]) -> Option<i64> {
    let mut starts: Vec<i64> = selected.iter().map(|&i| frames[i].start_ns).collect();
    starts.sort_unstable();
    let mut gaps: Vec<i64> = starts
        .windows(2)
        .map(|p| p[1] - p[0])
        .filter(|&d| d > 0)
        .collect();
    if gaps.is_empty() {
        gaps = selected
            .iter()
            .map(|&i| i64::from(frames[i].exposure_us) * 1000)
            .filter(|&d| d > 0)
            .collect();
    }
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

fn is_partial(w: &Window, frames: &[FrameTime], period: Option<i64>, edges: bool) -> bool {
    let Some(period) = period else {
        return false;
    };
    let limit = (period as f64 * GAP_TOLERANCE) as i64;
    let mut starts: Vec<i64> = w.frames.iter().map(|&i| frames[i].start_ns).collect();
    starts.sort_unstable();
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return true;
    };
    let internal_gap = starts.windows(2).any(|p| p[1] - p[0] > limit);
    let edge_gap = edges && (first - w.start_ns > limit || w.end_ns - last > limit);
    internal_gap || edge_gap
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    /// 2026-11-24 02:00:00 UTC, a whole minute.
    const T0: i64 = 1_795_485_600 * S;

    fn every5(n: usize, offset_s: i64) -> Vec<FrameTime> {
        (0..n)
            .map(|i| FrameTime {
                start_ns: T0 + (offset_s + 5 * i as i64) * S,
                exposure_us: 5_000_000,
            })
            .collect()
    }

    fn spec(every_s: i64, align: Align) -> WindowSpec {
        WindowSpec {
            every_ns: Some(every_s * S),
            align,
            from_ns: None,
            to_ns: None,
        }
    }

    #[test]
    fn clock_windows_start_on_the_minute() {
        let f = every5(24, 0);
        let w = plan(&f, &spec(60, Align::Clock));
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].start_ns, T0);
        assert_eq!(w[0].end_ns, T0 + 60 * S);
        assert_eq!(w[0].frames, (0..12).collect::<Vec<_>>());
        assert_eq!(w[1].frames, (12..24).collect::<Vec<_>>());
        assert!(!w[0].partial && !w[1].partial);
    }

    #[test]
    fn frames_on_an_edge_go_to_the_later_window() {
        let f = every5(13, 0); // frame 12 starts exactly at T0 + 60 s
        let w = plan(&f, &spec(60, Align::Clock));
        assert_eq!(w[1].frames, vec![12]);
        assert_eq!(w[1].start_ns, T0 + 60 * S);
    }

    #[test]
    fn first_and_last_windows_of_a_night_are_partial() {
        // Capture starts at :30 and stops at 2:10 (frames :30 .. 2:05).
        let f = every5(20, 30);
        let w = plan(&f, &spec(60, Align::Clock));
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].frames.len(), 6);
        assert!(w[0].partial, "starts 30 s into the window");
        assert!(!w[1].partial);
        assert!(w[2].partial, "ends 50 s early");
    }

    #[test]
    fn align_first_starts_at_the_first_frame() {
        let f = every5(20, 30);
        let w = plan(&f, &spec(60, Align::First));
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].start_ns, T0 + 30 * S);
        assert!(!w[0].partial);
        assert_eq!(w[1].frames.len(), 8);
        assert!(w[1].partial);
    }

    #[test]
    fn empty_windows_are_skipped_and_gaps_make_windows_partial() {
        let mut f = every5(12, 0);
        // 3 minutes later, another full minute; then drop one frame in the middle of it.
        f.extend(every5(12, 180));
        f.remove(18);
        let w = plan(&f, &spec(60, Align::Clock));
        assert_eq!(w.len(), 2, "the two empty minutes produce nothing");
        assert_eq!(w[1].start_ns, T0 + 180 * S);
        assert!(!w[0].partial);
        assert!(w[1].partial, "a dropped frame leaves a 10 s hole");
    }

    #[test]
    fn odd_cadence_is_not_partial() {
        let f: Vec<FrameTime> = (0..40)
            .map(|i| FrameTime {
                start_ns: T0 + i * 7 * S,
                exposure_us: 7_000_000,
            })
            .collect();
        let w = plan(&f, &spec(60, Align::Clock));
        assert!(w[1..w.len() - 1].iter().all(|w| !w.partial));
    }

    #[test]
    fn from_to_and_whole_range() {
        let f = every5(24, 0);
        let mut s = spec(0, Align::Clock);
        s.every_ns = None;
        s.from_ns = Some(T0 + 10 * S);
        s.to_ns = Some(T0 + 100 * S);
        let w = plan(&f, &s);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].frames, (2..20).collect::<Vec<_>>());
        assert_eq!(w[0].start_ns, T0 + 10 * S);
        assert_eq!(w[0].end_ns, T0 + 100 * S);
        s.every_ns = Some(0);
        assert_eq!(plan(&f, &s), w);
        assert!(plan(&[], &s).is_empty());
    }

    #[test]
    fn times_before_the_epoch_use_floor_division() {
        let f = vec![FrameTime {
            start_ns: -S,
            exposure_us: 0,
        }];
        let w = plan(&f, &spec(60, Align::Clock));
        assert_eq!(w[0].start_ns, -60 * S);
    }
}
