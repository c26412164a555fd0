//! V4L2 cameras.
pub mod controls;
pub mod formats;
