//! nightcap: night-sky long-exposure capture into a raw frame journal, and stacking.
pub mod cli;
pub mod frame;
pub mod output;
pub mod pixels;
pub mod source;
pub mod stack;

use v4l as _;
