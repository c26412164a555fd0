//! A night into stacks: [`run_stack`] cuts a journal into windows ([`super::window`]),
//! reduces each ([`super::reduce`]) straight from the journal's compressed frames, and
//! writes one image per window plus an ffmpeg concat list of them.
//!
//! Promises: every frame is decoded from the journal with its CRCs checked; a damaged or
//! undecodable frame is reported through the progress callback ([`StackEvent::Skipped`])
//! and left out, and the night goes on; windows whose frames are all unusable produce no
//! file. Output names are `{prefix}{YYYYmmdd-HHMMSS}.{ext}` from the window start (UTC)
//! for `nightcap stack`, and the original program's `{prefix}{YYYYmmddHHMMSS}.{ext}` in
//! local time for live stacks ([`Names`]). Writing an output (debayer, tone mapping, encoding) of
//! a window overlaps the decoding of the next ones, with at most
//! [`StackConfig::writes_in_flight`] writes in flight, so memory stays bounded.
//!
//! Speed: uncalibrated raw frames are decoded straight to sample rows and combined band
//! by band ([`JournalFrames`]' [`FrameFeed::stream`]); decoder buffers are pooled
//! across windows ([`Pooled`]), and so are the accumulator's planes and the stack images
//! ([`recycle`]); the stack's image is made from its accumulator on the writer thread
//! ([`Pending`]); a JPEG stack is rendered straight to 8-bit RGB rows ([`Render8`]) a strip
//! at a time, each strip encoded by libjpeg-turbo on its own core (no full-size 16-bit or
//! 8-bit RGB copy of the stack exists).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::calib::Calibration;
use crate::debayer::debayer;
use crate::output::concat::{write_concat, ConcatEntry};
use crate::output::fits::write_fits;
use crate::output::image::{write_image, write_jpeg_rows, OutputFormat, OutputMeta};
use crate::output::OutputError;
use crate::pool::{recycle, Buffers, PoolScope, Pooled};
use crate::reduce::{reduce_pending, Accumulator, FrameFeed, Mode, Pending, Shape, Streamed};
use crate::reject::{frame_stats, judge, FrameStats, Rejection};
use crate::tone::{render, Render8, RenderSettings, ToneMap};
use crate::window::{plan, FrameTime, Window, WindowSpec};
use nightcap_frame::mask::FrameMasks;
use nightcap_frame::pixels::{to_image16, Image16};
use nightcap_frame::time::utc_dash_stamp;
use nightcap_journal::codec::rows_fit;
use nightcap_journal::reader::ReadError;
use nightcap_journal::{Damage, FrameRef, Journal};

/// How long each stack is shown in the concat list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Frames per second of the video.
    Fps(f64),
    /// Speed-up over real time: a window of `L` seconds is shown `L / speed` seconds.
    Speed(f64),
}

/// `path`, or `stem-2.ext`, `stem-3.ext`, ... : the first that `taken` does not refuse.
fn free_name(path: PathBuf, taken: impl Fn(&Path) -> bool) -> PathBuf {
    if !taken(&path) {
        return path;
    }
    let stem = path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let ext = path
        .extension()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    (2u32..)
        .map(|n| path.with_file_name(format!("{stem}-{n}.{ext}")))
        .find(|p| !taken(p))
        .expect("a free name")
}

/// How stack files are named after their window's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// `{prefix}20261124-021500.{ext}`, UTC (`nightcap stack`).
    UtcDashStamp,
    /// The original program's `{prefix}20261124031500.{ext}` (`%Y%m%d%H%M%S`), in the
    /// system's local time, or in UTC with `utc` (live stacks beside a capture).
    Original { utc: bool },
}

/// Everything `run_stack` needs, built once from the command line (or by `capture`).
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub windows: WindowSpec,
    pub mode: Mode,
    pub out_dir: PathBuf,
    pub format: OutputFormat,
    /// File name prefix (`img` gives `img20261124-021500.jpg`).
    pub prefix: String,
    pub render: RenderSettings,
    /// FITS only: write debayered RGB instead of the CFA mosaic.
    pub debayer_fits: bool,
    pub pace: Pace,
    /// Write `<file>.json` next to each image.
    pub sidecar: bool,
    /// Dark subtraction and hot-pixel repair applied to every frame before reducing.
    pub calibration: Calibration,
    /// Leave out cloudy or bright frames ([`super::reject`]), judged from the stored
    /// statistics (one extra decode for a frame without them).
    pub reject: bool,
    /// Stacks written while the next window is reduced, at most (at least 1): each holds
    /// one stack (its accumulator, then its image). Two are 2.6 % faster than one on 12 MP,
    /// 12-frame windows (2 cores: the reduction then never waits for a write) and peak
    /// about 28 MB higher; a stacker beside a capture keeps one.
    pub writes_in_flight: usize,
    /// How files are named after their window's start.
    pub names: Names,
    /// Never replace an existing file: a window whose name is taken gets `-2`, `-3`, ...
    /// (a capture restarted inside a window must not overwrite that window's stack).
    pub keep_existing: bool,
    /// Live stacks: only frames of this seq or later (the frames of this capture run,
    /// whatever their times: a clock stepped back, or a replayed simulated night, must
    /// not hide them behind the journal's older frames).
    pub from_seq: Option<u64>,
    /// Live stacks: find the hot pixels from the frames of the first windows (the night
    /// is not there yet to find them from) and repair them in every stack after.
    pub hot_pixels_from_first_frames: bool,
    /// Streaks to leave out of each frame (`stack --clean`): applied after calibration;
    /// frames with a mask are decoded whole instead of streamed band by band.
    pub masks: Option<std::sync::Arc<FrameMasks>>,
    /// Live stacks: keep the stacks in `out_dir` named as this stacker names them within
    /// this many bytes, deleting the oldest ([`crate::output::budget`]).
    pub budget_bytes: Option<u64>,
    /// JPEG stacks: a caption (local time, frames, exposure) and this site line (empty
    /// for none) in the corner ([`crate::caption`]).
    pub caption: Option<String>,
}

impl StackConfig {
    /// The original program's behaviour: 60 s clock windows, max, JPEG, `img` prefix.
    pub fn new(out_dir: impl Into<PathBuf>) -> StackConfig {
        StackConfig {
            windows: WindowSpec::default(),
            mode: Mode::Max,
            out_dir: out_dir.into(),
            format: OutputFormat::Jpeg,
            prefix: "img".into(),
            render: RenderSettings::default(),
            debayer_fits: false,
            pace: Pace::Speed(600.0),
            sidecar: true,
            calibration: Calibration::default(),
            reject: false,
            writes_in_flight: 2,
            names: Names::UtcDashStamp,
            keep_existing: false,
            from_seq: None,
            hot_pixels_from_first_frames: false,
            masks: None,
            budget_bytes: None,
            caption: None,
        }
    }

    /// The output path of a window starting at `start_ns`.
    pub fn output_path(&self, start_ns: i64) -> PathBuf {
        let stamp = match self.names {
            Names::UtcDashStamp => utc_dash_stamp(start_ns),
            Names::Original { utc } => nightcap_frame::time::original_stamp(start_ns, utc),
        };
        let ext = self.format.extension();
        let path = self.out_dir.join(format!("{}{stamp}.{ext}", self.prefix));
        if self.keep_existing {
            free_name(path, |p| p.exists())
        } else {
            path
        }
    }

    /// The concat list path: `{prefix}stacks.ffconcat` in the output directory.
    pub fn concat_path(&self) -> PathBuf {
        self.out_dir.join(format!("{}stacks.ffconcat", self.prefix))
    }

    /// Decode passes over each frame (sigma needs two, rejection one more).
    pub fn passes(&self) -> u8 {
        let reduce = if matches!(self.mode, Mode::Sigma { .. }) {
            2
        } else {
            1
        };
        reduce + u8::from(self.reject)
    }

    fn duration_s(&self, w: &Window) -> f64 {
        match self.pace {
            Pace::Fps(f) if f > 0.0 => 1.0 / f,
            Pace::Speed(s) if s > 0.0 => (w.end_ns - w.start_ns) as f64 / 1e9 / s,
            _ => 0.1,
        }
    }
}

/// One written stack.
#[derive(Debug, Clone)]
pub struct WindowOutput {
    pub path: PathBuf,
    pub meta: OutputMeta,
    /// How long this stack is shown in the concat list, seconds.
    pub duration_s: f64,
}

/// What `run_stack` reports while it works.
#[derive(Debug)]
pub enum StackEvent<'a> {
    /// The plan: windows to write and frames to decode (per pass).
    Planned {
        windows: usize,
        frames: usize,
        passes: u8,
    },
    /// One frame decoded and combined (or skipped).
    Frame,
    /// A frame left out, and why.
    Skipped(&'a Damage),
    /// A stack was written.
    Written(&'a WindowOutput),
    /// A frame left out by rejection.
    Rejected {
        seq: u64,
        time_ns: i64,
        reason: Rejection,
    },
    /// Old live stacks deleted to stay within [`StackConfig::budget_bytes`].
    Pruned(&'a crate::output::budget::Pruned),
    /// The budget could not be kept: the folder could not be read or a file not deleted.
    PruneFailed(&'a std::io::Error),
}

/// Why a night could not be stacked.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("no frames in {dir} between {from} and {to}")]
    NoFrames {
        dir: PathBuf,
        from: String,
        to: String,
    },
    #[error("none of the {frames} frames could be stacked (all damaged or undecodable)")]
    NothingStacked { frames: usize },
    #[error("cannot create output directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("the output writer thread failed: {0}")]
    Writer(String),
}

/// A [`FrameFeed`] reading a list of journal frames: decode, unpack, calibrate.
pub struct JournalFrames<'a> {
    pub journal: &'a Journal,
    pub frames: Vec<FrameRef>,
    pub calibration: &'a Calibration,
    /// Streaks to leave out, applied after calibration.
    pub masks: Option<&'a FrameMasks>,
    pub on_skip: &'a (dyn Fn(&Damage) + Sync),
    pub on_frame: &'a (dyn Fn() + Sync),
}

impl JournalFrames<'_> {
    /// Decodes frame `r` into `buf` (no calibration); the samples are then in
    /// [`Buffers::image`]. Returns the frame's metadata, or the damage that prevents it.
    pub fn decode_into(
        journal: &Journal,
        r: &FrameRef,
        buf: &mut Buffers,
    ) -> Result<nightcap_frame::FrameMeta, Damage> {
        let seg = &journal.segments[r.segment];
        let f = &seg.header.format;
        if rows_fit(f) {
            // Raw frames straight to samples, as the stacker streams them (half the time
            // of decoding to the camera's bytes and unpacking those; no bytes buffer).
            let img = &mut buf.img;
            let w = f.width as usize;
            img.width = f.width;
            img.height = f.height;
            img.channels = 1;
            img.cfa = f.cfa;
            img.bit_depth = f.bit_depth;
            img.data.resize(w * f.height as usize, 0);
            let data = &mut img.data;
            return seg
                .read_frame_rows(
                    &r.entry,
                    &mut buf.dec,
                    &mut buf.scratch,
                    64,
                    &mut |y, rows| {
                        if let Some(dst) = data.get_mut(y * w..y * w + rows.len()) {
                            dst.copy_from_slice(rows);
                        }
                    },
                )
                .map_err(|ReadError::Damaged(d)| d);
        }
        let meta = seg
            .read_frame(&r.entry, &mut buf.dec, &mut buf.scratch, &mut buf.bytes)
            .map_err(|ReadError::Damaged(d)| d)?;
        // Not a raw packing (the raw ones went straight to samples above).
        buf.img = to_image16(f, &buf.bytes).map_err(|e| Damage {
            segment: seg.path.clone(),
            offset: r.entry.offset,
            seq: Some(r.entry.seq),
            what: format!("frame does not unpack: {e}"),
        })?;
        Ok(meta)
    }

    /// Decodes frame `r` into a new image (no calibration), or the damage that prevents it.
    pub fn decode(
        journal: &Journal,
        r: &FrameRef,
        buf: &mut Buffers,
    ) -> Result<(nightcap_frame::FrameMeta, Image16), Damage> {
        let meta = Self::decode_into(journal, r, buf)?;
        Ok((meta, buf.img.clone()))
    }

    /// Fresh per-worker buffers.
    pub fn buffers() -> Buffers {
        Buffers::new()
    }
}

impl FrameFeed for JournalFrames<'_> {
    type State = Pooled;

    fn state(&self) -> Pooled {
        Pooled::take()
    }

    fn load<'a>(&'a self, index: usize, pass: u8, buf: &'a mut Pooled) -> Option<&'a Image16> {
        let r = self.frames.get(index)?;
        let buf = &mut **buf;
        let result = Self::decode_into(self.journal, r, buf);
        (self.on_frame)();
        match result {
            Ok(_) => {
                self.calibration.apply(&mut buf.img);
                if let Some(m) = self.masks {
                    m.apply(r.entry.seq, &mut buf.img);
                }
                Some(&buf.img)
            }
            Err(d) => {
                if pass == 0 {
                    (self.on_skip)(&d);
                }
                None
            }
        }
    }

    /// Uncalibrated raw frames decode straight into the accumulator, band by band: no
    /// frame is re-packed, unpacked or held whole.
    fn stream<'a>(
        &self,
        index: usize,
        pass: u8,
        buf: &mut Pooled,
        acc: &dyn Fn(Shape) -> &'a Accumulator,
    ) -> Option<Streamed> {
        let r = self.frames.get(index)?;
        let seg = &self.journal.segments[r.segment];
        let f = &seg.header.format;
        let masked = self.masks.is_some_and(|m| m.touches(r.entry.seq));
        if !self.calibration.is_empty() || !rows_fit(f) || masked {
            return None;
        }
        let shape = Shape {
            width: f.width,
            height: f.height,
            channels: 1,
            cfa: f.cfa,
            bit_depth: f.bit_depth,
        };
        let a = acc(shape);
        if a.shape() != shape {
            // The load path reports the mismatch (or the damage) as usual.
            return None;
        }
        let buf = &mut **buf;
        let result = seg.read_frame_rows(
            &r.entry,
            &mut buf.dec,
            &mut buf.scratch,
            a.band_rows(),
            &mut |first, rows| a.add_rows(first, rows),
        );
        (self.on_frame)();
        match result {
            Ok(_) => {
                a.frame_done();
                Some(Streamed::Combined)
            }
            Err(ReadError::Damaged(d)) => {
                if pass == 0 {
                    (self.on_skip)(&d);
                }
                Some(Streamed::Unusable)
            }
        }
    }
}

/// The exposure times of `frames`, for window planning.
pub fn frame_times(frames: &[FrameRef]) -> Vec<FrameTime> {
    frames
        .iter()
        .map(|r| FrameTime {
            start_ns: r.time_ns,
            exposure_us: r.entry.exposure_us,
        })
        .collect()
}

/// Stacks every window of `journal` per `cfg`, writing images and the concat list.
/// Returns the written stacks in time order.
pub fn run_stack(
    journal: &Journal,
    cfg: &StackConfig,
    progress: &(dyn Fn(StackEvent<'_>) + Sync),
) -> Result<Vec<WindowOutput>, StackError> {
    let _pools = PoolScope::enter();
    let all = journal.frames();
    let mut windows = plan(&frame_times(&all), &cfg.windows);
    if windows.is_empty() {
        let show = |t: Option<i64>| {
            t.map_or("the end".to_string(), |t| {
                format!("{} UTC", nightcap_frame::time::utc_short(t))
            })
        };
        return Err(StackError::NoFrames {
            dir: journal.dir.clone(),
            from: show(cfg.windows.from_ns),
            to: show(cfg.windows.to_ns),
        });
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(|source| StackError::CreateDir {
        path: cfg.out_dir.clone(),
        source,
    })?;
    windows = split_by_format(journal, &all, windows);
    windows = split_by_clock_epoch(&all, windows);
    let frames: usize = windows.iter().map(|w| w.frames.len()).sum();
    progress(StackEvent::Planned {
        windows: windows.len(),
        frames,
        passes: cfg.passes(),
    });
    if cfg.reject {
        reject_frames(
            journal,
            &all,
            &mut windows,
            &cfg.calibration,
            &mut HashMap::new(),
            progress,
        );
    }
    let outputs = stack_windows(journal, &all, &windows, cfg, progress)?;
    if outputs.is_empty() {
        return Err(StackError::NothingStacked { frames });
    }
    write_list(cfg, &outputs)?;
    Ok(outputs)
}

/// The stream formats of `journal`'s segments, each once, in journal order.
pub fn formats(journal: &Journal) -> Vec<nightcap_frame::PixelFormat> {
    let mut out: Vec<nightcap_frame::PixelFormat> = Vec::new();
    for s in &journal.segments {
        if !out.contains(&s.header.format) {
            out.push(s.header.format);
        }
    }
    out
}

/// Splits every window whose frames come in more than one stream format (a journal two
/// cameras or two sensor modes wrote) into one window per format, so each format is
/// stacked on its own instead of the frames of the others being dropped.
fn split_by_format(journal: &Journal, all: &[FrameRef], windows: Vec<Window>) -> Vec<Window> {
    let formats = formats(journal);
    if formats.len() < 2 {
        return windows;
    }
    split_windows(windows, |i| {
        let f = journal.segments[all[i].segment].header.format;
        formats.iter().position(|g| *g == f).unwrap_or(0)
    })
}

/// Splits each window into one per value of `key` (over its frame indices), in key order.
fn split_windows(windows: Vec<Window>, key: impl Fn(usize) -> usize) -> Vec<Window> {
    let mut out = Vec::with_capacity(windows.len());
    for w in windows {
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for &i in &w.frames {
            groups.entry(key(i)).or_default().push(i);
        }
        out.extend(groups.into_values().map(|frames| Window {
            frames,
            ..w.clone()
        }));
    }
    out
}

/// Clock epochs of `all`: in seq order, the epoch goes up by one each time a frame's time
/// is earlier than the previous frame's (the clock stepped back: NTP correcting a Pi
/// that booted with a stale time, or a restart with an earlier clock). Frames of one
/// epoch are in time order; two epochs can hold the same times for different moments.
pub fn clock_epochs(all: &[FrameRef]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| all[i].entry.seq);
    let mut epochs = vec![0u32; all.len()];
    let (mut epoch, mut last) = (0u32, i64::MIN);
    for i in order {
        let t = all[i].time_ns;
        if t < last {
            epoch += 1;
        }
        last = t;
        epochs[i] = epoch;
    }
    epochs
}

/// Splits windows holding frames of more than one clock epoch ([`clock_epochs`]), so a
/// stack never mixes two real moments that the clock gave the same times.
fn split_by_clock_epoch(all: &[FrameRef], windows: Vec<Window>) -> Vec<Window> {
    let epochs = clock_epochs(all);
    if epochs.iter().all(|&e| e == 0) {
        return windows;
    }
    split_windows(windows, |i| epochs[i] as usize)
}

/// Writes the concat list of `outputs`.
pub fn write_list(cfg: &StackConfig, outputs: &[WindowOutput]) -> Result<(), StackError> {
    // A stack deleted by the live budget leaves the list too.
    let entries: Vec<ConcatEntry> = outputs
        .iter()
        .filter(|o| o.path.exists())
        .map(|o| ConcatEntry {
            path: o.path.clone(),
            duration_s: o.duration_s,
        })
        .collect();
    write_concat(&cfg.concat_path(), &entries)?;
    Ok(())
}

/// Reduces and writes `windows` (indices into `all`); the write of one window overlaps
/// the reduction of the next.
pub fn stack_windows(
    journal: &Journal,
    all: &[FrameRef],
    windows: &[Window],
    cfg: &StackConfig,
    progress: &(dyn Fn(StackEvent<'_>) + Sync),
) -> Result<Vec<WindowOutput>, StackError> {
    let _pools = PoolScope::enter();
    let mut outputs = Vec::new();
    let mut used = std::collections::HashSet::new();
    let several_formats = formats(journal).len() > 1;
    std::thread::scope(|scope| -> Result<(), StackError> {
        let mut writes = std::collections::VecDeque::new();
        for w in windows {
            let Some((pending, meta)) = reduce_window(journal, all, w, cfg, progress) else {
                continue;
            };
            while writes.len() >= cfg.writes_in_flight.max(1) {
                if let Some(h) = writes.pop_front() {
                    outputs.push(join(h)?);
                }
            }
            let mut path = cfg.output_path(w.start_ns);
            if several_formats {
                // Each format on its own: its size in the name keeps them apart.
                let f = journal.segments[all[w.frames[0]].segment].header.format;
                let stem = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let ext = cfg.format.extension();
                path.set_file_name(format!("{stem}-{}x{}.{ext}", f.width, f.height));
            }
            // Two windows of one start (clock epochs): the later gets -2, -3, ...
            let path = free_name(path, |p| used.contains(p));
            used.insert(path.clone());
            let duration_s = cfg.duration_s(w);
            writes.push_back(scope.spawn(move || -> Result<WindowOutput, StackError> {
                // Made here, so that the next window's frames decode meanwhile.
                let (img, fit) = pending.finish_fitted();
                let mut meta = meta;
                meta.sum_fit = fit;
                write_stack(&path, &img, cfg, &meta)?;
                recycle(img);
                let out = WindowOutput {
                    path,
                    meta,
                    duration_s,
                };
                progress(StackEvent::Written(&out));
                Ok(out)
            }));
        }
        for h in writes {
            outputs.push(join(h)?);
        }
        Ok(())
    })?;
    Ok(outputs)
}

fn join<'s>(
    h: std::thread::ScopedJoinHandle<'s, Result<WindowOutput, StackError>>,
) -> Result<WindowOutput, StackError> {
    h.join()
        .map_err(|_| StackError::Writer("panicked while writing a stack".into()))?
}

/// Reduces one window (the image is made by [`Pending::finish`]); `None` when none of its
/// frames could be used.
pub fn reduce_window(
    journal: &Journal,
    all: &[FrameRef],
    w: &Window,
    cfg: &StackConfig,
    progress: &(dyn Fn(StackEvent<'_>) + Sync),
) -> Option<(Pending, OutputMeta)> {
    let _pools = PoolScope::enter();
    let skipped: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let on_skip = |d: &Damage| {
        if let Ok(mut s) = skipped.lock() {
            s.push(d.seq.unwrap_or(u64::MAX));
        }
        progress(StackEvent::Skipped(d));
    };
    let on_frame = || progress(StackEvent::Frame);
    let src = JournalFrames {
        journal,
        frames: w.frames.iter().map(|&i| all[i]).collect(),
        calibration: &cfg.calibration,
        masks: cfg.masks.as_deref(),
        on_skip: &on_skip,
        on_frame: &on_frame,
    };
    let reduced = reduce_pending(&src, src.frames.len(), cfg.mode);
    let refs = src.frames.clone();
    let img = reduced.image?;
    drop(src);
    let skipped = skipped.into_inner().unwrap_or_default();
    let used = refs.iter().enumerate().filter(|(i, r)| {
        !skipped.contains(&r.entry.seq) && reduced.mismatched.binary_search(i).is_err()
    });
    let mut meta = OutputMeta::new(cfg.mode.name());
    meta.start_utc_ns = w.start_ns;
    meta.end_utc_ns = w.end_ns;
    meta.frames = reduced.frames;
    meta.exposure_total_us = used.map(|(_, r)| u64::from(r.entry.exposure_us)).sum();
    meta.rejected = w.rejected;
    meta.partial = w.partial || !skipped.is_empty() || !reduced.mismatched.is_empty();
    meta.cfa = img.shape().cfa.name().map(str::to_string);
    meta.sidecar = cfg.sidecar;
    Some((img, meta))
}

/// Writes one stack: FITS raw (or debayered), anything else rendered for display.
pub fn write_stack(
    path: &Path,
    img: &Image16,
    cfg: &StackConfig,
    meta: &OutputMeta,
) -> Result<(), OutputError> {
    let captioned;
    let meta = match &cfg.caption {
        Some(site) if meta.marks.caption.is_none() => {
            let mut m = meta.clone();
            m.marks.caption = Some(crate::caption::stack_lines(&m, Some(site)));
            captioned = m;
            &captioned
        }
        _ => meta,
    };
    if cfg.format == OutputFormat::Fits {
        use crate::output::fits::FitsValue;
        // A sum fitted into 16 bits says how to get the sum back.
        let cards: Vec<(&str, FitsValue)> = meta
            .sum_fit
            .map(|f| {
                vec![
                    ("SUMSHIFT", FitsValue::Int(i64::from(f.shift))),
                    ("PEDESTAL", FitsValue::Int(f.pedestal as i64)),
                ]
            })
            .unwrap_or_default();
        if cfg.debayer_fits {
            write_fits(path, &debayer(img), meta, &cards)?;
        } else {
            write_fits(path, img, meta, &cards)?;
        }
        if meta.sidecar {
            crate::output::image::write_sidecar(path, meta)?;
        }
        Ok(())
    } else if let Some(rows) =
        Render8::new(img, &cfg.render).filter(|_| cfg.format == OutputFormat::Jpeg)
    {
        // Rendered straight to 8-bit rows, a strip at a time on every core: the same
        // file as rendering to 16-bit RGB first, without that 74 MB copy of the stack.
        write_rendered(path, img, &rows, meta)
    } else {
        write_image(path, &render(img, &cfg.render), cfg.format, meta)
    }
}

/// Writes `img` (a mosaic, or 1 or 3 channels) as a display JPEG through `map`, a tone map
/// estimated once for a whole sequence (timelapse frames, a growing star-trail
/// composite) so that a video keeps one look: the same file as JPEG-writing
/// `map.apply(&img)`, rendered a strip at a time ([`Render8::with_map`]) without a 16-bit
/// or 8-bit RGB copy of the image.
pub fn write_jpeg_with_map(
    path: &Path,
    img: &Image16,
    map: &ToneMap,
    meta: &OutputMeta,
) -> Result<(), OutputError> {
    match Render8::with_map(img, map) {
        Some(rows) => write_rendered(path, img, &rows, meta),
        None => write_image(path, &map.apply(img), OutputFormat::Jpeg, meta),
    }
}

/// The JPEG of `img` as `rows` renders it.
fn write_rendered(
    path: &Path,
    img: &Image16,
    rows: &Render8<'_>,
    meta: &OutputMeta,
) -> Result<(), OutputError> {
    let fill = |y: usize, out: &mut [u8]| rows.row(y, out);
    let channels = rows.channels() as u8;
    write_jpeg_rows(path, img.width, img.height, channels, &fill, meta)
}

/// [`reject_frames`] for a product made of one run of frames (trails, timelapse,
/// keogram): the frames kept, in their order, and how many were rejected.
pub fn reject_run(
    journal: &Journal,
    frames: &[FrameRef],
    calibration: &Calibration,
    progress: &(dyn Fn(StackEvent<'_>) + Sync),
) -> (Vec<FrameRef>, usize) {
    let _pools = PoolScope::enter();
    let mut one = [Window {
        start_ns: frames.first().map_or(0, |r| r.time_ns),
        end_ns: frames.last().map_or(1, |r| r.time_ns + 1),
        frames: (0..frames.len()).collect(),
        partial: false,
        rejected: 0,
    }];
    reject_frames(
        journal,
        frames,
        &mut one,
        calibration,
        &mut HashMap::new(),
        progress,
    );
    let [w] = one;
    (
        w.frames.iter().map(|&i| frames[i]).collect(),
        w.rejected as usize,
    )
}

/// Rejection ([`super::reject`]): statistics of every frame of `windows` not yet in
/// `cache` (keyed by seq; the STATS record its writer stored, or one decode each for
/// frames without one or when a calibration changes the frames), judged against every
/// frame in the cache (the night so far, when following a growing journal); rejected
/// frames are removed from `windows` (counted in [`Window::rejected`]) and reported.
pub fn reject_frames(
    journal: &Journal,
    all: &[FrameRef],
    windows: &mut [Window],
    calibration: &Calibration,
    cache: &mut HashMap<u64, FrameStats>,
    progress: &(dyn Fn(StackEvent<'_>) + Sync),
) {
    let _pools = PoolScope::enter();
    let in_windows: std::collections::HashSet<usize> = windows
        .iter()
        .flat_map(|w| w.frames.iter().copied())
        .collect();
    let todo: Vec<&FrameRef> = all
        .iter()
        .enumerate()
        .filter(|(i, r)| in_windows.contains(i) && !cache.contains_key(&r.entry.seq))
        .map(|(_, r)| r)
        .collect();
    // The statistics the writer stored, when frames are judged as recorded (a dark or
    // flat changes what they would measure); the others are measured here, once.
    let stored = calibration.is_empty();
    let fresh: Vec<(u64, FrameStats)> = todo
        .par_iter()
        .map_init(Pooled::take, |buf, r| {
            if let Some(s) = journal.stats(r).filter(|_| stored) {
                progress(StackEvent::Frame);
                return Some((r.entry.seq, FrameStats::from(&s)));
            }
            let out = JournalFrames::decode(journal, r, buf)
                .ok()
                .map(|(_, mut img)| {
                    calibration.apply(&mut img);
                    (r.entry.seq, frame_stats(&img))
                });
            progress(StackEvent::Frame);
            out
        })
        .flatten()
        .collect();
    cache.extend(fresh);
    let known: Vec<(usize, FrameStats)> = all
        .iter()
        .enumerate()
        .filter_map(|(i, r)| cache.get(&r.entry.seq).map(|s| (i, *s)))
        .collect();
    let stats: Vec<FrameStats> = known.iter().map(|k| k.1).collect();
    let verdicts = judge(&stats);
    let rejected: HashMap<usize, Rejection> = known
        .iter()
        .zip(verdicts)
        .filter_map(|((i, _), v)| v.map(|v| (*i, v)))
        .collect();
    for w in windows.iter_mut() {
        let before = w.frames.len();
        w.frames.retain(|i| !rejected.contains_key(i));
        w.rejected += (before - w.frames.len()) as u32;
    }
    let mut listed: Vec<(&usize, &Rejection)> = rejected
        .iter()
        .filter(|(i, _)| in_windows.contains(i))
        .collect();
    listed.sort_by_key(|(i, _)| **i);
    for (&i, &reason) in listed {
        progress(StackEvent::Rejected {
            seq: all[i].entry.seq,
            time_ns: all[i].time_ns,
            reason,
        });
    }
}
