//! Health beyond the page: a log line every so often with the night's figures, and an
//! alarm line (and, if asked, the end of the capture) when it stalls, loses its camera or
//! runs short of disk.
//!
//! Owns the wording of those lines and when they are said. Under systemd stderr goes to
//! the journal, so `journalctl -u nightcap-capture` tells the night's story one line a
//! minute, and an alarm is a line of its own starting `nightcap: alarm:`.
//!
//! Promises: an alarm is said once when the state begins (and once more when it ends,
//! as `nightcap: recovered:`), not every minute; `--on-alarm exit` stops the capture
//! (everything sealed) so the service manager can restart it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::board::{Board, Health, Status};

/// What an alarm does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnAlarm {
    /// Say it in the log and go on.
    #[default]
    Warn,
    /// Say it, then stop the capture with a failure exit status (a service restarts it).
    Exit,
}

impl OnAlarm {
    /// From the command line's word.
    pub fn from_name(name: &str) -> Option<OnAlarm> {
        match name {
            "warn" => Some(OnAlarm::Warn),
            "exit" => Some(OnAlarm::Exit),
            _ => None,
        }
    }
}

/// Whether a state is an alarm.
pub fn is_alarm(h: Health) -> bool {
    matches!(h, Health::Stalled | Health::CameraError | Health::DiskLow)
}

/// The periodic line: `status: CAPTURING (frames arrive on time); tonight 120 frames, ...`.
pub fn line(s: &Status) -> String {
    let t = &s.tonight;
    let mut parts = vec![format!(
        "status: {} ({}); tonight {} frames, {} dropped",
        s.health_text, s.reason, t.frames, t.dropped_frames
    )];
    if let (Some(m), Some(x)) = (t.dead_time_median_ms, t.dead_time_max_ms) {
        parts.push(format!("dead time median {m:.0} ms, max {x:.0} ms"));
    }
    if t.longest_gap_s > 0.0 {
        parts.push(format!("longest gap {:.1} s", t.longest_gap_s));
    }
    if let (Some(sky), Some(stars)) = (s.charts.sky_level.0.last(), s.charts.star_count.0.last()) {
        parts.push(format!("sky {:.0}, {:.0} stars", sky.v, stars.v));
    }
    if t.rejected_cloudy > 0 {
        parts.push(format!("{} cloudy", t.rejected_cloudy));
    }
    if !t.detections.is_empty() {
        let d: Vec<String> = t
            .detections
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        parts.push(d.join(", "));
    }
    let st = &s.storage;
    let mut disk = format!(
        "journal {:.1} GiB, free {:.1} GiB",
        st.journal_bytes as f64 / f64::from(1u32 << 30),
        st.free_bytes as f64 / f64::from(1u32 << 30)
    );
    if let Some(r) = st.runway_hours {
        disk.push_str(&format!(", runway {r:.0} h"));
    }
    parts.push(disk);
    if s.timing.clock_synchronised == Some(false) {
        parts.push("clock NOT synchronised".into());
    }
    parts.join("; ")
}

/// Says alarms as states change; remembers the last one.
#[derive(Debug, Default)]
pub struct Alarms {
    current: Option<Health>,
}

impl Alarms {
    /// The line to say for this health, if any: an alarm as it begins, a recovery as
    /// it ends.
    pub fn check(&mut self, health: Health, reason: &str) -> Option<String> {
        match (self.current, is_alarm(health)) {
            (prev, true) if prev != Some(health) => {
                self.current = Some(health);
                Some(format!("nightcap: alarm: {}: {reason}", health.words()))
            }
            (Some(prev), false) => {
                self.current = None;
                Some(format!(
                    "nightcap: recovered: {} is over, now {}",
                    prev.words(),
                    health.words()
                ))
            }
            _ => None,
        }
    }
}

/// What ended the capture, if an alarm did.
pub type AlarmStop = Arc<Mutex<Option<String>>>;

/// Starts the health thread: a [`line()`] every `every` (none when zero), alarms checked
/// every second. With [`OnAlarm::Exit`] an alarm sets `stop_capture` and records why in
/// the returned [`AlarmStop`].
pub fn spawn(
    board: Board,
    every: Duration,
    on_alarm: OnAlarm,
    stop_capture: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> (std::thread::JoinHandle<()>, AlarmStop) {
    let why: AlarmStop = Arc::new(Mutex::new(None));
    let why2 = Arc::clone(&why);
    let t = std::thread::Builder::new()
        .name("status-health".into())
        .spawn(move || {
            let mut alarms = Alarms::default();
            let mut last_line = Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let (health, reason, _) = board.health();
                if let Some(text) = alarms.check(health, &reason) {
                    eprintln!("{text}");
                    if on_alarm == OnAlarm::Exit && is_alarm(health) {
                        *why2.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(format!("{}: {reason}", health.words()));
                        stop_capture.store(true, Ordering::Relaxed);
                    }
                }
                if !every.is_zero() && last_line.elapsed() >= every {
                    last_line = Instant::now();
                    eprintln!("nightcap: {}", line(&board.status()));
                }
            }
        })
        .expect("a thread can be started");
    (t, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_is_said_once_and_its_end_once() {
        let mut a = Alarms::default();
        assert_eq!(a.check(Health::Capturing, "ok"), None);
        let l = a.check(Health::Stalled, "no frame for 12 s").unwrap();
        assert_eq!(l, "nightcap: alarm: STALLED: no frame for 12 s");
        assert_eq!(a.check(Health::Stalled, "no frame for 70 s"), None);
        assert!(a
            .check(Health::Capturing, "ok")
            .unwrap()
            .contains("recovered: STALLED"));
        assert_eq!(a.check(Health::Capturing, "ok"), None);
        assert!(a
            .check(Health::DiskLow, "1 h")
            .unwrap()
            .contains("alarm: DISK LOW"));
    }
}
