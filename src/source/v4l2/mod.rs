//! V4L2 cameras.
pub mod controls;
pub mod devices;
pub mod formats;
pub mod timing;
