//! The encoder: a frame's bytes to a payload (transform, then zstd with its checksum),
//! falling back to no transform when one does not fit the frame.

use super::*;

/// Encodes frames into payloads; keeps one zstd compression context. One per worker.
pub struct Encoder {
    pub(super) level: i32,
    /// Created on first use so that [`Encoder::new`] cannot fail.
    pub(super) cctx: Option<Compressor<'static>>,
    /// The level last given to `cctx`.
    pub(super) cctx_level: i32,
    /// The whole transformed stream, for the byte transforms only.
    pub(super) scratch: Vec<u8>,
    /// What the sample transforms keep while their stream goes to zstd.
    pub(super) planes: Planes,
    pub(super) rows: RowRing,
}

/// Buffers of the streamed sample transforms ([`compress_samples`]): the low-byte plane
/// goes to zstd a few lines at a time, the high-byte plane and the line padding (which
/// follow the whole low plane in the stream) are kept until it is done.
#[derive(Debug, Default)]
pub(super) struct Planes {
    pub(super) chunk: Vec<u8>,
    pub(super) hi: Vec<u8>,
    /// One line of the high plane, when it goes into the frame's own bytes.
    pub(super) line_hi: Vec<u8>,
    pub(super) pad: Vec<u8>,
}

/// Bytes of low-plane samples handed to zstd at once: small enough to stay in the cache.
pub(super) const LO_CHUNK: usize = 128 << 10;

impl Encoder {
    /// An encoder at zstd `level`: 0 stores frames uncompressed and untransformed, negative
    /// levels are zstd's fast levels, levels outside zstd's range are clamped to it.
    pub fn new(level: i32) -> Encoder {
        Encoder {
            level: clamp_level(level),
            cctx: None,
            cctx_level: i32::MIN,
            scratch: Vec::new(),
            planes: Planes::default(),
            rows: RowRing::default(),
        }
    }

    /// The current level (after clamping).
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Changes the level for the next frames (the capture pipeline lowers it when behind).
    pub fn set_level(&mut self, level: i32) {
        self.level = clamp_level(level);
    }

    /// The spec [`encode`](Self::encode) tries first for a frame of `len` bytes.
    pub fn choose(&self, format: &PixelFormat, len: usize) -> CodecSpec {
        if self.level == 0 {
            return CodecSpec::STORED;
        }
        let preferred = default_transform(format);
        let transform = if preferred.fits(format, len) {
            preferred
        } else {
            Transform::None
        };
        CodecSpec {
            transform,
            compression: Compression::Zstd,
        }
    }

    /// Encodes one frame's exact bytes with the default transform for its format into `out`
    /// (cleared first). If compression does not make the frame smaller, it is stored as is.
    pub fn encode(
        &mut self,
        format: &PixelFormat,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<CodecSpec, CodecError> {
        let spec = self.choose(format, raw.len());
        self.encode_with(spec, format, raw, out)?;
        if spec.compression == Compression::Zstd && out.len() >= raw.len() {
            out.clear();
            out.extend_from_slice(raw);
            return Ok(CodecSpec::STORED);
        }
        Ok(spec)
    }

    /// [`encode`](Self::encode) for a caller that no longer needs the frame's bytes (the
    /// capture workers): the sample transforms then keep their high-byte plane in the
    /// frame's already-read bytes instead of a buffer of their own (11.8 MiB for a 12 MP
    /// frame, per worker). Afterwards `raw` holds unspecified bytes. The payload is exactly
    /// what [`encode`](Self::encode) writes, including the stored fallback (restored by
    /// decoding the payload when compression did not make the frame smaller).
    pub fn encode_in_place(
        &mut self,
        format: &PixelFormat,
        raw: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<CodecSpec, CodecError> {
        let spec = self.choose(format, raw.len());
        let sampled = matches!(spec.transform, Transform::Left16 | Transform::Up3);
        if spec.compression != Compression::Zstd || !sampled {
            return self.encode(format, raw, out);
        }
        out.clear();
        let raw_len = raw.len();
        self.encode_samples(spec.transform, format, Source::Scratch(raw), out)?;
        if out.len() >= raw_len {
            // Not smaller: the frame is stored as is, and its bytes come back from the
            // payload (rare: pure noise at full scale).
            let mut restored = Vec::new();
            Decoder::new().decode(spec, format, out, raw_len, &mut restored)?;
            *out = restored;
            return Ok(CodecSpec::STORED);
        }
        Ok(spec)
    }

    /// Encodes with an explicit spec (tests, benches, re-encoding). Fails with
    /// [`CodecError::TransformDoesNotFit`] if the transform cannot represent this frame.
    /// A zstd spec is compressed even when the encoder's level is 0 (then at level 1).
    ///
    /// The sample transforms ([`Transform::Left16`], [`Transform::Up3`]) are streamed into
    /// zstd: their transformed stream (1.33 × a CSI-2 RAW12 frame) is never held whole.
    pub fn encode_with(
        &mut self,
        spec: CodecSpec,
        format: &PixelFormat,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        out.clear();
        let t = spec.transform;
        if spec.compression == Compression::Stored {
            return match t {
                Transform::None => {
                    out.extend_from_slice(raw);
                    Ok(())
                }
                _ => forward(t, format, raw, out, &mut self.rows),
            };
        }
        let stream: &[u8] = match t {
            Transform::None => raw,
            Transform::Left16 | Transform::Up3 => {
                return self.encode_samples(t, format, Source::Kept(raw), out);
            }
            Transform::Shuffle16 | Transform::Delta8 => {
                forward(t, format, raw, &mut self.scratch, &mut self.rows)?;
                &self.scratch
            }
        };
        let level = if self.level == 0 { 1 } else { self.level };
        let cctx = compressor(&mut self.cctx, &mut self.cctx_level, level)?;
        out.reserve(zstd::zstd_safe::compress_bound(stream.len()));
        cctx.compress_to_buffer(stream, out)
            .map_err(|e| CodecError::Zstd {
                op: "compress",
                message: e.to_string(),
            })?;
        Ok(())
    }

    /// Streams sample transform `t` of `raw` into zstd (see [`compress_samples`]),
    /// appending the frame to `out`.
    pub(super) fn encode_samples(
        &mut self,
        t: Transform,
        format: &PixelFormat,
        raw: Source<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let len = raw.bytes().len();
        transformed_len(t, format, len)?;
        let layout = Layout::of(format, len).ok_or(CodecError::Corrupt {
            reason: "frame layout changed while encoding",
        })?;
        let level = if self.level == 0 { 1 } else { self.level };
        let cctx = compressor(&mut self.cctx, &mut self.cctx_level, level)?;
        let (planes, rows) = (&mut self.planes, &mut self.rows);
        compress_samples(cctx, Predictor::of(t), &layout, raw, planes, rows, out)
    }
}

impl Default for Encoder {
    /// An encoder at zstd level 1, the capture default.
    fn default() -> Encoder {
        Encoder::new(1)
    }
}

pub(super) fn clamp_level(level: i32) -> i32 {
    level.clamp(
        zstd::zstd_safe::min_c_level(),
        zstd::zstd_safe::max_c_level(),
    )
}

/// The encoder's zstd context at `level`, created on first use with the checksum enabled.
pub(super) fn compressor<'a>(
    slot: &'a mut Option<Compressor<'static>>,
    current: &mut i32,
    level: i32,
) -> Result<&'a mut Compressor<'static>, CodecError> {
    let err = |e: std::io::Error| CodecError::Zstd {
        op: "set up compression",
        message: e.to_string(),
    };
    if slot.is_none() {
        let mut c = Compressor::new(level).map_err(err)?;
        c.include_checksum(true).map_err(err)?;
        c.include_contentsize(true).map_err(err)?;
        *current = level;
        *slot = Some(c);
    }
    let Some(c) = slot.as_mut() else {
        unreachable!("the compressor was created above")
    };
    if *current != level {
        c.set_compression_level(level).map_err(err)?;
        *current = level;
    }
    Ok(c)
}

pub(super) fn zstd_error(op: &'static str) -> impl Fn(usize) -> CodecError {
    move |code| CodecError::Zstd {
        op,
        message: zstd::zstd_safe::get_error_name(code).to_string(),
    }
}

/// The frame a sample transform reads: kept intact, or usable as scratch once read.
pub(super) enum Source<'a> {
    Kept(&'a [u8]),
    /// The high-byte plane is written into the frame's own bytes as they are consumed:
    /// line `y`'s plane bytes `[y·samples, (y+1)·samples)` lie inside lines `0..=y`
    /// (samples ≤ line bytes ≤ stride) and never reach line `y`'s padding, so they only
    /// overwrite bytes already unpacked and copied.
    Scratch(&'a mut [u8]),
}

impl Source<'_> {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Source::Kept(b) => b,
            Source::Scratch(b) => b,
        }
    }
}

/// Compresses the stream of sample transform `p` of `raw` into `out` as one zstd frame,
/// byte for byte the frame of the whole stream: the frame header carries the stream's
/// length (pledged up front) and the content checksum. The low plane is transformed and
/// fed a few lines at a time; only the high plane (in `planes`, or in the frame's own
/// consumed bytes for [`Source::Scratch`]) and the padding wait in memory.
pub(super) fn compress_samples(
    cctx: &mut Compressor<'static>,
    p: Predictor,
    l: &Layout,
    mut raw: Source<'_>,
    planes: &mut Planes,
    rows: &mut RowRing,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let ctx = cctx.context_mut();
    ctx.reset(zstd::zstd_safe::ResetDirective::SessionOnly)
        .map_err(zstd_error("start a frame"))?;
    ctx.set_pledged_src_size(Some(l.stream_len() as u64))
        .map_err(zstd_error("start a frame"))?;
    // Output as large as the frame is stored instead (see `encode`), so this is the most
    // a caller that keeps `out` between frames ever needs: no regrowth, no copy. Pages
    // that are never written cost no memory.
    out.reserve(raw.bytes().len());
    let lines_per_chunk = (LO_CHUNK / l.samples).max(1);
    let in_place = matches!(raw, Source::Scratch(_));
    // Every byte is overwritten below: only growth needs zero-filling.
    planes.chunk.resize(lines_per_chunk * l.samples, 0);
    if in_place {
        planes.hi = Vec::new();
        planes.line_hi.resize(l.samples, 0);
    } else {
        planes.hi.resize(l.sample_count(), 0);
    }
    planes.pad.clear();
    rows.prepare(l.dist + 1, l.samples);
    let mut filled = 0;
    for y in 0..l.height {
        let lo = &mut planes.chunk[filled * l.samples..][..l.samples];
        let line = &raw.bytes()[y * l.stride..][..l.stride];
        let hi = if in_place {
            &mut planes.line_hi[..]
        } else {
            &mut planes.hi[y * l.samples..][..l.samples]
        };
        line_residuals(p, l, y, line, rows, lo, hi);
        planes.pad.extend_from_slice(&line[l.line_bytes..]);
        if let Source::Scratch(frame) = &mut raw {
            frame[y * l.samples..][..l.samples].copy_from_slice(&planes.line_hi);
        }
        filled += 1;
        if filled == lines_per_chunk {
            feed(ctx, &planes.chunk, false, out)?;
            filled = 0;
        }
    }
    feed(ctx, &planes.chunk[..filled * l.samples], false, out)?;
    match &raw {
        Source::Scratch(frame) => feed(ctx, &frame[..l.sample_count()], false, out)?,
        Source::Kept(_) => feed(ctx, &planes.hi, false, out)?,
    }
    feed(ctx, &planes.pad, true, out)
}

/// Hands `input` to the frame being compressed, appending what zstd emits to `out`;
/// `end`: it is the last input, and the frame is finished (epilogue and checksum).
pub(super) fn feed(
    ctx: &mut zstd::zstd_safe::CCtx<'static>,
    input: &[u8],
    end: bool,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    use zstd::zstd_safe::{zstd_sys::ZSTD_EndDirective, InBuffer, OutBuffer};
    let directive = if end {
        ZSTD_EndDirective::ZSTD_e_end
    } else {
        ZSTD_EndDirective::ZSTD_e_continue
    };
    let mut input = InBuffer::around(input);
    loop {
        // zstd writes at most one block (128 KiB and a header) per step.
        out.reserve(zstd::zstd_safe::CCtx::out_size());
        let mut output = OutBuffer::around_pos(out, out.len());
        let left = ctx
            .compress_stream2(&mut output, &mut input, directive)
            .map_err(zstd_error("compress"))?;
        let done = if end {
            left == 0
        } else {
            input.pos() == input.src.len()
        };
        if done {
            return Ok(());
        }
    }
}
