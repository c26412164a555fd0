//! nightcap: night-sky long-exposure capture into a raw frame journal, and stacking.
pub mod cli;
pub mod frame;
pub mod journal;
pub mod pixels;
pub mod source;

use v4l as _;
