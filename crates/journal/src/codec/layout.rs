//! Geometry of a frame as the transforms see it: lines, samples per line, padding, and
//! the transformed stream's length.

use super::*;

/// How a sample transform sees a frame: `height` lines of `stride` bytes, each holding
/// `samples` 16-bit samples (in `line_bytes` bytes) followed by `stride - line_bytes`
/// padding bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub(super) packing: Packing,
    pub(super) height: usize,
    pub(super) stride: usize,
    pub(super) line_bytes: usize,
    pub(super) samples: usize,
    /// Distance to the nearest same-colour sample on a line, and between same-colour lines.
    pub(super) dist: usize,
}

impl Layout {
    /// The layout of a sample transform for a frame of `len` bytes, if it fits.
    pub(super) fn of(format: &PixelFormat, len: usize) -> Option<Layout> {
        let groups = |n: u32| format.width.div_ceil(n) as usize;
        let samples = match format.packing {
            Packing::U16Le => format.width as usize,
            Packing::Csi2P10 => groups(4) * 4,
            Packing::Csi2P12 => groups(2) * 2,
            _ => return None,
        };
        let line_bytes = usize::try_from(format.packing.line_bytes(format.width)?).ok()?;
        let (stride, height) = (format.stride as usize, format.height as usize);
        if samples == 0 || height == 0 || stride < line_bytes || stride.checked_mul(height)? != len
        {
            return None;
        }
        let dist = if format.cfa == Cfa::None { 1 } else { 2 };
        Some(Layout {
            packing: format.packing,
            height,
            stride,
            line_bytes,
            samples,
            dist,
        })
    }

    /// Whether every sample has at most 12 bits (CSI-2 packings), so sums of four fit `u16`.
    pub(super) fn narrow(&self) -> bool {
        matches!(self.packing, Packing::Csi2P10 | Packing::Csi2P12)
    }

    pub(super) fn sample_count(&self) -> usize {
        self.samples * self.height
    }

    pub(super) fn pad(&self) -> usize {
        self.stride - self.line_bytes
    }

    /// Bytes of the transformed stream: two sample planes, then the padding of every line.
    pub(super) fn stream_len(&self) -> usize {
        2 * self.sample_count() + self.pad() * self.height
    }
}

/// The byte distance of [`Transform::Delta8`] for `format`, if it is an 8-bit packing.
pub(super) fn delta8_distance(format: &PixelFormat) -> Option<usize> {
    match format.packing {
        Packing::U8 if format.cfa == Cfa::None => Some(1),
        Packing::U8 => Some(2),
        Packing::Rgb24 => Some(3),
        Packing::Yuyv => Some(4),
        _ => None,
    }
}

/// Length of the transformed stream of a `len`-byte frame, or why the transform does not fit.
pub(super) fn transformed_len(
    t: Transform,
    format: &PixelFormat,
    len: usize,
) -> Result<usize, CodecError> {
    let fits = match t {
        Transform::None | Transform::Shuffle16 => Some(len),
        Transform::Delta8 => delta8_distance(format).map(|_| len),
        Transform::Left16 | Transform::Up3 => Layout::of(format, len).map(|l| l.stream_len()),
    };
    fits.ok_or(CodecError::TransformDoesNotFit {
        transform: t,
        packing: format.packing,
        stride: format.stride,
        height: format.height,
        len,
    })
}
