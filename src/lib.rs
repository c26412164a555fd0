//! nightcap: night-sky long-exposure capture into a raw frame journal, and stacking.
pub mod capture;
pub mod cli;
pub mod frame;
pub mod journal;
pub mod output;
pub mod pixels;
pub mod source;
pub mod stack;
pub mod time;

use v4l as _;
