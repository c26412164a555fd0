//! Frames stamped before the system clock was set, re-timed by the camera's clock.
//!
//! A Raspberry Pi has no real-time clock: until NTP sets the kernel's clock, frames carry
//! the time of the last shutdown (or 1970), and NTP then steps the clock. A camera capture
//! says in its first NOTE whether the clock was synchronised (`clock_synchronised=no`)
//! and writes `clock_synchronised=yes` once it is; every camera frame also keeps the
//! driver's monotonic timestamp, which no clock step moves. So such frames can be
//! re-timed: each gets its driver timestamp plus the offset between the two clocks
//! measured on a frame taken well after the clock was set.
//!
//! Promises:
//! - Only the frames of a capture that said `clock_synchronised=no`, up to
//!   [`SETTLE_FRAMES`] frames after its `clock_synchronised=yes`, are looked at; a frame
//!   moves only when the correction is at least [`MIN_SHIFT_NS`] (the two clocks' offset
//!   is sampled per frame, with microseconds of jitter) and it has a driver timestamp.
//! - A capture that ended before the clock was set, or whose frames have no driver
//!   timestamps, is not re-timed: `info` says its times may be wrong.
//! - Nothing on disk changes: [`super::Journal`] applies the new times when it hands out
//!   frames ([`super::FrameRef::time_ns`], the metadata of frames it reads).

/// The line of a capture's first NOTE when the clock was not synchronised.
pub const UNSYNCED: &str = "clock_synchronised=no";
/// The NOTE written once the clock is synchronised.
pub const SYNCED: &str = "clock_synchronised=yes";
/// The start of a capture's first NOTE (a new capture run).
pub const RUN_START: &str = "source=";
/// Smallest correction applied.
pub const MIN_SHIFT_NS: i64 = 50_000_000;
/// Frames after the `clock_synchronised=yes` NOTE that may still carry the old clock
/// (they were in the capture pipeline when the writer saw the clock set); the reference
/// frame is the last of them.
pub const SETTLE_FRAMES: u64 = 64;

/// What a clock-related NOTE says, with the seq of the frame after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockNote {
    /// A capture started with the clock synchronised (or not from the system clock).
    RunStart {
        /// The seq of the frame after the NOTE.
        seq: u64,
    },
    /// A capture started before the clock was synchronised.
    Unsynced {
        /// The seq of the frame after the NOTE.
        seq: u64,
    },
    /// The clock became synchronised.
    Synced {
        /// The seq of the frame after the NOTE.
        seq: u64,
    },
}

impl ClockNote {
    /// The clock NOTE `text` is, if any.
    pub fn parse(seq: u64, text: &str) -> Option<ClockNote> {
        if text.starts_with(RUN_START) {
            Some(if text.lines().any(|l| l == UNSYNCED) {
                ClockNote::Unsynced { seq }
            } else {
                ClockNote::RunStart { seq }
            })
        } else if text.lines().any(|l| l == SYNCED) {
            Some(ClockNote::Synced { seq })
        } else {
            None
        }
    }

    fn seq(self) -> u64 {
        match self {
            ClockNote::RunStart { seq }
            | ClockNote::Unsynced { seq }
            | ClockNote::Synced { seq } => seq,
        }
    }
}

/// Frames to re-time: seqs `first..=last` of a capture that started unsynchronised and
/// was synchronised at `synced` (the seq after the NOTE that said so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The capture's first frame.
    pub first: u64,
    /// The first frame after the `clock_synchronised=yes` NOTE.
    pub synced: u64,
    /// The last frame to look at: up to [`SETTLE_FRAMES`] after `synced`, within the run.
    pub last: u64,
}

/// The windows of frames to look at, from the clock NOTEs in journal order. `end` is one
/// past the journal's last seq.
pub fn windows(notes: &[ClockNote], end: u64) -> Vec<Window> {
    let mut out = Vec::new();
    for (i, n) in notes.iter().enumerate() {
        let ClockNote::Unsynced { seq: first } = *n else {
            continue;
        };
        let rest = &notes[i + 1..];
        let run_end = rest
            .iter()
            .find(|m| !matches!(m, ClockNote::Synced { .. }))
            .map_or(end, |m| m.seq());
        let Some(synced) = rest
            .iter()
            .take_while(|m| matches!(m, ClockNote::Synced { .. }))
            .map(|m| m.seq())
            .next()
            .filter(|&s| s < run_end)
        else {
            continue;
        };
        let last = synced
            .saturating_add(SETTLE_FRAMES)
            .min(run_end.saturating_sub(1));
        if last >= first {
            out.push(Window {
                first,
                synced,
                last,
            });
        }
    }
    out
}

/// One frame's times as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTimes {
    /// The frame's seq.
    pub seq: u64,
    /// The recorded exposure start, UTC ns.
    pub time_ns: i64,
    /// The driver's timestamp, ns (0: none).
    pub driver_ts_ns: u64,
}

/// The new times of the frames of one window (`frames`: those of its seqs that could be
/// read, in seq order): each frame's driver timestamp plus the clocks' offset on the last
/// frame that has one, for frames moved by at least [`MIN_SHIFT_NS`].
pub fn shifts(frames: &[FrameTimes]) -> Vec<(u64, i64)> {
    let Some(reference) = frames.iter().rev().find(|f| f.driver_ts_ns > 0) else {
        return Vec::new();
    };
    let offset = i128::from(reference.time_ns) - i128::from(reference.driver_ts_ns);
    frames
        .iter()
        .filter(|f| f.driver_ts_ns > 0)
        .filter_map(|f| {
            let new = i128::from(f.driver_ts_ns) + offset;
            let new = i64::try_from(new).ok()?;
            (new.abs_diff(f.time_ns) >= MIN_SHIFT_NS.unsigned_abs()).then_some((f.seq, new))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn notes_are_recognised() {
        let start = "source=V4L2 /dev/video0\nformat=x\nclock_synchronised=no";
        assert_eq!(
            ClockNote::parse(3, start),
            Some(ClockNote::Unsynced { seq: 3 })
        );
        assert_eq!(
            ClockNote::parse(3, "source=sim\nformat=x"),
            Some(ClockNote::RunStart { seq: 3 })
        );
        assert_eq!(
            ClockNote::parse(9, SYNCED),
            Some(ClockNote::Synced { seq: 9 })
        );
        assert_eq!(ClockNote::parse(9, "segment_header=00"), None);
        assert_eq!(ClockNote::parse(9, "a clock_synchronised=no"), None);
    }

    #[test]
    fn a_window_runs_from_the_unsynced_start_past_the_sync_note() {
        use ClockNote::*;
        // Run 1 unsynchronised, set at seq 40; run 2 synchronised; run 3 never set.
        let notes = [
            Unsynced { seq: 0 },
            Synced { seq: 40 },
            RunStart { seq: 70 },
            Unsynced { seq: 200 },
        ];
        assert_eq!(
            windows(&notes, 300),
            [Window {
                first: 0,
                synced: 40,
                last: 69
            }]
        );
        // A long run: the window stops SETTLE_FRAMES after the sync.
        assert_eq!(
            windows(&[Unsynced { seq: 5 }, Synced { seq: 10 }], 10_000),
            [Window {
                first: 5,
                synced: 10,
                last: 10 + SETTLE_FRAMES
            }]
        );
        assert!(windows(&[Unsynced { seq: 5 }], 10_000).is_empty());
        assert!(windows(&[RunStart { seq: 0 }, Synced { seq: 4 }], 10).is_empty());
    }

    #[test]
    fn frames_before_the_step_move_by_the_step_and_the_rest_stay() {
        // Stamped 1970 + boot time until NTP stepped the clock by 56 years between frames
        // 2 and 3.
        let step = 56 * 8766 * HOUR;
        let frames: Vec<FrameTimes> = (0..8)
            .map(|i| {
                let ts = 100_000_000_000 + i * 5_000_000_000;
                let offset = if i < 3 { 0 } else { step };
                FrameTimes {
                    seq: i,
                    time_ns: ts as i64 + offset + 1234, // jitter-free offset + exposure point
                    driver_ts_ns: ts,
                }
            })
            .collect();
        let moved = shifts(&frames);
        assert_eq!(moved.iter().map(|m| m.0).collect::<Vec<_>>(), [0, 1, 2]);
        for (seq, t) in moved {
            assert_eq!(t, frames[seq as usize].time_ns + step);
        }
        // Microseconds of jitter in the offset move nothing.
        let mut jittery = frames.clone();
        for f in jittery.iter_mut().skip(3) {
            f.time_ns += 7_000;
        }
        assert_eq!(shifts(&jittery).len(), 3);
        // Without driver timestamps nothing can be re-timed.
        let blind: Vec<FrameTimes> = frames
            .iter()
            .map(|f| FrameTimes {
                driver_ts_ns: 0,
                ..*f
            })
            .collect();
        assert!(shifts(&blind).is_empty());
        assert!(shifts(&[]).is_empty());
    }
}
