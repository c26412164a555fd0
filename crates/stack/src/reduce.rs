//! Reduction: combining the frames of one window into one image, in the sensor's layout.
//!
//! Modes ([`Mode`]): `max` (star trails; exactly the per-pixel maximum), `mean` and `sum`
//! (exact integer sums, mean rounded to nearest), and `sigma`: a sigma-clipped mean in two
//! passes over the frames — pass 1 keeps per-pixel sums and sums of squares, which give
//! each pixel's mean `m` and standard deviation `s`; pass 2 averages only the samples in
//! `[m - k·s, m + k·s]`, so a plane, satellite or meteor present in one frame of many
//! vanishes. The frames are decoded twice rather than kept, so memory stays bounded.
//!
//! Memory and parallelism: frames are produced (decoded) on all cores with rayon; each
//! worker holds one frame at a time and merges it into ONE shared [`Accumulator`], split
//! into bands of rows, each behind its own mutex (lock a band, combine, unlock; workers
//! start at different bands so they rarely wait). Peak memory is about (threads + 1)
//! frames plus the accumulator, independent of how many frames a window holds. A source
//! that can ([`FrameFeed::stream`]: the journal's raw frames) decodes each frame
//! straight into the accumulator band by band ([`Accumulator::add_rows`]), so its
//! workers hold no decoded frame at all.
//! Combining is associative and commutative, so the result does not depend on the order
//! frames arrive in.
//!
//! Accumulators: `u16` for max; `u32` sums when `frames × max sample` fits, else `u64`;
//! `u64` sums of squares for sigma pass 1. Outputs keep the input's bit depth, except
//! `sum`, whose bit depth grows by `ceil(log2(frames))` (capped at 16; larger sums
//! saturate at 65535).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

pub use crate::pool::recycle;
use crate::pool::{give_back, spare, PoolScope};
use nightcap_frame::pixels::{max_for_depth, Image16};
use nightcap_frame::Cfa;

/// How frames are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Max,
    Mean,
    Sum,
    /// Sigma-clipped mean keeping samples within `k` standard deviations.
    Sigma {
        k: f32,
    },
}

/// Default clipping threshold of [`Mode::Sigma`].
pub const DEFAULT_SIGMA_K: f32 = 2.5;

impl Mode {
    /// `max`, `mean`, `sum`, `sigma`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Max => "max",
            Mode::Mean => "mean",
            Mode::Sum => "sum",
            Mode::Sigma { .. } => "sigma",
        }
    }
}

/// The geometry and layout all frames of one reduction share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub cfa: Cfa,
    pub bit_depth: u8,
}

impl Shape {
    pub fn of(img: &Image16) -> Shape {
        Shape {
            width: img.width,
            height: img.height,
            channels: img.channels,
            cfa: img.cfa,
            bit_depth: img.bit_depth,
        }
    }

    fn row_len(&self) -> usize {
        self.width as usize * usize::from(self.channels)
    }

    fn matches(&self, img: &Image16) -> bool {
        Shape::of(img) == *self && img.data.len() == self.row_len() * self.height as usize
    }

    fn image(&self, bit_depth: u8, data: Vec<u16>) -> Image16 {
        Image16 {
            width: self.width,
            height: self.height,
            channels: self.channels,
            cfa: self.cfa,
            bit_depth,
            data,
        }
    }
}

/// Sums that fit in `u32` stay there (twice the SIMD lanes, half the memory).
#[derive(Debug)]
enum Sums {
    U32(Vec<u32>),
    U64(Vec<u64>),
}

impl Sums {
    fn new(len: usize, wide: bool) -> Sums {
        if wide {
            Sums::U64(vec![0; len])
        } else {
            Sums::U32(vec![0; len])
        }
    }

    /// Adds `src` to the sums from index `at` on.
    fn add(&mut self, at: usize, src: &[u16]) {
        match self {
            Sums::U32(s) => s[at..]
                .iter_mut()
                .zip(src)
                .for_each(|(a, &b)| *a += u32::from(b)),
            Sums::U64(s) => s[at..]
                .iter_mut()
                .zip(src)
                .for_each(|(a, &b)| *a += u64::from(b)),
        }
    }

    /// Adds the samples inside `[lo, hi]` and counts them in `n` (all four slices start
    /// at the same pixel; the sums from index `at`).
    fn add_clipped(&mut self, at: usize, src: &[u16], lo: &[u16], hi: &[u16], n: &mut [u32]) {
        fn go<T: Copy + std::ops::AddAssign + From<u16>>(
            s: &mut [T],
            src: &[u16],
            lo: &[u16],
            hi: &[u16],
            n: &mut [u32],
        ) {
            for i in 0..s.len().min(src.len()).min(lo.len()) {
                let v = src[i];
                let inside = v >= lo[i] && v <= hi[i];
                s[i] += T::from(if inside { v } else { 0 });
                n[i] += u32::from(inside);
            }
        }
        match self {
            Sums::U32(s) => go(&mut s[at..], src, lo, hi, n),
            Sums::U64(s) => go(&mut s[at..], src, lo, hi, n),
        }
    }

    fn get(&self, i: usize) -> u64 {
        match self {
            Sums::U32(s) => u64::from(s[i]),
            Sums::U64(s) => s[i],
        }
    }

    fn len(&self) -> usize {
        match self {
            Sums::U32(s) => s.len(),
            Sums::U64(s) => s.len(),
        }
    }
}

/// What one band of the accumulator holds.
#[derive(Debug)]
enum Planes {
    /// Empty until a frame reaches the band: the frame that does sets it up, so that a
    /// new accumulator costs nothing and the band's first frame is copied, not compared
    /// with zeros.
    Max(Vec<u16>),
    Sum(Sums),
    /// Sigma pass 1: sums and sums of squares.
    Moments {
        sum: Sums,
        sq: Vec<u64>,
    },
    /// Sigma pass 2: per-pixel bounds, sums and counts of the samples inside them.
    Clipped {
        lo: Vec<u16>,
        hi: Vec<u16>,
        sum: Sums,
        n: Vec<u32>,
    },
}

/// Which statistic an [`Accumulator`] gathers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gather {
    Max,
    Sum,
    Moments,
}

/// A per-pixel accumulator shared by all workers, in row bands behind their own locks.
/// It covers rows `row0..row0 + rows` of frames of its shape (all rows, except for a
/// sigma reduction of frames too large to hold statistics for whole).
#[derive(Debug)]
pub struct Accumulator {
    shape: Shape,
    row0: usize,
    rows: usize,
    band_len: usize,
    bands: Vec<Mutex<Planes>>,
    frames: AtomicU32,
}

/// Rows per band: enough bands that workers rarely meet, each big enough to amortise
/// its lock, and at most about 128 KiB of samples, so that a band of rows decoded
/// straight into it ([`Accumulator::add_rows`]) is still in the core's cache.
fn band_rows(height: u32, row_len: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let cache = (BAND_SAMPLES / row_len.max(1)).max(8);
    (height as usize / (8 * threads)).clamp(8, 256).min(cache)
}

/// Samples of a band that fit a core's cache with room to spare.
const BAND_SAMPLES: usize = 64 * 1024;

impl Accumulator {
    /// An empty accumulator for frames of `shape`; `max_frames` bounds the frame count
    /// (it picks the sum width).
    pub fn new(shape: Shape, gather: Gather, max_frames: u64) -> Accumulator {
        Accumulator::for_rows(shape, gather, max_frames, 0..shape.height as usize)
    }

    /// An empty accumulator for rows `rows` of frames of `shape`: rows outside them are
    /// ignored when frames are added.
    fn for_rows(
        shape: Shape,
        gather: Gather,
        max_frames: u64,
        rows: std::ops::Range<usize>,
    ) -> Accumulator {
        let wide = max_frames.saturating_mul(u64::from(max_for_depth(shape.bit_depth)))
            > u64::from(u32::MAX);
        let (row0, rows) = (rows.start, rows.len());
        let band_len = band_rows(rows as u32, shape.row_len()) * shape.row_len();
        let total = shape.row_len() * rows;
        let bands = (0..total.div_ceil(band_len.max(1)))
            .map(|b| {
                let len = band_len.min(total - b * band_len);
                Mutex::new(match gather {
                    Gather::Max => Planes::Max(Vec::new()),
                    Gather::Sum => Planes::Sum(Sums::new(len, wide)),
                    Gather::Moments => Planes::Moments {
                        sum: Sums::new(len, wide),
                        sq: vec![0; len],
                    },
                })
            })
            .collect();
        Accumulator {
            shape,
            row0,
            rows,
            band_len,
            bands,
            frames: AtomicU32::new(0),
        }
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Frames combined so far.
    pub fn frames(&self) -> u32 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Combines one frame (any thread); `hint` picks the band to start at.
    pub fn add(&self, img: &Image16, hint: usize) -> Result<(), ShapeMismatch> {
        if !self.shape.matches(img) {
            return Err(ShapeMismatch {
                expected: self.shape,
                got: Shape::of(img),
            });
        }
        let n = self.bands.len();
        for k in 0..n {
            let b = (hint + k) % n;
            let src = &img.data[self.row0 * self.shape.row_len() + b * self.band_len..];
            // A poisoned band means another worker panicked mid-combine; the whole
            // reduction is lost then anyway, so keep going with its data.
            let mut band = self.bands[b].lock().unwrap_or_else(|p| p.into_inner());
            combine(&mut band, self.band_size(b), 0, src);
        }
        self.frames.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Rows per band: the best size of the row bands given to [`add_rows`](Self::add_rows).
    pub fn band_rows(&self) -> usize {
        self.band_len / self.shape.row_len().max(1)
    }

    /// Combines whole rows of a frame of this accumulator's shape, `first_row` on (any
    /// thread, any band size); samples beyond the last row are ignored. A frame is done
    /// when all its rows are in: then call [`frame_done`](Self::frame_done) once.
    pub fn add_rows(&self, first_row: usize, samples: &[u16]) {
        let row_len = self.shape.row_len();
        let total = row_len * self.rows;
        // Rows above this accumulator's first row are not its to keep.
        let skip = self.row0.saturating_sub(first_row).saturating_mul(row_len);
        let mut at = first_row.saturating_sub(self.row0).saturating_mul(row_len);
        let mut src = samples.get(skip..).unwrap_or_default();
        while at < total && !src.is_empty() {
            let (b, within) = (at / self.band_len, at % self.band_len);
            let mut band = self.bands[b].lock().unwrap_or_else(|p| p.into_inner());
            let take = src.len().min(self.band_len - within).min(total - at);
            combine(&mut band, self.band_size(b), within, &src[..take]);
            drop(band);
            src = &src[take..];
            at += take;
        }
    }

    /// Counts one frame whose rows went in through [`add_rows`](Self::add_rows).
    pub fn frame_done(&self) {
        self.frames.fetch_add(1, Ordering::Relaxed);
    }

    /// Samples in band `b` (the last band may be short).
    fn band_size(&self, b: usize) -> usize {
        let total = self.shape.row_len() * self.rows;
        self.band_len.min(total - b * self.band_len)
    }

    fn into_planes(self) -> Vec<Planes> {
        self.bands
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect()
    }

    /// The maximum (for [`Gather::Max`]), the rounded mean or the sum (for
    /// [`Gather::Sum`]), as an image.
    pub fn finish(self, mode: Mode) -> Image16 {
        self.finish_fitted(mode).0
    }

    /// [`finish`](Self::finish), and for [`Mode::Sum`] how the sum was fitted into 16 bits
    /// (see [`SumFit`]).
    pub fn finish_fitted(self, mode: Mode) -> (Image16, Option<SumFit>) {
        let (shape, self_rows) = (self.shape, self.rows);
        let n = u64::from(self.frames()).max(1);
        let sizes: Vec<usize> = (0..self.bands.len()).map(|b| self.band_size(b)).collect();
        let planes = self.into_planes();
        let fit = if mode == Mode::Sum {
            SumFit::of(&planes, n)
        } else {
            SumFit::default()
        };
        let mut data = spare(shape.row_len() * self_rows, false);
        for (planes, size) in planes.into_iter().zip(sizes) {
            match planes {
                // A band no frame reached (rows of a frame that failed part way): zeros.
                Planes::Max(v) if v.is_empty() => data.resize(data.len() + size, 0),
                Planes::Max(v) => {
                    data.extend_from_slice(&v);
                    give_back(v);
                }
                Planes::Sum(s) | Planes::Moments { sum: s, .. } if mode == Mode::Sum => {
                    let (pedestal, shift) = (fit.pedestal * (n - 1), fit.shift);
                    data.extend(
                        (0..s.len()).map(|i| (s.get(i).saturating_sub(pedestal) >> shift) as u16),
                    )
                }
                Planes::Sum(s) | Planes::Moments { sum: s, .. } => {
                    data.extend((0..s.len()).map(|i| ((s.get(i) + n / 2) / n) as u16))
                }
                Planes::Clipped { lo, hi, sum, n } => data.extend((0..lo.len()).map(|i| {
                    let c = u64::from(n[i]);
                    match (sum.get(i) + c / 2).checked_div(c) {
                        Some(v) => v as u16,
                        None => ((u32::from(lo[i]) + u32::from(hi[i])) / 2) as u16,
                    }
                })),
            }
        }
        if mode == Mode::Sum {
            let bits = 64 - fit.max_out.leading_zeros() as u8;
            (
                shape.image(bits.clamp(shape.bit_depth, 16), data),
                Some(fit),
            )
        } else {
            (shape.image(shape.bit_depth, data), None)
        }
    }

    /// Turns sigma pass 1 (moments) into the pass-2 accumulator with per-pixel bounds
    /// `mean ± k·std`.
    pub fn into_clipped(self, k: f32) -> Accumulator {
        let n = f64::from(self.frames().max(1));
        let max = f64::from(max_for_depth(self.shape.bit_depth));
        let (shape, row0, rows, band_len) = (self.shape, self.row0, self.rows, self.band_len);
        let bands = self
            .into_planes()
            .into_iter()
            .map(|p| {
                let Planes::Moments { sum, sq } = p else {
                    return Mutex::new(p);
                };
                let len = sum.len();
                let (mut lo, mut hi) = (vec![0u16; len], vec![0u16; len]);
                for i in 0..len {
                    let mean = sum.get(i) as f64 / n;
                    let var = (sq[i] as f64 / n - mean * mean).max(0.0);
                    let d = f64::from(k) * var.sqrt();
                    lo[i] = (mean - d).floor().clamp(0.0, max) as u16;
                    hi[i] = (mean + d).ceil().clamp(0.0, max) as u16;
                }
                let wide = matches!(sum, Sums::U64(_));
                Mutex::new(Planes::Clipped {
                    lo,
                    hi,
                    sum: Sums::new(len, wide),
                    n: vec![0; len],
                })
            })
            .collect();
        Accumulator {
            shape,
            row0,
            rows,
            band_len,
            bands,
            frames: AtomicU32::new(0),
        }
    }
}

/// Combines `src` into a band's planes (of `len` samples) from sample `at` of the band on
/// (as far as the band reaches).
fn combine(band: &mut Planes, len: usize, at: usize, src: &[u16]) {
    match band {
        Planes::Max(acc) => {
            if acc.is_empty() {
                if at == 0 && src.len() >= len {
                    *acc = spare(len, false);
                    acc.extend_from_slice(&src[..len]);
                    return;
                }
                *acc = spare(len, true);
            }
            acc[at..]
                .iter_mut()
                .zip(src)
                .for_each(|(a, &b)| *a = (*a).max(b))
        }
        Planes::Sum(s) => s.add(at, src),
        Planes::Moments { sum, sq } => {
            sum.add(at, src);
            sq[at..]
                .iter_mut()
                .zip(src)
                .for_each(|(q, &b)| *q += u64::from(b) * u64::from(b));
        }
        Planes::Clipped { lo, hi, sum, n } => {
            sum.add_clipped(at, src, &lo[at..], &hi[at..], &mut n[at..])
        }
    }
}

/// A frame whose geometry differs from the first frame of its reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame is {}x{}x{} but the stack is {}x{}x{}", got.width, got.height, got.channels, expected.width, expected.height, expected.channels)]
pub struct ShapeMismatch {
    pub expected: Shape,
    pub got: Shape,
}

/// Where the frames of one reduction come from. Loading happens on rayon workers; each
/// keeps one `State` (decoder, buffers).
pub trait FrameFeed: Sync {
    type State: Send;
    fn state(&self) -> Self::State;
    /// Frame `index` (of `0..count`) for pass `pass` (0, or 1 for sigma's second pass),
    /// or `None` when it cannot be used (the source reports why, on pass 0). The frame
    /// may live in `state`, so a worker reuses one frame buffer for all its frames.
    fn load<'a>(
        &'a self,
        index: usize,
        pass: u8,
        state: &'a mut Self::State,
    ) -> Option<&'a Image16>;

    /// Combines frame `index` straight into the accumulator `acc` gives for its shape,
    /// without materialising the frame (e.g. decoding it band by band into
    /// [`Accumulator::add_rows`]). `None` when the source cannot do that for this frame
    /// (then the reduction uses [`load`](Self::load)); the default never can.
    fn stream<'a>(
        &self,
        _index: usize,
        _pass: u8,
        _state: &mut Self::State,
        _acc: &dyn Fn(Shape) -> &'a Accumulator,
    ) -> Option<Streamed> {
        None
    }
}

/// What [`FrameFeed::stream`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streamed {
    /// Every row went into the accumulator, and the frame was counted.
    Combined,
    /// The frame cannot be used (the source reports why, on pass 0); nothing went in.
    Unusable,
}

/// The result of one reduction: its image (`I`), or what makes it ([`Pending`]).
#[derive(Debug)]
pub struct Reduced<I = Image16> {
    /// `None` when no frame could be loaded.
    pub image: Option<I>,
    /// Frames combined (in the final pass).
    pub frames: u32,
    /// Indices of frames skipped because their shape differed from the first one.
    pub mismatched: Vec<usize>,
}

/// A reduction whose frames are all in but whose image is not made yet
/// ([`Pending::finish`], a copy of the whole image or a division per pixel): lets a
/// caller make it on another thread while the next reduction runs.
#[derive(Debug)]
pub struct Pending(Held);

#[derive(Debug)]
enum Held {
    Acc {
        acc: Accumulator,
        mode: Mode,
    },
    /// Made already (a sigma reduction in row windows).
    Image(Image16),
}

impl Pending {
    /// The shape of the image [`finish`](Self::finish) makes.
    pub fn shape(&self) -> Shape {
        match &self.0 {
            Held::Acc { acc, .. } => acc.shape(),
            Held::Image(img) => Shape::of(img),
        }
    }

    /// The stack's image.
    pub fn finish(self) -> Image16 {
        self.finish_fitted().0
    }

    /// The stack's image, and for `--mode sum` how it was fitted into 16 bits.
    pub fn finish_fitted(self) -> (Image16, Option<SumFit>) {
        match self.0 {
            Held::Acc { acc, mode } => acc.finish_fitted(mode),
            Held::Image(img) => (img, None),
        }
    }
}

/// Most bytes of sigma statistics held at once, in frames of 16-bit samples: frames
/// whose statistics (12 to 16 bytes a pixel, against a frame's 2) need more are reduced
/// in windows of rows, each window reading every frame twice more. Small frames (up to
/// [`SIGMA_FLOOR_BYTES`]) are never split.
pub const SIGMA_FRAMES: usize = 4;

/// Sigma statistics up to this size are held for the whole frame at once.
pub const SIGMA_FLOOR_BYTES: usize = 256 << 20;

/// Rows of frames of `shape` whose sigma statistics fit the budget (all of them for
/// frames up to about 16 MP).
fn sigma_rows(shape: Shape, max_frames: u64, budget: Option<usize>) -> usize {
    let wide =
        max_frames.saturating_mul(u64::from(max_for_depth(shape.bit_depth))) > u64::from(u32::MAX);
    let per_sample = if wide { 16 } else { 12 };
    let samples = shape.row_len() * shape.height as usize;
    let budget = budget.unwrap_or((SIGMA_FRAMES * 2 * samples).max(SIGMA_FLOOR_BYTES));
    let row_bytes = shape.row_len().max(1) * per_sample;
    (budget / row_bytes).clamp(1, shape.height.max(1) as usize)
}

/// How `--mode sum` fits a sum of `n` frames into 16-bit samples, by a rule simple enough
/// to undo: the sensor's pedestal of all frames but one is subtracted (the pedestal is
/// taken as the 0.1th percentile of the sums divided by `n`: the sensor's black level
/// plus the darkest sky), then, if the result still needs more than 16 bits, it is
/// shifted right by the fewest bits that make it fit. A sample `v` of the image stands for
/// the sum `(v << shift) + pedestal * (n - 1)`. Nothing clips at the top: a sum that
/// would is scaled, and the scale is written with the image (sidecar `sum_fit`, FITS
/// `SUMSHIFT`/`PEDESTAL`); at the bottom the few samples darker than the pedestal (about
/// 0.1 %, by its definition) become 0, as a display's black point would make them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SumFit {
    /// The per-frame pedestal removed from all frames but one, ADU.
    pub pedestal: u64,
    /// Bits the sum was shifted right by to fit 16 bits (0: not scaled).
    pub shift: u8,
    /// The largest sample after the fit.
    #[serde(skip, default)]
    pub max_out: u64,
}

impl SumFit {
    fn of(planes: &[Planes], n: u64) -> SumFit {
        let mut sample = Vec::new();
        let mut max = 0u64;
        for p in planes {
            if let Planes::Sum(s) | Planes::Moments { sum: s, .. } = p {
                for i in 0..s.len() {
                    let v = s.get(i);
                    max = max.max(v);
                    if i % 61 == 0 {
                        sample.push(v);
                    }
                }
            }
        }
        sample.sort_unstable();
        let low = sample.get(sample.len() / 1000).copied().unwrap_or(0);
        let pedestal = low / n.max(1);
        let above = max.saturating_sub(pedestal * (n.saturating_sub(1)));
        let shift = (64 - above.leading_zeros()).saturating_sub(16) as u8;
        SumFit {
            pedestal,
            shift,
            max_out: above >> shift,
        }
    }
}

/// [`reduce`] without making the image: `image` is what [`Pending::finish`] makes.
pub type ReducedPending = Reduced<Pending>;

/// Reduces frames `0..count` of `src` with `mode`, on all cores.
pub fn reduce<S: FrameFeed>(src: &S, count: usize, mode: Mode) -> Reduced {
    let _pools = PoolScope::enter();
    let r = reduce_pending(src, count, mode);
    Reduced {
        image: r.image.map(Pending::finish),
        frames: r.frames,
        mismatched: r.mismatched,
    }
}

/// [`reduce`], leaving the image to be made by the caller.
pub fn reduce_pending<S: FrameFeed>(src: &S, count: usize, mode: Mode) -> ReducedPending {
    let _pools = PoolScope::enter();
    reduce_within(src, count, mode, None)
}

/// [`reduce_pending`] with sigma statistics held to `sigma_budget` bytes (default: the
/// budget [`SIGMA_FRAMES`] states).
fn reduce_within<S: FrameFeed>(
    src: &S,
    count: usize,
    mode: Mode,
    sigma_budget: Option<usize>,
) -> ReducedPending {
    let gather = match mode {
        Mode::Max => Gather::Max,
        Mode::Mean | Mode::Sum => Gather::Sum,
        Mode::Sigma { .. } => Gather::Moments,
    };
    let first: OnceLock<Accumulator> = OnceLock::new();
    let mismatched = run_pass(src, count, 0, |shape| {
        first.get_or_init(|| {
            let rows = match gather {
                Gather::Moments => sigma_rows(shape, count as u64, sigma_budget),
                _ => shape.height as usize,
            };
            Accumulator::for_rows(shape, gather, count as u64, 0..rows)
        })
    });
    let Some(acc) = first.into_inner() else {
        return ReducedPending {
            image: None,
            frames: 0,
            mismatched,
        };
    };
    let held = match mode {
        Mode::Sigma { k } if acc.rows < acc.shape.height as usize => {
            sigma_in_windows(src, count, acc, k)
        }
        Mode::Sigma { k } => {
            let clipped = acc.into_clipped(k);
            run_pass(src, count, 1, |_| &clipped);
            (clipped.frames(), Held::Acc { acc: clipped, mode })
        }
        _ => (acc.frames(), Held::Acc { acc, mode }),
    };
    let (frames, held) = held;
    ReducedPending {
        image: (frames > 0).then_some(Pending(held)),
        frames,
        mismatched,
    }
}

/// Sigma for frames too large to hold statistics for whole ([`sigma_rows`]): `first`
/// holds the moments of the first window of rows; each window is clipped, made and
/// appended in turn, the next window's moments gathered in a pass of their own.
fn sigma_in_windows<S: FrameFeed>(
    src: &S,
    count: usize,
    first: Accumulator,
    k: f32,
) -> (u32, Held) {
    let (shape, window) = (first.shape, first.rows);
    let height = shape.height as usize;
    let mut data = Vec::with_capacity(shape.row_len() * height);
    let mut moments = first;
    let mut frames = 0;
    loop {
        let row0 = moments.row0 + moments.rows;
        let clipped = moments.into_clipped(k);
        run_pass(src, count, 1, |_| &clipped);
        frames = frames.max(clipped.frames());
        data.extend_from_slice(&clipped.finish(Mode::Sigma { k }).data);
        if row0 >= height {
            break;
        }
        moments = Accumulator::for_rows(
            shape,
            Gather::Moments,
            count as u64,
            row0..(row0 + window).min(height),
        );
        run_pass(src, count, 1, |_| &moments);
    }
    (frames, Held::Image(shape.image(shape.bit_depth, data)))
}

/// One pass over the frames; `acc` gives the accumulator for a frame of a shape (the
/// first frame to arrive creates it in pass 0). Returns the mismatched frames.
fn run_pass<'a, S: FrameFeed>(
    src: &S,
    count: usize,
    pass: u8,
    acc: impl Fn(Shape) -> &'a Accumulator + Sync,
) -> Vec<usize> {
    let mut bad: Vec<usize> = (0..count)
        .into_par_iter()
        .map_init(
            || src.state(),
            |state, i| {
                if src.stream(i, pass, state, &acc).is_some() {
                    return None;
                }
                let img = src.load(i, pass, state)?;
                let a = acc(Shape::of(img));
                a.add(img, i.wrapping_mul(7)).err().map(|_| i)
            },
        )
        .flatten()
        .collect();
    bad.sort_unstable();
    bad
}

/// A [`FrameFeed`] over images already in memory (tests, benches, small jobs).
pub struct InMemory<'a>(pub &'a [Image16]);

impl FrameFeed for InMemory<'_> {
    type State = ();
    fn state(&self) {}
    fn load<'a>(&'a self, index: usize, _pass: u8, _state: &'a mut ()) -> Option<&'a Image16> {
        self.0.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn img(w: u32, h: u32, data: Vec<u16>) -> Image16 {
        Image16 {
            width: w,
            height: h,
            channels: 1,
            cfa: Cfa::Rggb,
            bit_depth: 12,
            data,
        }
    }

    fn noise(seed: u64, len: usize) -> Vec<u16> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 4096) as u16
            })
            .collect()
    }

    fn frames(n: usize, w: u32, h: u32) -> Vec<Image16> {
        (0..n)
            .map(|i| img(w, h, noise(i as u64 + 1, (w * h) as usize)))
            .collect()
    }

    fn naive_max(f: &[Image16]) -> Vec<u16> {
        let mut out = vec![0u16; f[0].data.len()];
        for im in f {
            for (o, &v) in out.iter_mut().zip(&im.data) {
                *o = (*o).max(v);
            }
        }
        out
    }

    #[test]
    fn max_is_the_exact_per_pixel_maximum() {
        // 300 rows: several bands, the last one short.
        let f = frames(9, 37, 300);
        let r = reduce(&InMemory(&f), f.len(), Mode::Max);
        let out = r.image.unwrap();
        assert_eq!(r.frames, 9);
        assert_eq!(out.data, naive_max(&f));
        assert_eq!(
            (out.width, out.height, out.cfa, out.bit_depth),
            (37, 300, Cfa::Rggb, 12)
        );
    }

    #[test]
    fn recycled_buffers_carry_nothing_into_the_next_stack() {
        // A bright window, its image recycled, then a dark one of the same size: the
        // dark stack must not see a sample of the bright one (planes and image buffers
        // come back from the spare pool). Other tests share the pool, so only the
        // values are asserted, not which buffers were reused.
        let bright: Vec<Image16> = (0..3).map(|_| img(64, 300, vec![4095; 64 * 300])).collect();
        let dark = frames(4, 64, 300);
        for _ in 0..3 {
            let b = reduce(&InMemory(&bright), 3, Mode::Max).image.unwrap();
            assert!(b.data.iter().all(|&v| v == 4095));
            recycle(b);
            let d = reduce(&InMemory(&dark), 4, Mode::Max).image.unwrap();
            assert_eq!(d.data, naive_max(&dark));
            recycle(d);
        }
        assert!(
            crate::pool::SPARE
                .lock()
                .unwrap()
                .iter()
                .map(|v| v.capacity() * 2)
                .sum::<usize>()
                <= crate::pool::SPARE_BYTES
        );
    }

    #[test]
    fn long_sums_lose_the_pedestal_and_scale_instead_of_clipping() {
        // An hour of 12-bit frames on a 256-ADU pedestal with a sky of about 40 ADU and
        // one saturated star: the old sum clipped the sky itself at 65535.
        let frames: Vec<Image16> = (0..720)
            .map(|k| {
                let mut d: Vec<u16> = noise(k, 16 * 16)
                    .iter()
                    .map(|v| 256 + 30 + v % 20)
                    .collect();
                d[17] = 4095;
                img(16, 16, d)
            })
            .collect();
        let (out, fit) = reduce_pending(&InMemory(&frames), frames.len(), Mode::Sum)
            .image
            .unwrap()
            .finish_fitted();
        let fit = fit.unwrap();
        assert!(
            out.data.iter().filter(|&&v| v == 65535).count() <= 1,
            "clipped"
        );
        assert!(
            fit.shift > 0 && fit.pedestal >= 256 && fit.pedestal < 300,
            "{fit:?}"
        );
        // Each sample gives its sum back to within the scale step.
        for i in 0..out.data.len() {
            let s: u64 = frames.iter().map(|f| u64::from(f.data[i])).sum();
            let back = (u64::from(out.data[i]) << fit.shift) + fit.pedestal * 719;
            if out.data[i] > 0 {
                assert!(
                    s.abs_diff(back) < 1 << fit.shift,
                    "pixel {i}: {s} vs {back}"
                );
            }
        }
        // The sky is not white: well below the star.
        assert!(out.data[0] < out.data[17] / 4);
    }

    #[test]
    fn mean_and_sum_are_exact() {
        let f = frames(5, 16, 40);
        let mean = reduce(&InMemory(&f), 5, Mode::Mean).image.unwrap();
        let (sum, fit) = reduce_pending(&InMemory(&f), 5, Mode::Sum)
            .image
            .unwrap()
            .finish_fitted();
        let fit = fit.expect("a sum says how it was fitted");
        assert_eq!(fit.shift, 0, "five 12-bit frames fit 16 bits");
        for i in 0..f[0].data.len() {
            let s: u64 = f.iter().map(|im| u64::from(im.data[i])).sum();
            assert_eq!(u64::from(mean.data[i]), (s + 2) / 5);
            // The pedestal of all frames but one is removed, exactly (the darkest samples,
            // below it, become 0).
            assert_eq!(u64::from(sum.data[i]), s.saturating_sub(fit.pedestal * 4));
        }
        assert!(sum.bit_depth <= 15);
        let constant: Vec<Image16> = (0..7).map(|_| img(8, 8, vec![1234; 64])).collect();
        let m = reduce(&InMemory(&constant), 7, Mode::Mean).image.unwrap();
        assert!(m.data.iter().all(|&v| v == 1234));
        let s = reduce(&InMemory(&constant), 7, Mode::Sigma { k: 2.5 })
            .image
            .unwrap();
        assert!(s.data.iter().all(|&v| v == 1234));
    }

    #[test]
    fn sigma_in_row_windows_equals_sigma_in_one_piece() {
        let f = frames(9, 37, 23);
        let whole = reduce(&InMemory(&f), 9, Mode::Sigma { k: 1.5 })
            .image
            .unwrap();
        // 12 bytes a sample of statistics: windows of 1, 2 and 5 rows (23 = 4 x 5 + 3).
        for rows in [1, 2, 5] {
            let r = reduce_within(
                &InMemory(&f),
                9,
                Mode::Sigma { k: 1.5 },
                Some(rows * 37 * 12),
            );
            assert_eq!(r.frames, 9);
            let img = r.image.unwrap().finish();
            assert_eq!((img.width, img.height), (37, 23));
            assert_eq!(img.data, whole.data, "windows of {rows} rows");
        }
    }

    #[test]
    fn a_row_window_keeps_exactly_its_rows_from_any_bands() {
        let f = frames(3, 11, 10);
        let shape = Shape::of(&f[0]);
        // Rows 3..7, as the rounded mean of the three frames.
        let want: Vec<u16> = (3 * 11..7 * 11)
            .map(|i| ((f.iter().map(|im| u32::from(im.data[i])).sum::<u32>() + 1) / 3) as u16)
            .collect();
        for band in [1, 3, 4, 10] {
            let acc = Accumulator::for_rows(shape, Gather::Sum, 3, 3..7);
            for im in &f {
                for (b, rows) in im.data.chunks(band * 11).enumerate() {
                    acc.add_rows(b * band, rows);
                }
                acc.frame_done();
            }
            assert_eq!(acc.finish(Mode::Mean).data, want, "bands of {band} rows");
        }
        let whole_frames = Accumulator::for_rows(shape, Gather::Sum, 3, 3..7);
        for im in &f {
            whole_frames.add(im, 1).unwrap();
        }
        assert_eq!(whole_frames.finish(Mode::Mean).data, want);
    }

    #[test]
    fn sigma_removes_a_single_frame_streak_that_max_keeps() {
        let (w, h) = (32u32, 32u32);
        let mut f: Vec<Image16> = (0..16)
            .map(|i| {
                let d = noise(i + 1, (w * h) as usize)
                    .into_iter()
                    .map(|v| 200 + v % 20)
                    .collect();
                img(w, h, d)
            })
            .collect();
        for x in 0..w as usize {
            f[5].data[10 * w as usize + x] = 4000; // a satellite streak along row 10
        }
        let max = reduce(&InMemory(&f), 16, Mode::Max).image.unwrap();
        let sig = reduce(&InMemory(&f), 16, Mode::Sigma { k: 2.5 })
            .image
            .unwrap();
        let mean = reduce(&InMemory(&f), 16, Mode::Mean).image.unwrap();
        for x in 0..w as usize {
            let i = 10 * w as usize + x;
            assert_eq!(max.data[i], 4000);
            assert!(
                mean.data[i] > 400,
                "a plain mean keeps a ghost of the streak"
            );
            assert!((200..220).contains(&sig.data[i]), "sigma: {}", sig.data[i]);
        }
    }

    #[test]
    fn two_half_windows_combine_to_the_whole() {
        let f = frames(12, 20, 20);
        let a = reduce(&InMemory(&f[..6]), 6, Mode::Max).image.unwrap();
        let b = reduce(&InMemory(&f[6..]), 6, Mode::Max).image.unwrap();
        let whole = reduce(&InMemory(&f), 12, Mode::Max).image.unwrap();
        let halves = reduce(&InMemory(&[a, b]), 2, Mode::Max).image.unwrap();
        assert_eq!(halves, whole);
    }

    #[test]
    fn mismatched_frames_are_skipped_and_nothing_gives_none() {
        let mut f = frames(3, 8, 8);
        f.push(img(4, 4, vec![9; 16]));
        let r = reduce(&InMemory(&f), 4, Mode::Max);
        assert_eq!(r.frames, 3);
        assert_eq!(r.mismatched, vec![3]);
        assert!(reduce(&InMemory(&[]), 0, Mode::Max).image.is_none());
    }

    /// Streams frames row band by row band (`band` rows at a time); every third frame
    /// goes through `load` instead.
    struct Streaming<'a> {
        frames: &'a [Image16],
        band: usize,
    }

    impl FrameFeed for Streaming<'_> {
        type State = ();
        fn state(&self) {}
        fn load<'a>(&'a self, index: usize, _: u8, _: &'a mut ()) -> Option<&'a Image16> {
            self.frames.get(index)
        }
        fn stream<'a>(
            &self,
            index: usize,
            _: u8,
            _: &mut (),
            acc: &dyn Fn(Shape) -> &'a Accumulator,
        ) -> Option<Streamed> {
            let img = self.frames.get(index).filter(|_| index % 3 != 1)?;
            let a = acc(Shape::of(img));
            if a.shape() != Shape::of(img) {
                return None;
            }
            let row = img.width as usize;
            for (k, rows) in img.data.chunks(self.band * row).enumerate() {
                a.add_rows(k * self.band, rows);
            }
            a.frame_done();
            Some(Streamed::Combined)
        }
    }

    #[test]
    fn bands_no_frame_reached_are_zero_and_first_frames_are_copied() {
        let (w, h) = (300usize, 40usize);
        let f = frames(2, w as u32, h as u32);
        let acc = Accumulator::new(Shape::of(&f[0]), Gather::Max, 2);
        let band = acc.band_rows();
        assert!(acc.bands.len() >= 3, "{} bands", acc.bands.len());
        // Band 0 whole from frame 0 (copied), one row of band 1 from frame 1 (the rest of
        // that band zero), nothing into the others.
        acc.add_rows(0, &f[0].data[..band * w]);
        acc.add_rows(band + 1, &f[1].data[(band + 1) * w..][..w]);
        acc.frame_done();
        let out = acc.finish(Mode::Max);
        let mut want = vec![0u16; w * h];
        want[..band * w].copy_from_slice(&f[0].data[..band * w]);
        want[(band + 1) * w..][..w].copy_from_slice(&f[1].data[(band + 1) * w..][..w]);
        assert!(out.data == want);
        // Whole frames into fresh bands: the first is copied, the second compared.
        let acc = Accumulator::new(Shape::of(&f[0]), Gather::Max, 2);
        acc.add(&f[1], 0).unwrap();
        acc.add(&f[0], 3).unwrap();
        assert_eq!(acc.finish(Mode::Max).data, naive_max(&f));
    }

    #[test]
    fn streamed_rows_reduce_like_whole_frames() {
        let mut f = frames(7, 23, 301);
        f.push(img(4, 4, vec![9; 16]));
        for band in [1, 5, 64, 1000] {
            let src = Streaming { frames: &f, band };
            for mode in [Mode::Max, Mode::Mean, Mode::Sum, Mode::Sigma { k: 1.5 }] {
                let want = reduce(&InMemory(&f), f.len(), mode);
                let got = reduce(&src, f.len(), mode);
                assert_eq!(got.image, want.image, "{mode:?} bands of {band}");
                assert_eq!((got.frames, got.mismatched), (7, vec![7]));
            }
        }
        assert_eq!(
            reduce(
                &Streaming {
                    frames: &f,
                    band: 3
                },
                7,
                Mode::Max
            )
            .image
            .unwrap()
            .data,
            naive_max(&f[..7])
        );
    }

    proptest! {
        #[test]
        fn reduction_does_not_depend_on_frame_order(
            seeds in proptest::collection::vec(1u64..1000, 1..8),
            rot in 0usize..8,
        ) {
            let f: Vec<Image16> = seeds.iter().map(|&s| img(9, 19, noise(s, 171))).collect();
            let mut g = f.clone();
            g.rotate_left(rot % f.len());
            g.reverse();
            for mode in [Mode::Max, Mode::Mean, Mode::Sigma { k: 2.0 }] {
                let a = reduce(&InMemory(&f), f.len(), mode).image.unwrap();
                let b = reduce(&InMemory(&g), g.len(), mode).image.unwrap();
                prop_assert_eq!(&a.data, &b.data);
            }
            prop_assert_eq!(reduce(&InMemory(&f), f.len(), Mode::Max).image.unwrap().data, naive_max(&f));
        }
    }
}
