//! Live stacks while capturing (`capture -d 60`): the original program's behaviour, one
//! max-stacked JPEG per window, written by following the journal as it grows.
//!
//! Windows are aligned to clock multiples of the duration and named from their start like
//! the original program (`{prefix}{YYYYmmdd-HHMMSS}.jpg`). A window is written once a
//! frame at or after its end has arrived, and the last (partial) window when capture
//! stops. Memory: one accumulator and one decoded frame.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::journal::codec::Decoder;
use crate::journal::{Journal, JournalError};
use crate::output::image::{write_image, OutputFormat, OutputMeta};
use crate::output::OutputError;
use crate::pixels::{to_image16, Image16, PixelError};
use crate::stack::tone::{render, Drc, RenderSettings};

/// Why live stacking stopped.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("frame cannot be unpacked: {0}")]
    Pixels(#[from] PixelError),
}

/// Follows the journal in `dir` until `stop` is set, writing one max stack per
/// `every_s`-second window to `{prefix}{YYYYmmdd-HHMMSS}.jpg`.
pub fn live_stacks(
    dir: &Path,
    every_s: u32,
    prefix: &str,
    drc: Drc,
    stop: &AtomicBool,
) -> Result<(), LiveError> {
    let every = i64::from(every_s.max(1)) * 1_000_000_000;
    let mut done: BTreeSet<i64> = BTreeSet::new();
    // Frames already in the journal when we started belong to an earlier capture.
    let mut baseline: Option<Option<u64>> = None;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if dir.exists() {
            let j = Journal::open(dir)?;
            let frames = j.frames();
            let newest = frames.last().map(|r| r.entry.time_ns);
            let base = *baseline.get_or_insert(frames.last().map(|r| r.entry.seq));
            let windows: BTreeSet<i64> = frames
                .iter()
                .filter(|r| base.is_none_or(|b| r.entry.seq > b))
                .map(|r| r.entry.time_ns.div_euclid(every) * every)
                .collect();
            for w in windows {
                let complete = newest.is_some_and(|n| n >= w + every);
                if done.contains(&w) || !(complete || stopping) {
                    continue;
                }
                write_window(&j, w, every, base, prefix, drc, !complete)?;
                done.insert(w);
            }
        }
        if stopping {
            return Ok(());
        }
        for _ in 0..20 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn write_window(
    j: &Journal,
    start: i64,
    every: i64,
    after_seq: Option<u64>,
    prefix: &str,
    drc: Drc,
    partial: bool,
) -> Result<(), LiveError> {
    let mut dec = Decoder::new();
    let (mut scratch, mut bytes) = (Vec::new(), Vec::new());
    let mut acc: Option<Image16> = None;
    let mut meta = OutputMeta::new("max");
    meta.partial = partial;
    let ours = |r: &&crate::journal::FrameRef| after_seq.is_none_or(|b| r.entry.seq > b);
    for r in j
        .frames()
        .iter()
        .filter(ours)
        .filter(|r| (start..start + every).contains(&r.entry.time_ns))
    {
        let seg = &j.segments[r.segment];
        let Ok(m) = seg.read_frame(&r.entry, &mut dec, &mut scratch, &mut bytes) else {
            continue; // damaged frames are reported by `verify`; a live stack skips them
        };
        let img = to_image16(&seg.header.format, &bytes)?;
        match acc.as_mut() {
            Some(a) if a.same_shape(&img) => a
                .data
                .iter_mut()
                .zip(&img.data)
                .for_each(|(a, &b)| *a = (*a).max(b)),
            Some(_) => continue,
            None => {
                meta.start_utc_ns = m.time_utc_ns;
                meta.cfa = img.cfa.name().map(str::to_string);
                acc = Some(img);
            }
        }
        meta.frames += 1;
        meta.end_utc_ns = m.end_utc_ns();
        meta.exposure_total_us += u64::from(m.exposure_us);
    }
    let Some(acc) = acc else { return Ok(()) };
    let settings = RenderSettings {
        drc,
        ..RenderSettings::default()
    };
    let path = PathBuf::from(format!("{prefix}{}.jpg", crate::time::utc_compact(start)));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| OutputError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_image(&path, &render(&acc, &settings), OutputFormat::Jpeg, &meta)?;
    Ok(())
}
