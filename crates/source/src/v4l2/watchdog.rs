//! The capture watchdog's decisions: what to do when a camera stops delivering frames.
//!
//! The kernel has no frame timeout, so a stalled sensor, a wedged CSI-2 receiver or a
//! failed dequeue would leave capture waiting all night. [`V4l2Source`](super::V4l2Source)
//! waits at most about two frame periods for each frame; each failure (no frame in time,
//! a failed `STREAMON`/`QBUF`/`DQBUF`, the queue in error) is told to a [`Watchdog`],
//! which answers with an [`Action`]:
//! - the first [`Watchdog::STREAM_RESTARTS`] failures in a row restart the stream
//!   (`STREAMOFF`, controls written again, buffers requested again, `STREAMON`);
//! - after that the device is closed and opened again (with the source's backoff between
//!   attempts), as long as it ever delivered a frame;
//! - a device that never delivered a frame gives up after the stream restarts: its setup
//!   is wrong, and trying all night would only hide that;
//! - a device that disappeared is reopened at once (the backoff paces the attempts).
//!
//! A frame resets the count. Every restart is counted, so the caller can say "restart 3".

/// What went wrong while waiting for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No frame within the timeout.
    NoFrame,
    /// A streaming call failed (the queue in error, a rejected buffer, `STREAMON`).
    Stream,
    /// The device disappeared (unplugged, driver unbound).
    Gone,
}

/// What the source does about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop the stream, write the controls again and start it again.
    RestartStream,
    /// Close the device and open it again.
    Reopen,
    /// Stop trying: the device never delivered a frame.
    GiveUp,
}

/// Failures since the last frame, and restarts since the source opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watchdog {
    failures: u32,
    delivered: bool,
    restarts: u64,
}

impl Watchdog {
    /// Stream restarts in a row before the device is reopened.
    pub const STREAM_RESTARTS: u32 = 2;

    /// A watchdog for a device that has not delivered a frame yet.
    pub fn new() -> Watchdog {
        Watchdog::default()
    }

    /// A frame arrived: the device works, the count of failures starts again.
    pub fn frame(&mut self) {
        self.failures = 0;
        self.delivered = true;
    }

    /// A failure happened: what to do about it. Restarts and reopens are counted.
    pub fn failed(&mut self, failure: Failure) -> Action {
        self.failures = self.failures.saturating_add(1);
        let action = match failure {
            Failure::Gone => Action::Reopen,
            Failure::NoFrame | Failure::Stream if self.failures <= Self::STREAM_RESTARTS => {
                Action::RestartStream
            }
            Failure::NoFrame | Failure::Stream if self.delivered => Action::Reopen,
            Failure::NoFrame | Failure::Stream => Action::GiveUp,
        };
        if action != Action::GiveUp {
            self.restarts += 1;
        }
        action
    }

    /// Failures since the last frame.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether the device ever delivered a frame.
    pub fn delivered(&self) -> bool {
        self.delivered
    }

    /// Restarts and reopens since the source opened.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_working_camera_that_stalls_is_restarted_then_reopened_until_it_delivers() {
        let mut w = Watchdog::new();
        w.frame();
        let actions: Vec<Action> = (0..5).map(|_| w.failed(Failure::NoFrame)).collect();
        assert_eq!(
            actions,
            [
                Action::RestartStream,
                Action::RestartStream,
                Action::Reopen,
                Action::Reopen,
                Action::Reopen
            ]
        );
        assert_eq!((w.failures(), w.restarts()), (5, 5));
        // A frame: the next stall starts with a stream restart again.
        w.frame();
        assert_eq!(w.failed(Failure::Stream), Action::RestartStream);
        assert_eq!(w.restarts(), 6);
    }

    #[test]
    fn a_camera_that_never_delivered_gives_up_after_the_stream_restarts() {
        let mut w = Watchdog::new();
        assert_eq!(w.failed(Failure::NoFrame), Action::RestartStream);
        assert_eq!(w.failed(Failure::Stream), Action::RestartStream);
        assert_eq!(w.failed(Failure::NoFrame), Action::GiveUp);
        assert_eq!(w.restarts(), 2, "giving up is not a restart");
        assert!(!w.delivered());
    }

    #[test]
    fn a_vanished_camera_is_always_reopened() {
        let mut w = Watchdog::new();
        assert_eq!(w.failed(Failure::Gone), Action::Reopen);
        w.frame();
        for _ in 0..10 {
            assert_eq!(w.failed(Failure::Gone), Action::Reopen);
        }
        assert_eq!(w.restarts(), 11);
    }
}
