//! Frame timing: driver timestamps to UTC exposure starts, and dropped-frame counting.
//!
//! V4L2 drivers stamp buffers with `CLOCK_MONOTONIC` (flag `TIMESTAMP_MONOTONIC`), which
//! does not jump with NTP steps but has no relation to the date. [`ClockOffset`] samples
//! `CLOCK_REALTIME − CLOCK_MONOTONIC`. Both clocks are slewed alike by NTP, so the offset
//! only changes when the realtime clock is stepped; the capture source samples it as each
//! frame is dequeued, so a step (a Pi without RTC syncing after boot) is followed at once.
//!
//! Where in the exposure the stamp falls: the Pi raw receivers (unicam, rp1-cfe) stamp at
//! frame start, when the first line is read out, i.e. when line 0's exposure *ends*; UVC
//! and most other drivers stamp at end of frame (`TSTAMP_SRC_EOF`), which is also after
//! the exposure (by up to one readout time). Both are treated as "end of exposure", so
//! exposure start = stamp − exposure time. Only a driver that sets `TSTAMP_SRC_SOE`
//! stamps the start of exposure itself. See [`StampPoint`].
//!
//! Dropped frames are counted from the driver's sequence numbers by
//! [`crate::sequence::SequenceTracker`].

use nightcap_frame::UtcNanos;

/// `CLOCK_REALTIME − CLOCK_MONOTONIC`, nanoseconds, sampled at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    realtime_minus_monotonic_ns: i128,
}

fn timespec_ns(ts: rustix::time::Timespec) -> i128 {
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl ClockOffset {
    /// Samples the offset now. Realtime is read on both sides of the monotonic read and
    /// averaged, so a preemption between the reads costs at most half its length.
    pub fn sample() -> ClockOffset {
        use rustix::time::{clock_gettime, ClockId};
        let r0 = timespec_ns(clock_gettime(ClockId::Realtime));
        let m = timespec_ns(clock_gettime(ClockId::Monotonic));
        let r1 = timespec_ns(clock_gettime(ClockId::Realtime));
        ClockOffset::from_pair(m, (r0 + r1) / 2)
    }

    /// The offset from one simultaneous (monotonic, realtime) pair, nanoseconds.
    pub fn from_pair(monotonic_ns: i128, realtime_ns: i128) -> ClockOffset {
        ClockOffset {
            realtime_minus_monotonic_ns: realtime_ns - monotonic_ns,
        }
    }

    /// The UTC time of a monotonic-clock instant.
    pub fn to_utc_ns(&self, monotonic_ns: u64) -> UtcNanos {
        saturate(i128::from(monotonic_ns) + self.realtime_minus_monotonic_ns)
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A driver timestamp (`struct timeval`) in nanoseconds; `None` if it is negative or
/// malformed (usec outside 0..1e6), which drivers do not produce for real frames.
pub fn timeval_ns(sec: i64, usec: i64) -> Option<u64> {
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return None;
    }
    u64::try_from(sec)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(usec as u64 * 1000)
}

/// Where in the exposure a driver's timestamp falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampPoint {
    /// At (or just after) the end of the exposure: frame start of readout (Pi raw
    /// receivers) or end of frame (`TSTAMP_SRC_EOF`, the V4L2 default).
    EndOfExposure,
    /// At the start of exposure (`TSTAMP_SRC_SOE`).
    StartOfExposure,
}

impl StampPoint {
    /// The stamp point a buffer's V4L2 flags declare (`V4L2_BUF_FLAG_TSTAMP_SRC_*`).
    pub fn from_buffer_flags(flags: u32) -> StampPoint {
        const TSTAMP_SRC_MASK: u32 = 0x0007_0000;
        const TSTAMP_SRC_SOE: u32 = 0x0001_0000;
        if flags & TSTAMP_SRC_MASK == TSTAMP_SRC_SOE {
            StampPoint::StartOfExposure
        } else {
            StampPoint::EndOfExposure
        }
    }
}

/// Whether a buffer's V4L2 flags say its timestamp is from `CLOCK_MONOTONIC`.
pub fn is_monotonic_stamp(flags: u32) -> bool {
    const TIMESTAMP_MASK: u32 = 0x0000_e000;
    const TIMESTAMP_MONOTONIC: u32 = 0x0000_2000;
    flags & TIMESTAMP_MASK == TIMESTAMP_MONOTONIC
}

/// UTC start of the exposure of a frame stamped `stamp_mono_ns` by the driver.
pub fn exposure_start_utc(
    offset: &ClockOffset,
    stamp_mono_ns: u64,
    exposure_us: u32,
    point: StampPoint,
) -> UtcNanos {
    let stamp = offset.to_utc_ns(stamp_mono_ns);
    match point {
        StampPoint::StartOfExposure => stamp,
        StampPoint::EndOfExposure => stamp.saturating_sub(i64::from(exposure_us) * 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_map_to_utc_exposure_start() {
        // Monotonic 1000.5 s corresponds to 2020-04-28T01:30:00Z = 1588037400 s.
        let offset = ClockOffset::from_pair(1_000_500_000_000, 1_588_037_400_000_000_000);
        let stamp = timeval_ns(1005, 500_000).unwrap(); // 5 s later
        assert_eq!(offset.to_utc_ns(stamp), 1_588_037_405_000_000_000);
        assert_eq!(
            exposure_start_utc(&offset, stamp, 5_000_000, StampPoint::EndOfExposure),
            1_588_037_400_000_000_000
        );
        assert_eq!(
            exposure_start_utc(&offset, stamp, 5_000_000, StampPoint::StartOfExposure),
            1_588_037_405_000_000_000
        );
    }

    #[test]
    fn timeval_validation() {
        assert_eq!(timeval_ns(0, 0), Some(0));
        assert_eq!(timeval_ns(2, 999_999), Some(2_999_999_000));
        assert_eq!(timeval_ns(-1, 0), None);
        assert_eq!(timeval_ns(1, 1_000_000), None);
        assert_eq!(timeval_ns(i64::MAX, 0), None);
    }

    #[test]
    fn sampled_offset_tracks_the_system_clock() {
        let offset = ClockOffset::sample();
        let now_mono = timespec_ns(rustix::time::clock_gettime(
            rustix::time::ClockId::Monotonic,
        ));
        let utc = offset.to_utc_ns(now_mono as u64);
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert!((utc - sys).abs() < 50_000_000, "{} ns apart", utc - sys);
    }

    #[test]
    fn buffer_flags() {
        assert_eq!(
            StampPoint::from_buffer_flags(0x0001_2000),
            StampPoint::StartOfExposure
        );
        assert_eq!(
            StampPoint::from_buffer_flags(0x0000_2001),
            StampPoint::EndOfExposure
        );
        assert!(is_monotonic_stamp(0x0000_2040));
        assert!(
            !is_monotonic_stamp(0x0000_4000),
            "TIMESTAMP_COPY is not monotonic"
        );
        assert!(!is_monotonic_stamp(0));
    }
}
