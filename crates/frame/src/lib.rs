//! nightcap-frame: what a frame is, how its bytes become samples, and how nightcap tells
//! time. The bottom of nightcap's workspace: every other crate speaks these types, and
//! this crate depends on none of them.
//!
//! - The frame model ([`PixelFormat`], [`Packing`], [`Cfa`], [`FrameMeta`], [`Frame`]):
//!   what a camera delivered and when.
//! - [`pixels`]: the one way from frame bytes to samples ([`pixels::Image16`]) and back.
//!   MJPEG frames decode only with the `mjpeg` feature.
//! - [`fits`]: the FITS subset nightcap writes and reads (stacks, darks, imports).
//! - [`mask`]: parts of frames to leave out of stacks (a plane's streak), and leaving
//!   them out.
//! - [`sun`]: the sun's position and the dusk-to-dawn window of a place.
//! - [`time`]: UTC timestamps as text, the local calendar, and the times and durations
//!   users type.
#![deny(missing_docs)]

pub mod fits;
pub mod mask;
mod model;
pub mod pixels;
pub mod sun;
pub mod time;

pub use model::*;
