//! The status page of a headless capture box, and the health it reports.
//!
//! - [`board`]: the night's figures and the health verdict (CAPTURING, WAITING FOR
//!   NIGHT, STALLED, CAMERA ERROR, DISK LOW), one snapshot for every reader.
//! - [`watch`]: follows the journal and the folders beside it and feeds the board.
//! - [`server`]: HTTP: the page, `/api/status`, `/metrics`, images, downloads.
//! - [`health`]: the log line per minute and the alarms, for journald.
//!
//! `capture --status ADDR` runs all of them beside the capture; `nightcap serve` runs the
//! watcher and the server over a journal another process writes, or a copy.
pub mod board;
pub mod health;
pub mod server;
pub mod watch;
