//! Live stacking: [`follow_stack`] keeps stacking a journal while it is being written.
//!
//! Every [`POLL`] it re-opens the journal, plans the windows over all frames so far, and
//! stacks each window that is *complete* and not yet written: a frame starting at or after
//! the window's end exists, or no segment is active any more (the writer sealed
//! everything). Each window is written once; the concat list is rewritten after every
//! batch. When the stop flag is raised (Ctrl-C, or `capture` ending) the windows still
//! open are stacked as they are (they carry the partial flag when short) and the call
//! returns. This is what gives the original program's "one JPEG every minute" live.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::night::{
    frame_times, reject_frames, stack_windows, write_list, StackConfig, StackError, StackEvent,
    WindowOutput,
};
use crate::window::{plan, Window};
use nightcap_journal::format::SegmentState;
use nightcap_journal::Journal;

/// How often the journal is checked for new frames.
pub const POLL: Duration = Duration::from_secs(2);

/// Nice value of a stacker following a capture of the same process (`capture -d 60`):
/// below the capture's compression workers (nice 5, the capture thread 0), so that a
/// window's burst of decoding and encoding on every core never delays a frame.
pub const BESIDE_CAPTURE_NICE: i32 = 10;

/// [`follow_stack`] for a stacker running beside a capture: on a rayon pool of its own
/// whose threads, like the calling thread and the writer threads it starts (Linux nice
/// values are per thread and inherited), run at [`BESIDE_CAPTURE_NICE`]. Where the
/// priority cannot be lowered or the pool not built, it runs as [`follow_stack`] does.
pub fn follow_stack_beside_capture(
    dir: &Path,
    cfg: &StackConfig,
    stop: &AtomicBool,
    progress: &(dyn Fn(StackEvent<'_>) + Sync),
) -> Result<Vec<WindowOutput>, StackError> {
    let lower = || {
        let _ = rustix::process::setpriority_process(None, BESIDE_CAPTURE_NICE);
    };
    lower();
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("live-stack-{i}"))
        .start_handler(move |_| lower())
        .build();
    match pool {
        Ok(pool) => pool.install(|| follow_stack(dir, cfg, stop, progress)),
        Err(_) => follow_stack(dir, cfg, stop, progress),
    }
}

/// Windows of `windows` ready to stack: complete (see the module docs) or, when
/// `finishing`, all of them; minus those already written (by start time).
pub fn ready_windows(
    windows: &[Window],
    latest_start_ns: i64,
    sealed: bool,
    finishing: bool,
    done: &BTreeSet<i64>,
) -> Vec<Window> {
    windows
        .iter()
        .filter(|w| !done.contains(&w.start_ns))
        .filter(|w| finishing || sealed || latest_start_ns >= w.end_ns)
        .cloned()
        .collect()
}

/// Stacks `dir` as it grows until `stop` is raised; returns every stack written.
pub fn follow_stack(
    dir: &Path,
    cfg: &StackConfig,
    stop: &AtomicBool,
    progress: &(dyn Fn(StackEvent<'_>) + Sync),
) -> Result<Vec<WindowOutput>, StackError> {
    std::fs::create_dir_all(&cfg.out_dir).map_err(|source| StackError::CreateDir {
        path: cfg.out_dir.clone(),
        source,
    })?;
    let mut done = BTreeSet::new();
    let mut stats = std::collections::HashMap::new();
    let mut outputs: Vec<WindowOutput> = Vec::new();
    // The hot-pixel map, once found from the first ready frames (see StackConfig).
    let mut live_cfg = cfg.clone();
    let mut need_hot = cfg.hot_pixels_from_first_frames;
    let cfg = &mut live_cfg;
    loop {
        let finishing = stop.load(Ordering::Relaxed);
        // A journal being created or rolled may be briefly unreadable: try again later.
        if let Ok(journal) = Journal::open(dir) {
            let mut all = journal.frames();
            if let Some(from) = cfg.from_seq {
                all.retain(|r| r.entry.seq >= from);
            }
            let sealed = journal
                .segments
                .iter()
                .all(|s| s.name.state == SegmentState::Sealed);
            let latest = all.iter().map(|r| r.time_ns).max().unwrap_or(i64::MIN);
            let windows = plan(&frame_times(&all), &cfg.windows);
            let mut ready = ready_windows(&windows, latest, sealed, finishing, &done);
            if !ready.is_empty() {
                if need_hot {
                    let first: Vec<_> = ready
                        .iter()
                        .flat_map(|w| w.frames.iter().map(|&i| all[i]))
                        .collect();
                    cfg.calibration.hot_pixels =
                        std::sync::Arc::new(crate::calibrate::find_hot_pixels(&journal, &first));
                    need_hot = false;
                }
                let frames = ready.iter().map(|w| w.frames.len()).sum();
                progress(StackEvent::Planned {
                    windows: ready.len(),
                    frames,
                    passes: cfg.passes(),
                });
                if cfg.reject {
                    reject_frames(
                        &journal,
                        &all,
                        &mut ready,
                        &cfg.calibration,
                        &mut stats,
                        progress,
                    );
                }
                let new = stack_windows(&journal, &all, &ready, cfg, progress)?;
                done.extend(ready.iter().map(|w| w.start_ns));
                outputs.extend(new);
                outputs.sort_by_key(|o| o.meta.start_utc_ns);
                if let Some(budget) = cfg.budget_bytes {
                    match crate::output::budget::prune(&cfg.out_dir, &cfg.prefix, budget) {
                        Ok(p) if !p.deleted.is_empty() => progress(StackEvent::Pruned(&p)),
                        Ok(_) => {}
                        Err(e) => progress(StackEvent::PruneFailed(&e)),
                    }
                    outputs.retain(|o| o.path.exists());
                }
                if !outputs.is_empty() {
                    write_list(cfg, &outputs)?;
                }
                // The next window is a minute or more away: hand the buffers kept for
                // back-to-back windows back (a live stacker shares the Pi with capture).
                crate::pool::release_buffers();
            }
        }
        if finishing {
            return Ok(outputs);
        }
        let until = Instant::now() + POLL;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64) -> Window {
        Window {
            start_ns: start,
            end_ns: start + 60,
            frames: vec![0],
            partial: false,
            rejected: 0,
        }
    }

    #[test]
    fn a_window_is_ready_once_a_later_frame_exists() {
        let ws = vec![w(0), w(60), w(120)];
        let none = BTreeSet::new();
        let starts = |v: Vec<Window>| v.iter().map(|w| w.start_ns).collect::<Vec<_>>();
        assert_eq!(
            starts(ready_windows(&ws, 125, false, false, &none)),
            vec![0, 60]
        );
        assert_eq!(
            starts(ready_windows(&ws, 119, false, false, &none)),
            vec![0]
        );
        assert_eq!(
            starts(ready_windows(&ws, 125, true, false, &none)),
            vec![0, 60, 120]
        );
        assert_eq!(
            starts(ready_windows(&ws, 125, false, true, &none)),
            vec![0, 60, 120]
        );
        let done: BTreeSet<i64> = [0].into();
        assert_eq!(
            starts(ready_windows(&ws, 125, false, false, &done)),
            vec![60]
        );
    }
}
