//! Dropped-frame counting from a source's frame sequence numbers (a V4L2 driver's
//! `sequence`, a simulated sensor's counter): [`SequenceTracker`] handles u32
//! wrap-around, duplicates, and counters that restart (driver reset, reopen).

/// What one driver sequence number means relative to the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqEvent {
    /// The first frame since the tracker started or was reset.
    First,
    /// The next frame, after `dropped` frames the driver counted but did not deliver.
    Next { dropped: u32 },
    /// The same number as the previous frame (a driver bug); nothing was dropped.
    Duplicate,
    /// The number went backwards: the driver's counter restarted; drops are unknown.
    Restarted,
}

/// Counts dropped frames from successive driver sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct SequenceTracker {
    last: Option<u32>,
    /// Frames dropped in total since the tracker was created.
    pub dropped_total: u64,
}

impl SequenceTracker {
    /// Gaps larger than this are taken as a restarted counter, not as drops: at 1000 fps
    /// it would take 25 days to drop that many frames.
    const MAX_GAP: u32 = 1 << 31;

    pub fn new() -> SequenceTracker {
        SequenceTracker::default()
    }

    /// Forgets the previous number: call after reopening a device (its counter restarts).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Accounts for the frame with driver sequence number `seq`.
    pub fn observe(&mut self, seq: u32) -> SeqEvent {
        let Some(last) = self.last.replace(seq) else {
            return SeqEvent::First;
        };
        // Wrapping difference: 0xffff_ffff -> 0 is one step forward.
        match seq.wrapping_sub(last) {
            0 => SeqEvent::Duplicate,
            d if d < Self::MAX_GAP => {
                self.dropped_total += u64::from(d - 1);
                SeqEvent::Next { dropped: d - 1 }
            }
            _ => SeqEvent::Restarted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_wraps_duplicates_and_restarts() {
        let mut t = SequenceTracker::new();
        assert_eq!(t.observe(10), SeqEvent::First);
        assert_eq!(t.observe(11), SeqEvent::Next { dropped: 0 });
        assert_eq!(t.observe(14), SeqEvent::Next { dropped: 2 });
        assert_eq!(t.observe(14), SeqEvent::Duplicate);
        assert_eq!(t.dropped_total, 2);
        // Wrap-around: u32::MAX - 1, u32::MAX, then 1 (0 was dropped).
        let mut t = SequenceTracker::new();
        t.observe(u32::MAX - 1);
        assert_eq!(t.observe(u32::MAX), SeqEvent::Next { dropped: 0 });
        assert_eq!(t.observe(1), SeqEvent::Next { dropped: 1 });
        assert_eq!(t.dropped_total, 1);
        // The counter restarts without a reopen: unknown drops, counted as none.
        assert_eq!(t.observe(0), SeqEvent::Restarted);
        assert_eq!(t.observe(1), SeqEvent::Next { dropped: 0 });
        // After a reopen the tracker is reset: the new counter's first frame is no gap.
        t.observe(500);
        t.reset();
        assert_eq!(t.observe(0), SeqEvent::First);
        assert_eq!(t.observe(1), SeqEvent::Next { dropped: 0 });
        assert_eq!(t.dropped_total, 1 + 498);
    }
}
