//! nightcap: the command line and capture orchestration over the workspace's libraries.
//!
//! - [`capture`]: frames from a source into the journal without keeping the camera
//!   waiting (threads, buffer pool, back-pressure, live stacks beside it).
//! - [`cli`]: parsing, typed configs, calls into the libraries, reporting.
//!
//! The libraries: `nightcap-frame` (frames, samples, time), `nightcap-journal` (the
//! journal), `nightcap-source` (simulated sky, image folders, V4L2 cameras) and
//! `nightcap-stack` (stacks and every other product). See ARCHITECTURE.md.
pub mod capture;
pub mod cli;
pub mod status;
