//! nightcap-source: frame sources, where frames come from.
//!
//! A [`FrameSource`] hands the capture pipeline one frame at a time into a buffer the
//! pipeline owns (so buffers come from a pool and the source never allocates per frame).
//! Implementations: the simulated sky ([`sim`]), V4L2 cameras (`v4l2`, the default
//! feature `v4l2`) and folders of images ([`images`]). [`sequence`] counts the frames a
//! source dropped.
//! Errors keep "try again" (timeouts, error-flagged buffers) apart from "the device is
//! gone" and "the source has ended", so the pipeline can apply its policy.

pub mod images;
pub mod sequence;
pub mod sim;
#[cfg(feature = "v4l2")]
pub mod v4l2;

use nightcap_frame::{FrameMeta, PixelFormat};

/// A stream of frames of one [`PixelFormat`].
pub trait FrameSource: Send {
    /// The format of every frame this source delivers.
    fn format(&self) -> PixelFormat;

    /// Blocks until the next frame, copies its bytes into `buf` (resizing it) and returns
    /// its metadata (`seq` left 0: the journal assigns it).
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError>;

    /// One line naming the source for logs and journal notes.
    fn describe(&self) -> String;

    /// Whether frames arrive in real time (a camera, a paced simulation). A live source
    /// is never kept waiting: when the pipeline is full its frames are dropped (and
    /// recorded as a gap). A source that is not live (a folder of images, a simulation
    /// as fast as possible) is simply read more slowly, and nothing is dropped.
    ///
    /// No default: a source that waits for the pipeline but claims to be live loses
    /// frames (an image import once did), so every source states which it is.
    fn is_live(&self) -> bool;

    /// Whether frame times come from this machine's clock (a camera's timestamps turned
    /// into UTC), so a clock not yet set by NTP makes them wrong. Simulated and imported
    /// frames carry their own times.
    fn stamps_from_system_clock(&self) -> bool {
        false
    }

    /// Gives the source the capture's stop flag, so a source that sleeps between
    /// attempts (a camera being reopened) can stop sleeping when capture stops.
    fn watch_stop(&mut self, _stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {}
}

/// Why a source did not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No frame arrived within the timeout; the source may recover.
    #[error("no frame within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    /// The driver flagged the buffer as corrupt; the frame was discarded.
    #[error("the driver flagged frame {driver_seq} as corrupt")]
    CorruptBuffer { driver_seq: u32 },
    /// No frame came in time, or the stream failed, and the source's watchdog restarted
    /// the camera (`action`); frames may have been lost since the last one. `restart` counts
    /// the restarts since the source opened, 1 for the first.
    #[error("{cause}: {action} (restart {restart})")]
    Restarted {
        cause: String,
        /// Whether the cause was no frame in time (else a failed stream).
        timed_out: bool,
        action: Restart,
        restart: u64,
    },
    /// The device disappeared (unplugged, driver reset); reopening may help.
    #[error("camera {device} is gone: {reason}")]
    DeviceGone { device: String, reason: String },
    /// The source has no more frames (end of a folder, a simulated run's frame limit).
    #[error("the source has no more frames")]
    Ended,
    /// The device or input cannot be used as asked; retrying will not help.
    #[error("{0}")]
    Unsupported(String),
    #[error("I/O error reading {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a source's watchdog did to get frames again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Stopped and started the stream (controls written again).
    Stream,
    /// Closed the device, to open it again before the next frame.
    Reopen,
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Restart::Stream => "restarted the stream",
            Restart::Reopen => "closed the camera to open it again",
        })
    }
}

impl SourceError {
    /// Whether the pipeline should keep going after this error (after recording a gap).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::Timeout { .. }
                | SourceError::CorruptBuffer { .. }
                | SourceError::Restarted { .. }
                | SourceError::DeviceGone { .. }
        )
    }
}
