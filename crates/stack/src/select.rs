//! Which frames a product is made of, and the metadata every product carries.
//!
//! [`select_frames`] picks a journal's frames in a time range, in time order, and refuses
//! a range holding two camera formats (one image cannot be made of frames of different
//! sizes or layouts; stacking each format on its own is [`crate::night`]'s job).
//! [`product_meta`] is the output metadata of an image made of such a selection.

use std::path::PathBuf;

use crate::output::image::OutputMeta;
use nightcap_frame::time::utc_short;
use nightcap_frame::{PixelFormat, UtcNanos};
use nightcap_journal::{FrameRef, Journal};

/// Why no frames were selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The range holds no frame.
    #[error("no frames in {} in the given range", dir.display())]
    Empty {
        /// The journal directory.
        dir: PathBuf,
    },
    /// The range holds frames of more than one camera format.
    #[error("{} holds frames of {} camera formats in this range ({})", dir.display(), formats.len(), list(formats))]
    MixedFormats {
        /// The journal directory.
        dir: PathBuf,
        /// Each format, with the time of its first frame in the range.
        formats: Vec<(PixelFormat, UtcNanos)>,
    },
}

fn list(formats: &[(PixelFormat, UtcNanos)]) -> String {
    formats
        .iter()
        .map(|(f, t)| format!("{f} from {} UTC", utc_short(*t)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The frames of `journal` whose exposure starts in `from..to` (either end open), in
/// time order (then seq order); an error if there are none or they are of more than one
/// format.
pub fn select_frames(
    journal: &Journal,
    from: Option<UtcNanos>,
    to: Option<UtcNanos>,
) -> Result<Vec<FrameRef>, SelectError> {
    let mut frames = journal.frames_in(from, to);
    frames.sort_by_key(|r| (r.time_ns, r.entry.seq));
    let mut formats: Vec<(PixelFormat, UtcNanos)> = Vec::new();
    for r in &frames {
        let f = journal.segments[r.segment].header.format;
        if !formats.iter().any(|(g, _)| *g == f) {
            formats.push((f, r.time_ns));
        }
    }
    if formats.len() > 1 {
        return Err(SelectError::MixedFormats {
            dir: journal.dir.clone(),
            formats,
        });
    }
    if frames.is_empty() {
        return Err(SelectError::Empty {
            dir: journal.dir.clone(),
        });
    }
    Ok(frames)
}

/// Output metadata for a product `mode` made of `frames`, `combined` of which were read
/// (fewer than all makes it partial).
pub fn product_meta(mode: &str, frames: &[FrameRef], combined: u32) -> OutputMeta {
    let mut meta = OutputMeta::new(mode);
    meta.start_utc_ns = frames.first().map_or(0, |r| r.time_ns);
    meta.end_utc_ns = frames
        .last()
        .map_or(0, |r| r.time_ns + i64::from(r.entry.exposure_us) * 1000);
    meta.frames = combined;
    meta.exposure_total_us = frames.iter().map(|r| u64::from(r.entry.exposure_us)).sum();
    meta.partial = combined as usize != frames.len();
    meta
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightcap_frame::{Cfa, FrameMeta, Packing};
    use nightcap_journal::testing::{format, noise};
    use nightcap_journal::{JournalWriter, WriterConfig};

    const T0: i64 = 1_795_996_800_000_000_000;
    const SEC: i64 = 1_000_000_000;

    /// Writes `times` (seconds after T0) as frames of `f`, out of order on purpose.
    fn write(dir: &std::path::Path, f: PixelFormat, times: &[i64]) {
        let mut w = JournalWriter::open(WriterConfig::new(dir), f).unwrap();
        for (i, &t) in times.iter().enumerate() {
            let meta = FrameMeta {
                time_utc_ns: T0 + t * SEC,
                exposure_us: 5_000_000,
                ..FrameMeta::default()
            };
            w.append_frame(&meta, &noise(f.max_frame_bytes() as usize, i as u64))
                .unwrap();
        }
        w.close().unwrap();
    }

    #[test]
    fn frames_in_range_in_time_order_with_their_metadata() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            format(8, 4, 12, Cfa::Rggb, Packing::U16Le),
            &[10, 0, 5, 20],
        );
        let j = Journal::open(dir.path()).unwrap();
        let all = select_frames(&j, None, None).unwrap();
        let times: Vec<i64> = all.iter().map(|r| (r.time_ns - T0) / SEC).collect();
        assert_eq!(times, [0, 5, 10, 20]);
        let some = select_frames(&j, Some(T0 + 5 * SEC), Some(T0 + 20 * SEC)).unwrap();
        assert_eq!(some.len(), 2, "from is inclusive, to exclusive");
        let meta = product_meta("trails", &some, 1);
        assert_eq!(
            (meta.start_utc_ns, meta.end_utc_ns),
            (T0 + 5 * SEC, T0 + 15 * SEC)
        );
        assert_eq!(
            (meta.frames, meta.exposure_total_us, meta.partial),
            (1, 10_000_000, true)
        );
        let none = select_frames(&j, Some(T0 + 21 * SEC), None).unwrap_err();
        assert!(matches!(none, SelectError::Empty { .. }));
        assert!(!none.to_string().contains("--"), "no flags: {none}");
    }

    #[test]
    fn two_formats_in_a_range_are_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            format(8, 4, 12, Cfa::Rggb, Packing::U16Le),
            &[0, 5],
        );
        write(
            dir.path(),
            format(16, 8, 12, Cfa::Rggb, Packing::U16Le),
            &[60, 65],
        );
        let j = Journal::open(dir.path()).unwrap();
        let err = select_frames(&j, None, None).unwrap_err();
        let SelectError::MixedFormats { formats, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            formats.iter().map(|(f, _)| f.width).collect::<Vec<_>>(),
            [8, 16]
        );
        assert_eq!(
            formats[1].1,
            T0 + 60 * SEC,
            "the first frame of each format"
        );
        assert!(err.to_string().contains("2 camera formats"), "{err}");
        // Either format alone is fine.
        assert_eq!(
            select_frames(&j, Some(T0 + 60 * SEC), None).unwrap().len(),
            2
        );
    }
}
