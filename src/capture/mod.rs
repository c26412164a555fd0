//! The capture stage: frames from a [`nightcap_source::FrameSource`] into the journal,
//! without ever keeping the camera waiting.
//!
//! - [`pipeline`]: threads, buffer pool, ordered writing, shutdown.
//! - [`policy`]: back-pressure (compression level ladder). Driver sequence gaps are
//!   counted with [`nightcap_source::sequence::SequenceTracker`].
pub mod pipeline;
pub mod policy;

pub use pipeline::{run, CaptureConfig, CaptureError, CaptureSummary, Counters, StopReason};
