//! Payload codecs of the journal: how the exact bytes of one frame become a record payload.
//!
//! A payload is an optional reversible pre-transform ([`Transform`]) followed by an optional
//! compression ([`Compression`]); each FRAME record names both with one byte each. The
//! normative description (byte layouts, predictors, zstd settings) is `formats/codecs.md`;
//! this module is its implementation and the two must agree.
//!
//! Promises:
//! - **Lossless for every input.** `decode(encode(x)) == x` bit for bit, whatever the bytes:
//!   line padding, the padding samples of a partial CSI-2 group, frames whose length does
//!   not match their format (MJPEG, short frames). When a transform does not fit the
//!   frame, the encoder falls back to [`Transform::None`].
//! - **Verified.** Every zstd payload carries zstd's content checksum, and the decoder
//!   refuses a zstd frame without one.
//! - **Bounded.** Decoding never allocates more than the transformed length, which is
//!   derived from the caller's (already capped) `raw_len` and the format: at most
//!   1.6 × `raw_len` (CSI-2 RAW10 unpacked to 16-bit). A zstd frame that claims a larger
//!   content size fails before anything is allocated for it. No input makes it panic.
//!
//! Encoders and decoders keep their zstd contexts and scratch buffers between frames; they
//! are cheap to move but are meant to be owned by one worker thread each.

use nightcap_frame::pixels::{pack_csi2_10, pack_csi2_12, unpack_csi2_10, unpack_csi2_12};
use nightcap_frame::{Cfa, Packing, PixelFormat};
use zstd::bulk::{Compressor, Decompressor};

/// A reversible pre-transform applied to a frame's bytes before compression.
///
/// The on-disk codes are stable: a code, once written, always means the same layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// The frame's bytes unchanged.
    None,
    /// Byte shuffle of 16-bit words: all even bytes, then all odd bytes, then a final odd byte.
    Shuffle16,
    /// 8-bit left delta at the same-colour distance of the packing (1, 2, 3 or 4 bytes).
    Delta8,
    /// 16-bit samples, same-colour left-neighbour prediction, zigzag, byte shuffle.
    Left16,
    /// 16-bit samples, prediction by the [1 2 1]/4-weighted same-colour neighbours on the
    /// same-colour line above, zigzag, byte shuffle.
    Up3,
}

impl Transform {
    /// Every transform, in code order.
    pub const ALL: [Transform; 5] = [
        Transform::None,
        Transform::Shuffle16,
        Transform::Delta8,
        Transform::Left16,
        Transform::Up3,
    ];

    /// The on-disk code (`transform` byte of a FRAME record).
    pub fn code(self) -> u8 {
        match self {
            Transform::None => 0,
            Transform::Shuffle16 => 1,
            Transform::Delta8 => 2,
            Transform::Left16 => 3,
            Transform::Up3 => 4,
        }
    }

    /// The transform with this on-disk code, if it is one.
    pub fn from_code(code: u8) -> Option<Transform> {
        Transform::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Short stable name, for logs, `inspect` output and bench labels.
    pub fn name(self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Shuffle16 => "shuffle16",
            Transform::Delta8 => "delta8",
            Transform::Left16 => "left16",
            Transform::Up3 => "up3",
        }
    }

    /// Whether this transform can encode a frame of `len` bytes in `format`. [`None`],
    /// [`Shuffle16`] fit everything; [`Delta8`] fits the 8-bit packings; the sample
    /// transforms need a raw packing and exactly `stride * height` bytes.
    ///
    /// [`None`]: Transform::None
    /// [`Shuffle16`]: Transform::Shuffle16
    /// [`Delta8`]: Transform::Delta8
    pub fn fits(self, format: &PixelFormat, len: usize) -> bool {
        transformed_len(self, format, len).is_ok()
    }
}

/// How the (transformed) bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// As they are.
    Stored,
    /// One zstd frame with content size and content checksum.
    Zstd,
}

impl Compression {
    /// The on-disk code (`compression` byte of a FRAME record).
    pub fn code(self) -> u8 {
        match self {
            Compression::Stored => 0,
            Compression::Zstd => 1,
        }
    }

    /// The compression with this on-disk code, if it is one.
    pub fn from_code(code: u8) -> Option<Compression> {
        match code {
            0 => Some(Compression::Stored),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Short stable name ("stored", "zstd").
    pub fn name(self) -> &'static str {
        match self {
            Compression::Stored => "stored",
            Compression::Zstd => "zstd",
        }
    }
}

/// What was applied to one frame: the two codec bytes of its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecSpec {
    /// The transform applied before compression.
    pub transform: Transform,
    /// The compression applied last.
    pub compression: Compression,
}

impl CodecSpec {
    /// The frame's bytes, stored as they are.
    pub const STORED: CodecSpec = CodecSpec {
        transform: Transform::None,
        compression: Compression::Stored,
    };

    /// The spec named by the two record bytes.
    pub fn from_codes(transform: u8, compression: u8) -> Result<CodecSpec, CodecError> {
        Ok(CodecSpec {
            transform: Transform::from_code(transform)
                .ok_or(CodecError::UnknownTransform(transform))?,
            compression: Compression::from_code(compression)
                .ok_or(CodecError::UnknownCompression(compression))?,
        })
    }

    /// The two record bytes `(transform, compression)`.
    pub fn codes(self) -> (u8, u8) {
        (self.transform.code(), self.compression.code())
    }
}

/// Why a payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A transform code this reader does not know.
    #[error("unknown transform code {0}: the journal was written by a newer nightcap; upgrade to read it")]
    UnknownTransform(u8),
    /// A compression code this reader does not know.
    #[error("unknown compression code {0}: the journal was written by a newer nightcap; upgrade to read it")]
    UnknownCompression(u8),
    #[error(
        "transform {} does not fit a {packing:?} frame of {len} bytes (stride {stride} x height {height}); \
         the record is corrupt or names the wrong format",
        .transform.name()
    )]
    /// A transform was asked of a frame it cannot apply to.
    TransformDoesNotFit {
        /// The transform.
        transform: Transform,
        /// The frame's packing.
        packing: Packing,
        /// Bytes per line.
        stride: u32,
        /// Lines.
        height: u32,
        /// The frame's bytes.
        len: usize,
    },
    #[error(
        "{what} is {got} bytes but {expected} were expected; the payload is corrupt or truncated"
    )]
    /// A length in the payload disagrees with the format.
    SizeMismatch {
        /// Which length.
        what: &'static str,
        /// What the format needs.
        expected: usize,
        /// What was found.
        got: usize,
    },
    #[error("corrupt payload: {reason}")]
    /// The payload is inconsistent.
    Corrupt {
        /// What is wrong.
        reason: &'static str,
    },
    #[error("zstd failed to {op}: {message}")]
    /// zstd refused the data.
    Zstd {
        /// What zstd was asked to do.
        op: &'static str,
        /// zstd's message.
        message: String,
    },
}

/// zstd frame magic number, little-endian on disk.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// `Content_Checksum_flag` in the zstd `Frame_Header_Descriptor`.
const ZSTD_CHECKSUM_FLAG: u8 = 0x04;

/// The transform the writer picks for `format` when it fits the frame (see
/// `formats/codecs.md`, "Writer defaults"). Frames it does not fit get [`Transform::None`].
pub fn default_transform(format: &PixelFormat) -> Transform {
    match format.packing {
        Packing::U16Le | Packing::Csi2P10 | Packing::Csi2P12 => Transform::Up3,
        Packing::U8 | Packing::Yuyv | Packing::Rgb24 => Transform::Delta8,
        Packing::Mjpeg | Packing::Rgb48 => Transform::None,
    }
}

/// Encodes frames into payloads; keeps one zstd compression context. One per worker.
pub struct Encoder {
    level: i32,
    /// Created on first use so that [`Encoder::new`] cannot fail.
    cctx: Option<Compressor<'static>>,
    /// The level last given to `cctx`.
    cctx_level: i32,
    /// The whole transformed stream, for the byte transforms only.
    scratch: Vec<u8>,
    /// What the sample transforms keep while their stream goes to zstd.
    planes: Planes,
    rows: RowRing,
}

/// Buffers of the streamed sample transforms ([`compress_samples`]): the low-byte plane
/// goes to zstd a few lines at a time, the high-byte plane and the line padding (which
/// follow the whole low plane in the stream) are kept until it is done.
#[derive(Debug, Default)]
struct Planes {
    chunk: Vec<u8>,
    hi: Vec<u8>,
    /// One line of the high plane, when it goes into the frame's own bytes.
    line_hi: Vec<u8>,
    pad: Vec<u8>,
}

/// Bytes of low-plane samples handed to zstd at once: small enough to stay in the cache.
const LO_CHUNK: usize = 128 << 10;

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
    fn encode_samples(
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

fn clamp_level(level: i32) -> i32 {
    level.clamp(
        zstd::zstd_safe::min_c_level(),
        zstd::zstd_safe::max_c_level(),
    )
}

/// The encoder's zstd context at `level`, created on first use with the checksum enabled.
fn compressor<'a>(
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

fn zstd_error(op: &'static str) -> impl Fn(usize) -> CodecError {
    move |code| CodecError::Zstd {
        op,
        message: zstd::zstd_safe::get_error_name(code).to_string(),
    }
}

/// The frame a sample transform reads: kept intact, or usable as scratch once read.
enum Source<'a> {
    Kept(&'a [u8]),
    /// The high-byte plane is written into the frame's own bytes as they are consumed:
    /// line `y`'s plane bytes `[y·samples, (y+1)·samples)` lie inside lines `0..=y`
    /// (samples ≤ line bytes ≤ stride) and never reach line `y`'s padding, so they only
    /// overwrite bytes already unpacked and copied.
    Scratch(&'a mut [u8]),
}

impl Source<'_> {
    fn bytes(&self) -> &[u8] {
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
fn compress_samples(
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
fn feed(
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

#[path = "decode_rows.rs"]
mod decode_rows;
pub use decode_rows::rows_fit;

/// Decodes payloads back into frames; keeps a zstd decompression context and scratch buffers.
pub struct Decoder {
    dctx: Option<Decompressor<'static>>,
    scratch: Vec<u8>,
    rows: RowRing,
    /// Rows gathered for [`Decoder::decode_rows`]'s sink.
    band: Vec<u16>,
    /// Frame bytes of [`Decoder::decode_rows`] for codecs without a direct sample path.
    bytes: Vec<u8>,
}

impl Decoder {
    /// A decoder with empty buffers (they grow to the largest frame decoded).
    pub fn new() -> Decoder {
        Decoder {
            dctx: None,
            scratch: Vec::new(),
            rows: RowRing::default(),
            band: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// Decodes one payload into `out`, which then holds exactly the `raw_len` original
    /// bytes (on error it is left empty). `raw_len` comes from the record header and must
    /// already be capped by the caller; nothing larger than the transformed length it
    /// implies (at most 1.6 × `raw_len`) is allocated, whatever the payload claims.
    pub fn decode(
        &mut self,
        spec: CodecSpec,
        format: &PixelFormat,
        stored: &[u8],
        raw_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let result = self.decode_into(spec, format, stored, raw_len, out);
        if result.is_err() {
            out.clear();
        }
        result
    }

    /// [`decode`](Self::decode), leaving `out` unspecified on error. `out` is not cleared
    /// up front: the inverse transforms overwrite every byte, so keeping its length avoids
    /// zero-filling a whole frame per call.
    fn decode_into(
        &mut self,
        spec: CodecSpec,
        format: &PixelFormat,
        stored: &[u8],
        raw_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let stream_len = transformed_len(spec.transform, format, raw_len)?;
        if spec.transform == Transform::None {
            out.clear();
            return match spec.compression {
                Compression::Stored => {
                    check_len("stored payload", raw_len, stored.len())?;
                    out.extend_from_slice(stored);
                    Ok(())
                }
                Compression::Zstd => decompress(&mut self.dctx, stored, raw_len, out),
            };
        }
        let stream = transformed_stream(
            &mut self.dctx,
            &mut self.scratch,
            spec.compression,
            stored,
            stream_len,
        )?;
        inverse(spec.transform, format, stream, raw_len, out, &mut self.rows)
    }
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

/// The transformed stream of `stored`: itself, or decompressed into `scratch`; checked
/// to be `stream_len` bytes.
fn transformed_stream<'a>(
    dctx: &mut Option<Decompressor<'static>>,
    scratch: &'a mut Vec<u8>,
    compression: Compression,
    stored: &'a [u8],
    stream_len: usize,
) -> Result<&'a [u8], CodecError> {
    let stream: &[u8] = match compression {
        Compression::Stored => stored,
        Compression::Zstd => {
            decompress(dctx, stored, stream_len, scratch)?;
            scratch
        }
    };
    check_len("transformed stream", stream_len, stream.len())?;
    Ok(stream)
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), CodecError> {
    if expected == got {
        Ok(())
    } else {
        Err(CodecError::SizeMismatch {
            what,
            expected,
            got,
        })
    }
}

/// Decompresses exactly one checksummed zstd frame of exactly `len` bytes into `buf`.
fn decompress(
    slot: &mut Option<Decompressor<'static>>,
    src: &[u8],
    len: usize,
    buf: &mut Vec<u8>,
) -> Result<(), CodecError> {
    buf.clear();
    if src.len() < 5 || src[..4] != ZSTD_MAGIC {
        return Err(CodecError::Corrupt {
            reason: "payload does not start with a zstd frame",
        });
    }
    if src[4] & ZSTD_CHECKSUM_FLAG == 0 {
        return Err(CodecError::Corrupt {
            reason: "zstd frame has no content checksum",
        });
    }
    match zstd::zstd_safe::find_frame_compressed_size(src) {
        Ok(n) if n == src.len() => {}
        Ok(_) => {
            return Err(CodecError::Corrupt {
                reason: "bytes follow the zstd frame",
            })
        }
        Err(_) => {
            return Err(CodecError::Corrupt {
                reason: "zstd frame is truncated or malformed",
            })
        }
    }
    if slot.is_none() {
        *slot = Some(Decompressor::new().map_err(|e| CodecError::Zstd {
            op: "set up decompression",
            message: e.to_string(),
        })?);
    }
    let Some(dctx) = slot.as_mut() else {
        unreachable!("the decompressor was created above")
    };
    // The capacity bounds what zstd may write: a frame claiming more fails, unallocated.
    buf.reserve_exact(len);
    let got = dctx
        .decompress_to_buffer(src, buf)
        .map_err(|e| CodecError::Zstd {
            op: "decompress",
            message: e.to_string(),
        })?;
    check_len("decompressed payload", len, got)
}

// ---------------------------------------------------------------------------------------
// Geometry

/// How a sample transform sees a frame: `height` lines of `stride` bytes, each holding
/// `samples` 16-bit samples (in `line_bytes` bytes) followed by `stride - line_bytes`
/// padding bytes.
#[derive(Debug, Clone, Copy)]
struct Layout {
    packing: Packing,
    height: usize,
    stride: usize,
    line_bytes: usize,
    samples: usize,
    /// Distance to the nearest same-colour sample on a line, and between same-colour lines.
    dist: usize,
}

impl Layout {
    /// The layout of a sample transform for a frame of `len` bytes, if it fits.
    fn of(format: &PixelFormat, len: usize) -> Option<Layout> {
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
    fn narrow(&self) -> bool {
        matches!(self.packing, Packing::Csi2P10 | Packing::Csi2P12)
    }

    fn sample_count(&self) -> usize {
        self.samples * self.height
    }

    fn pad(&self) -> usize {
        self.stride - self.line_bytes
    }

    /// Bytes of the transformed stream: two sample planes, then the padding of every line.
    fn stream_len(&self) -> usize {
        2 * self.sample_count() + self.pad() * self.height
    }
}

/// The byte distance of [`Transform::Delta8`] for `format`, if it is an 8-bit packing.
fn delta8_distance(format: &PixelFormat) -> Option<usize> {
    match format.packing {
        Packing::U8 if format.cfa == Cfa::None => Some(1),
        Packing::U8 => Some(2),
        Packing::Rgb24 => Some(3),
        Packing::Yuyv => Some(4),
        _ => None,
    }
}

/// Length of the transformed stream of a `len`-byte frame, or why the transform does not fit.
fn transformed_len(t: Transform, format: &PixelFormat, len: usize) -> Result<usize, CodecError> {
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

// ---------------------------------------------------------------------------------------
// Transforms

/// Applies transform `t` (not `None`) to `raw`, writing the transformed stream to `out`.
fn forward(
    t: Transform,
    format: &PixelFormat,
    raw: &[u8],
    out: &mut Vec<u8>,
    rows: &mut RowRing,
) -> Result<(), CodecError> {
    let len = transformed_len(t, format, raw.len())?;
    // Every byte is overwritten below: only growth needs zero-filling.
    out.resize(len, 0);
    match t {
        Transform::None => out.copy_from_slice(raw),
        Transform::Shuffle16 => shuffle16(raw, out),
        Transform::Delta8 => delta8_forward(raw, out, delta8_distance(format).unwrap_or(1)),
        Transform::Left16 | Transform::Up3 => {
            let layout = Layout::of(format, raw.len()).ok_or(CodecError::Corrupt {
                reason: "frame layout changed while encoding",
            })?;
            samples_forward(Predictor::of(t), &layout, raw, out, rows);
        }
    }
    Ok(())
}

/// Inverts transform `t` (not `None`): `stream` (checked to have the transformed length of
/// `raw_len`) becomes the `raw_len` original bytes in `out`.
fn inverse(
    t: Transform,
    format: &PixelFormat,
    stream: &[u8],
    raw_len: usize,
    out: &mut Vec<u8>,
    rows: &mut RowRing,
) -> Result<(), CodecError> {
    // Every byte is overwritten below: only growth needs zero-filling.
    out.resize(raw_len, 0);
    match t {
        Transform::None => out.copy_from_slice(stream),
        Transform::Shuffle16 => unshuffle16(stream, out),
        Transform::Delta8 => delta8_inverse(stream, out, delta8_distance(format).unwrap_or(1)),
        Transform::Left16 | Transform::Up3 => {
            let layout = Layout::of(format, raw_len).ok_or(CodecError::Corrupt {
                reason: "frame layout does not fit the transform",
            })?;
            samples_inverse(Predictor::of(t), &layout, stream, out, rows);
        }
    }
    Ok(())
}

/// Splits 16-bit words into a plane of low bytes and a plane of high bytes; an odd final
/// byte goes last. `out.len() == raw.len()`.
fn shuffle16(raw: &[u8], out: &mut [u8]) {
    let n = raw.len() / 2;
    let (lo, rest) = out.split_at_mut(n);
    let (hi, tail) = rest.split_at_mut(n);
    split_planes(raw, lo, hi);
    tail.copy_from_slice(&raw[2 * n..]);
}

fn unshuffle16(stream: &[u8], out: &mut [u8]) {
    let n = stream.len() / 2;
    let (lo, rest) = stream.split_at(n);
    let (hi, tail) = rest.split_at(n);
    join_planes(lo, hi, &mut out[..2 * n]);
    out[2 * n..].copy_from_slice(tail);
}

fn split_planes(words: &[u8], lo: &mut [u8], hi: &mut [u8]) {
    // SWAR on 8-byte blocks: baseline x86-64 (SSE2) has no byte shuffle, and the compiler
    // leaves the plain byte loop scalar there; this runs at several GB/s on any CPU.
    let (words8, words_tail) = words.as_chunks::<8>();
    let (lo4, lo_tail) = lo.as_chunks_mut::<4>();
    let (hi4, hi_tail) = hi.as_chunks_mut::<4>();
    for ((w, l), h) in words8.iter().zip(lo4.iter_mut()).zip(hi4.iter_mut()) {
        let v = u64::from_le_bytes(*w);
        *l = gather_even_bytes(v).to_le_bytes();
        *h = gather_even_bytes(v >> 8).to_le_bytes();
    }
    for ((w, l), h) in words_tail.chunks_exact(2).zip(lo_tail).zip(hi_tail) {
        *l = w[0];
        *h = w[1];
    }
}

/// Bytes 0, 2, 4, 6 of `v`, packed into a `u32` (little-endian order kept).
#[inline(always)]
fn gather_even_bytes(v: u64) -> u32 {
    let v = v & 0x00ff_00ff_00ff_00ff;
    let v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    (v | (v >> 16)) as u32
}

/// Spreads the 4 bytes of `v` to bytes 0, 2, 4, 6 of a `u64`.
#[inline(always)]
fn spread_even_bytes(v: u32) -> u64 {
    let v = u64::from(v);
    let v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
    (v | (v << 8)) & 0x00ff_00ff_00ff_00ff
}

fn join_planes(lo: &[u8], hi: &[u8], words: &mut [u8]) {
    let (words8, words_tail) = words.as_chunks_mut::<8>();
    let (lo4, lo_tail) = lo.as_chunks::<4>();
    let (hi4, hi_tail) = hi.as_chunks::<4>();
    for ((w, l), h) in words8.iter_mut().zip(lo4).zip(hi4) {
        let v = spread_even_bytes(u32::from_le_bytes(*l))
            | (spread_even_bytes(u32::from_le_bytes(*h)) << 8);
        *w = v.to_le_bytes();
    }
    for ((w, &l), &h) in words_tail.chunks_exact_mut(2).zip(lo_tail).zip(hi_tail) {
        w[0] = l;
        w[1] = h;
    }
}

/// `out[i] = raw[i] - raw[i - d]` (mod 256); the first `d` bytes are copied.
fn delta8_forward(raw: &[u8], out: &mut [u8], d: usize) {
    let d = d.min(raw.len());
    out[..d].copy_from_slice(&raw[..d]);
    for ((o, &x), &left) in out[d..].iter_mut().zip(&raw[d..]).zip(raw) {
        *o = x.wrapping_sub(left);
    }
}

fn delta8_inverse(stream: &[u8], out: &mut [u8], d: usize) {
    match d {
        1 => running_sum::<1>(stream, out),
        2 => running_sum::<2>(stream, out),
        3 => running_sum::<3>(stream, out),
        _ => running_sum::<4>(stream, out),
    }
}

/// `out[i] = stream[i] + out[i - D]` (mod 256), with the `D` running sums in registers.
fn running_sum<const D: usize>(stream: &[u8], out: &mut [u8]) {
    let mut run = [0u8; D];
    let (blocks, tail) = stream.as_chunks::<D>();
    let (out_blocks, out_tail) = out.as_chunks_mut::<D>();
    for (s, o) in blocks.iter().zip(out_blocks) {
        for k in 0..D {
            run[k] = run[k].wrapping_add(s[k]);
        }
        *o = run;
    }
    for ((o, &s), r) in out_tail.iter_mut().zip(tail).zip(run) {
        *o = r.wrapping_add(s);
    }
}

/// Zigzag mapping of a wrapped 16-bit residual: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
#[inline(always)]
fn zigzag(r: u16) -> u16 {
    (r << 1) ^ ((r as i16) >> 15) as u16
}

#[inline(always)]
fn unzigzag(z: u16) -> u16 {
    (z >> 1) ^ 0u16.wrapping_sub(z & 1)
}

/// The predictor of a sample transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Predictor {
    /// The same-colour left neighbour.
    Left,
    /// `(u[x-d] + 2 u[x] + u[x+d] + 2) >> 2` on the same-colour line above.
    Up3,
}

impl Predictor {
    fn of(t: Transform) -> Predictor {
        match t {
            Transform::Up3 => Predictor::Up3,
            _ => Predictor::Left,
        }
    }
}

/// The last `dist + 1` lines of samples, reused between frames.
#[derive(Debug, Default)]
struct RowRing {
    buf: Vec<u16>,
}

impl RowRing {
    /// Room for `count` lines of `samples` samples each.
    fn prepare(&mut self, count: usize, samples: usize) {
        self.buf.clear();
        self.buf.resize(count * samples, 0);
    }

    /// Line `y`'s slot (mutable) and line `y - dist`'s slot, if `y >= dist`.
    fn cur_up(&mut self, y: usize, dist: usize, samples: usize) -> (&mut [u16], Option<&[u16]>) {
        let slots = dist + 1;
        let cur = y % slots;
        let (cur_slot, up_slot) = if y >= dist {
            (cur, Some((y - dist) % slots))
        } else {
            (cur, None)
        };
        let lines = &mut self.buf[..slots * samples];
        match up_slot {
            None => (&mut lines[cur_slot * samples..][..samples], None),
            Some(up) => {
                // Two distinct slots of one buffer: split so both can be borrowed.
                let (a, b) = lines.split_at_mut(cur_slot.max(up) * samples);
                let (low, high) = (
                    &mut a[cur_slot.min(up) * samples..][..samples],
                    &mut b[..samples],
                );
                if cur_slot < up {
                    (low, Some(&*high))
                } else {
                    (high, Some(&*low))
                }
            }
        }
    }
}

/// Unpacks the sample part of one line into `samples` (whole CSI-2 groups, so every bit
/// of the line's pixel bytes is kept), with [`nightcap_frame::pixels`]' unpacking.
fn unpack_groups(packing: Packing, line: &[u8], samples: &mut [u16]) {
    match packing {
        Packing::Csi2P10 => unpack_csi2_10(line, samples),
        Packing::Csi2P12 => unpack_csi2_12(line, samples),
        _ => {
            for (s, b) in samples.iter_mut().zip(line.chunks_exact(2)) {
                *s = u16::from_le_bytes([b[0], b[1]]);
            }
        }
    }
}

/// Inverse of [`unpack_groups`]. Samples above the packing's bit depth cannot occur in a
/// valid stream; their excess bits are dropped.
fn pack_groups(packing: Packing, samples: &[u16], line: &mut [u8]) {
    match packing {
        Packing::Csi2P10 => pack_csi2_10(samples, line),
        Packing::Csi2P12 => pack_csi2_12(samples, line),
        _ => {
            for (b, s) in line.chunks_exact_mut(2).zip(samples) {
                b.copy_from_slice(&s.to_le_bytes());
            }
        }
    }
}

fn samples_forward(p: Predictor, l: &Layout, raw: &[u8], out: &mut [u8], rows: &mut RowRing) {
    let n = l.sample_count();
    let (lo_plane, rest) = out.split_at_mut(n);
    let (hi_plane, pad_plane) = rest.split_at_mut(n);
    rows.prepare(l.dist + 1, l.samples);
    let planes = lo_plane
        .chunks_exact_mut(l.samples)
        .zip(hi_plane.chunks_exact_mut(l.samples));
    for (y, (line, (lo, hi))) in raw.chunks_exact(l.stride).zip(planes).enumerate() {
        line_residuals(p, l, y, line, rows, lo, hi);
        if l.pad() > 0 {
            pad_plane[y * l.pad()..][..l.pad()].copy_from_slice(&line[l.line_bytes..]);
        }
    }
}

/// The low and high residual bytes of line `y` (`line`: its `stride` bytes) under
/// predictor `p`; `rows` holds the lines above and takes this one.
fn line_residuals(
    p: Predictor,
    l: &Layout,
    y: usize,
    line: &[u8],
    rows: &mut RowRing,
    lo: &mut [u8],
    hi: &mut [u8],
) {
    let (cur, up) = rows.cur_up(y, l.dist, l.samples);
    unpack_groups(l.packing, &line[..l.line_bytes], cur);
    match (p, up) {
        (Predictor::Up3, Some(up)) if l.narrow() => up3_residuals::<true>(l.dist, cur, up, lo, hi),
        (Predictor::Up3, Some(up)) => up3_residuals::<false>(l.dist, cur, up, lo, hi),
        _ => left_residuals(l.dist, cur, up, lo, hi),
    }
}

/// Restores line `y`'s samples from its residuals (the inverse of [`line_residuals`]),
/// in `rows`, where the next lines find it; returns them.
fn line_restore<'r>(
    p: Predictor,
    l: &Layout,
    y: usize,
    lo: &[u8],
    hi: &[u8],
    rows: &'r mut RowRing,
) -> &'r [u16] {
    let (cur, up) = rows.cur_up(y, l.dist, l.samples);
    match (p, up) {
        (Predictor::Up3, Some(up)) if l.narrow() => up3_restore_narrow(l.dist, lo, hi, up, cur),
        (Predictor::Up3, Some(up)) => up3_restore_wide(l.dist, lo, hi, up, cur),
        _ => left_restore(l.dist, lo, hi, up, cur),
    }
    cur
}

/// [`up3_restore`] of samples of at most 12 bits, compiled also for AVX2 and chosen at run
/// time: the restore is the codec's own share of decoding (zstd is the rest), and AVX2's
/// 16 lanes take about 30 % off it, about 4 % off a frame's decode (measured on a 12 MP
/// night; reading a night on a desktop is where it counts).
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn up3_restore_narrow(d: usize, lo: &[u8], hi: &[u8], up: &[u16], cur: &mut [u16]) {
    up3_restore::<true>(d, lo, hi, up, cur)
}

/// [`up3_restore`] of samples of up to 16 bits, as [`up3_restore_narrow`].
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn up3_restore_wide(d: usize, lo: &[u8], hi: &[u8], up: &[u16], cur: &mut [u16]) {
    up3_restore::<false>(d, lo, hi, up, cur)
}

fn samples_inverse(p: Predictor, l: &Layout, stream: &[u8], out: &mut [u8], rows: &mut RowRing) {
    let n = l.sample_count();
    let (lo_plane, rest) = stream.split_at(n);
    let (hi_plane, pad_plane) = rest.split_at(n);
    rows.prepare(l.dist + 1, l.samples);
    let planes = lo_plane
        .chunks_exact(l.samples)
        .zip(hi_plane.chunks_exact(l.samples));
    for (y, (line, (lo, hi))) in out.chunks_exact_mut(l.stride).zip(planes).enumerate() {
        let cur = line_restore(p, l, y, lo, hi, rows);
        pack_groups(l.packing, cur, &mut line[..l.line_bytes]);
        if l.pad() > 0 {
            line[l.line_bytes..].copy_from_slice(&pad_plane[y * l.pad()..][..l.pad()]);
        }
    }
}

/// The [`Predictor::Up3`] prediction from the same-colour line above: the [1 2 1]/4
/// weighted mean of `a = up[x - d]`, `b = up[x]`, `c = up[x + d]`, rounded half up.
/// `NARROW`: samples have at most 12 bits (CSI-2), so the sum fits `u16` and a vector holds
/// twice as many lanes; it wraps only for a corrupt stored stream, whose output is garbage
/// anyway.
#[inline(always)]
fn smooth<const NARROW: bool>(a: u16, b: u16, c: u16) -> u16 {
    if NARROW {
        a.wrapping_add(b << 1).wrapping_add(c).wrapping_add(2) >> 2
    } else {
        ((u32::from(a) + 2 * u32::from(b) + u32::from(c) + 2) >> 2) as u16
    }
}

/// [`Predictor::Up3`] residuals of a line that has a line `d` above; where `x - d` or
/// `x + d` is outside the line the prediction is `up[x]`.
fn up3_residuals<const NARROW: bool>(
    d: usize,
    cur: &[u16],
    up: &[u16],
    lo: &mut [u8],
    hi: &mut [u8],
) {
    let n = cur.len();
    let edge = if n > 2 * d { d } else { n };
    let edges = (0..edge).chain(n.max(edge + d) - d..n);
    for x in edges {
        put(cur[x].wrapping_sub(up[x]), &mut lo[x], &mut hi[x]);
    }
    if edge == n {
        return;
    }
    let (a, b, c) = (&up[..n - 2 * d], &up[d..n - d], &up[2 * d..]);
    let mid = cur[d..n - d].iter().zip(a).zip(b).zip(c);
    for (((((&x, &a), &b), &c), l), h) in mid.zip(&mut lo[d..n - d]).zip(&mut hi[d..n - d]) {
        put(x.wrapping_sub(smooth::<NARROW>(a, b, c)), l, h);
    }
}

/// Inverse of [`up3_residuals`]: no dependency along the line, so it vectorises.
#[inline(always)]
fn up3_restore<const NARROW: bool>(d: usize, lo: &[u8], hi: &[u8], up: &[u16], cur: &mut [u16]) {
    let n = cur.len();
    let edge = if n > 2 * d { d } else { n };
    let edges = (0..edge).chain(n.max(edge + d) - d..n);
    for x in edges {
        cur[x] = residual(lo[x], hi[x]).wrapping_add(up[x]);
    }
    if edge == n {
        return;
    }
    let (a, b, c) = (&up[..n - 2 * d], &up[d..n - d], &up[2 * d..]);
    let mid = cur[d..n - d].iter_mut().zip(a).zip(b).zip(c);
    for (((((x, &a), &b), &c), &l), &h) in mid.zip(&lo[d..n - d]).zip(&hi[d..n - d]) {
        *x = residual(l, h).wrapping_add(smooth::<NARROW>(a, b, c));
    }
}

#[inline(always)]
fn put(residual: u16, lo: &mut u8, hi: &mut u8) {
    let z = zigzag(residual);
    *lo = z as u8;
    *hi = (z >> 8) as u8;
}

#[inline(always)]
fn residual(lo: u8, hi: u8) -> u16 {
    unzigzag(u16::from_le_bytes([lo, hi]))
}

/// [`Predictor::Left`] residuals of one line, and of the first lines of every predictor:
/// `cur[x - d]`; for the first `d` samples `up[x]`, or 0 on the first `d` lines.
fn left_residuals(d: usize, cur: &[u16], up: Option<&[u16]>, lo: &mut [u8], hi: &mut [u8]) {
    let d = d.min(cur.len());
    for x in 0..d {
        put(
            cur[x].wrapping_sub(up.map_or(0, |u| u[x])),
            &mut lo[x],
            &mut hi[x],
        );
    }
    let (lo, hi) = (&mut lo[d..], &mut hi[d..]);
    let (right, left) = (&cur[d..], &cur[..cur.len() - d]);
    for (((&x, &a), l), h) in right.iter().zip(left).zip(lo).zip(hi) {
        put(x.wrapping_sub(a), l, h);
    }
}

/// Inverse of [`left_residuals`].
fn left_restore(d: usize, lo: &[u8], hi: &[u8], up: Option<&[u16]>, cur: &mut [u16]) {
    let d = d.min(cur.len());
    for x in 0..d {
        cur[x] = residual(lo[x], hi[x]).wrapping_add(up.map_or(0, |u| u[x]));
    }
    if d == 2 {
        prefix_sum::<2>(lo, hi, cur);
    } else if d == 1 {
        prefix_sum::<1>(lo, hi, cur);
    }
}

/// The serial part of left decoding, `cur[x] = residual[x] + cur[x - D]` for `x >= D`
/// (`cur[..D]` already done), with the `D` running sums kept in registers.
fn prefix_sum<const D: usize>(lo: &[u8], hi: &[u8], cur: &mut [u16]) {
    let n = cur.len();
    if n <= D {
        return;
    }
    let mut run = [0u16; D];
    run.copy_from_slice(&cur[..D]);
    let (lo, hi) = (&lo[D..n], &hi[D..n]);
    let body = &mut cur[D..];
    let whole = body.len() / D * D;
    for (i, c) in body[..whole].chunks_exact_mut(D).enumerate() {
        for k in 0..D {
            run[k] = residual(lo[i * D + k], hi[i * D + k]).wrapping_add(run[k]);
            c[k] = run[k];
        }
    }
    for x in whole..body.len() {
        body[x] = residual(lo[x], hi[x]).wrapping_add(run[x - whole]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{synthetic_sky, XorShift};
    use nightcap_frame::pixels::{unpack_csi2_10, unpack_csi2_12};
    use proptest::prelude::*;

    const ALL_COMPRESSIONS: [Compression; 2] = [Compression::Stored, Compression::Zstd];

    fn format(
        packing: Packing,
        width: u32,
        height: u32,
        depth: u8,
        cfa: Cfa,
        pad: u32,
    ) -> PixelFormat {
        let stride = packing.line_bytes(width).unwrap_or(0) as u32 + pad;
        PixelFormat {
            fourcc: *b"TEST",
            width,
            height,
            stride: if packing == Packing::Mjpeg { 0 } else { stride },
            bit_depth: depth,
            cfa,
            packing,
        }
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = XorShift(seed | 1);
        (0..len).map(|_| rng.next_u64() as u8).collect()
    }

    /// Encodes with `spec` and decodes again, checking the bytes come back exactly.
    fn assert_round_trip(spec: CodecSpec, f: &PixelFormat, raw: &[u8]) {
        let mut payload = Vec::new();
        Encoder::new(3)
            .encode_with(spec, f, raw, &mut payload)
            .unwrap_or_else(|e| panic!("{spec:?} on {f}: {e}"));
        let mut back = Vec::new();
        Decoder::new()
            .decode(spec, f, &payload, raw.len(), &mut back)
            .unwrap_or_else(|e| panic!("{spec:?} on {f}: {e}"));
        assert!(
            back == raw,
            "{spec:?} on {f}: bytes differ after the round trip"
        );
    }

    /// Every transform that fits, with both compressions.
    fn assert_all_round_trip(f: &PixelFormat, raw: &[u8]) -> usize {
        let mut tried = 0;
        for transform in Transform::ALL.into_iter().filter(|t| t.fits(f, raw.len())) {
            for compression in ALL_COMPRESSIONS {
                assert_round_trip(
                    CodecSpec {
                        transform,
                        compression,
                    },
                    f,
                    raw,
                );
                tried += 1;
            }
        }
        tried
    }

    /// The formats of the brief: 8-bit, 16-bit words at 10/12/16 bits, CSI-2 RAW10/RAW12
    /// with line padding and widths that end in a partial group, YUYV, RGB24.
    fn raw_formats() -> Vec<PixelFormat> {
        vec![
            format(Packing::U8, 37, 9, 8, Cfa::Rggb, 3),
            format(Packing::U8, 16, 4, 8, Cfa::None, 0),
            format(Packing::U16Le, 33, 7, 10, Cfa::Bggr, 0),
            format(Packing::U16Le, 40, 6, 12, Cfa::Rggb, 6),
            format(Packing::U16Le, 17, 5, 16, Cfa::None, 2),
            format(Packing::Csi2P10, 4, 3, 10, Cfa::Grbg, 0),
            format(Packing::Csi2P10, 35, 8, 10, Cfa::Rggb, 5),
            format(Packing::Csi2P12, 2, 2, 12, Cfa::Rggb, 0),
            format(Packing::Csi2P12, 41, 9, 12, Cfa::Gbrg, 13),
            format(Packing::Csi2P12, 30, 4, 12, Cfa::None, 2),
        ]
    }

    /// The streamed sample transforms write one standard zstd frame of the whole transformed
    /// stream (the layout `formats/codecs.md` specifies), with its length in the header and
    /// the content checksum, as large as one-shot compression of that stream: on a frame of
    /// many zstd blocks, for both predictors, at two levels, with one encoder reused.
    /// (Not byte-identical: zstd's streaming match finder differs in the last blocks.)
    #[test]
    fn streamed_sample_transforms_write_one_zstd_frame_of_the_stream() {
        let f = format(Packing::Csi2P12, 1014, 760, 12, Cfa::Rggb, 20);
        let raw = synthetic_sky(&f, 40, 3);
        let mut enc = Encoder::new(1);
        for level in [1, 3, 1] {
            enc.set_level(level);
            for transform in [Transform::Up3, Transform::Left16] {
                let spec = CodecSpec {
                    transform,
                    compression: Compression::Zstd,
                };
                let mut streamed = Vec::new();
                enc.encode_with(spec, &f, &raw, &mut streamed).unwrap();
                let mut stream = Vec::new();
                forward(transform, &f, &raw, &mut stream, &mut RowRing::default()).unwrap();
                assert!(stream.len() > 8 * (128 << 10), "several zstd blocks");
                let size = zstd::zstd_safe::get_frame_content_size(&streamed).ok();
                assert_eq!(size, Some(Some(stream.len() as u64)), "{transform:?}");
                assert_ne!(streamed[4] & ZSTD_CHECKSUM_FLAG, 0, "checksum flag");
                let plain = zstd::bulk::decompress(&streamed, stream.len()).unwrap();
                assert!(plain == stream, "{transform:?} at {level}: stream differs");
                let mut one_shot = zstd::bulk::Compressor::new(level).unwrap();
                one_shot.include_checksum(true).unwrap();
                let expected = one_shot.compress(&stream).unwrap().len();
                assert!(
                    streamed.len() <= expected + expected / 1000,
                    "{transform:?} at {level}: {} bytes, one-shot {expected}",
                    streamed.len()
                );
                let mut back = Vec::new();
                Decoder::new()
                    .decode(spec, &f, &streamed, raw.len(), &mut back)
                    .unwrap();
                assert!(back == raw, "{transform:?} round trip");
            }
        }
    }

    /// The in-place encoder writes exactly the payload of the plain one, for every packing
    /// the sample transforms take (with and without line padding, odd widths), for the
    /// other packings (which it hands to `encode`), and for the stored fallback of a frame
    /// that does not compress, whose bytes it must give back from the payload.
    #[test]
    fn encoding_in_place_writes_the_same_payload() {
        let cases = [
            format(Packing::Csi2P12, 1014, 76, 12, Cfa::Rggb, 20),
            format(Packing::Csi2P12, 33, 9, 12, Cfa::Rggb, 0),
            format(Packing::Csi2P10, 1022, 40, 10, Cfa::Bggr, 12),
            format(Packing::U16Le, 301, 37, 16, Cfa::None, 6),
            format(Packing::U16Le, 64, 8, 12, Cfa::Grbg, 0),
            format(Packing::U8, 64, 8, 8, Cfa::None, 0),
        ];
        let mut plain = Encoder::new(1);
        let mut in_place = Encoder::new(1);
        for f in cases {
            let noise: Vec<u8> = {
                let mut rng = XorShift(0x5EED ^ u64::from(f.width));
                (0..f.max_frame_bytes())
                    .map(|_| rng.next_u64() as u8)
                    .collect()
            };
            for (what, raw) in [("sky", synthetic_sky(&f, 30, 9)), ("noise", noise)] {
                let mut want = Vec::new();
                let want_spec = plain.encode(&f, &raw, &mut want).unwrap();
                let mut frame = raw.clone();
                let mut got = vec![1, 2, 3];
                let spec = in_place.encode_in_place(&f, &mut frame, &mut got).unwrap();
                assert_eq!(spec, want_spec, "{:?} {what}", f.packing);
                assert!(got == want, "{:?} {what}: payload differs", f.packing);
                let mut back = Vec::new();
                Decoder::new()
                    .decode(spec, &f, &got, raw.len(), &mut back)
                    .unwrap();
                assert!(back == raw, "{:?} {what}: round trip", f.packing);
            }
        }
    }

    #[test]
    fn codecs_can_move_to_worker_threads() {
        fn send<T: Send>() {}
        send::<Encoder>();
        send::<Decoder>();
    }

    #[test]
    fn codes_map_back_and_unknown_codes_are_errors() {
        for code in 0..=255u8 {
            if let Some(t) = Transform::from_code(code) {
                assert_eq!(t.code(), code);
            }
            if let Some(c) = Compression::from_code(code) {
                assert_eq!(c.code(), code);
            }
        }
        let codes: Vec<u8> = Transform::ALL.iter().map(|t| t.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4]);
        let names: Vec<&str> = Transform::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["none", "shuffle16", "delta8", "left16", "up3"]);
        assert_eq!(Transform::from_code(5), None);
        assert_eq!(Compression::from_code(2), None);
        assert!(matches!(
            CodecSpec::from_codes(9, 1),
            Err(CodecError::UnknownTransform(9))
        ));
        assert!(matches!(
            CodecSpec::from_codes(0, 7),
            Err(CodecError::UnknownCompression(7))
        ));
        let spec = CodecSpec::from_codes(4, 1).unwrap();
        assert_eq!(spec.transform, Transform::Up3);
        assert_eq!(spec.codes(), (4, 1));
    }

    #[test]
    fn random_bytes_round_trip_with_every_transform() {
        for (i, f) in raw_formats().iter().enumerate() {
            let raw = noise(f.max_frame_bytes() as usize, i as u64);
            assert!(assert_all_round_trip(f, &raw) >= 4, "{f}");
        }
        for (f, len) in [
            (format(Packing::Yuyv, 9, 5, 8, Cfa::None, 4), 202),
            (format(Packing::Rgb24, 7, 3, 8, Cfa::None, 0), 63),
            (format(Packing::Mjpeg, 64, 48, 8, Cfa::None, 0), 1001),
        ] {
            assert!(assert_all_round_trip(&f, &noise(len, 7)) >= 4, "{f}");
        }
    }

    #[test]
    fn realistic_frames_round_trip_with_every_transform() {
        for (i, f) in raw_formats().iter().enumerate() {
            let raw = synthetic_sky(f, 3, i as u64);
            assert_eq!(raw.len() as u64, f.max_frame_bytes());
            assert_all_round_trip(f, &raw);
        }
    }

    #[test]
    fn frames_of_the_wrong_length_fall_back_to_none() {
        let f = format(Packing::Csi2P12, 41, 9, 12, Cfa::Rggb, 13);
        let mut raw = synthetic_sky(&f, 3, 1);
        raw.pop();
        let mut enc = Encoder::new(1);
        let mut payload = Vec::new();
        let spec = enc.encode(&f, &raw, &mut payload).unwrap();
        assert_eq!(spec.transform, Transform::None);
        let mut back = Vec::new();
        Decoder::new()
            .decode(spec, &f, &payload, raw.len(), &mut back)
            .unwrap();
        assert_eq!(back, raw);
        let up3 = CodecSpec {
            transform: Transform::Up3,
            compression: Compression::Zstd,
        };
        let err = enc.encode_with(up3, &f, &raw, &mut payload).unwrap_err();
        assert!(
            matches!(err, CodecError::TransformDoesNotFit { transform: Transform::Up3, len, .. } if len == raw.len()),
            "{err}"
        );
        // Round trips of the untransformed packings at every odd length too.
        for len in [0, 1, 2, 3, 5, 17] {
            assert_all_round_trip(&f, &noise(len, len as u64));
        }
    }

    #[test]
    fn encode_picks_the_default_and_compresses_sky_frames() {
        let f = format(Packing::Csi2P12, 256, 64, 12, Cfa::Rggb, 32);
        let raw = synthetic_sky(&f, 20, 3);
        let mut enc = Encoder::new(1);
        let mut payload = Vec::new();
        let spec = enc.encode(&f, &raw, &mut payload).unwrap();
        assert_eq!(
            spec,
            CodecSpec {
                transform: Transform::Up3,
                compression: Compression::Zstd
            }
        );
        // 12-bit packed sky: ~6.3 bits of noise per sample in 12, so well under 3/4.
        assert!(
            payload.len() * 4 < raw.len() * 3,
            "{} of {}",
            payload.len(),
            raw.len()
        );
        let mut back = Vec::new();
        Decoder::new()
            .decode(spec, &f, &payload, raw.len(), &mut back)
            .unwrap();
        assert_eq!(back, raw);

        enc.set_level(0);
        assert_eq!(enc.level(), 0);
        assert_eq!(
            enc.encode(&f, &raw, &mut payload).unwrap(),
            CodecSpec::STORED
        );
        assert_eq!(payload, raw);
        enc.set_level(1_000);
        assert_eq!(enc.level(), zstd::zstd_safe::max_c_level());
    }

    #[test]
    fn incompressible_frames_are_stored() {
        let f = format(Packing::Mjpeg, 64, 48, 8, Cfa::None, 0);
        let raw = noise(5000, 11);
        let mut payload = Vec::new();
        let spec = Encoder::new(1).encode(&f, &raw, &mut payload).unwrap();
        assert_eq!(spec, CodecSpec::STORED);
        assert_eq!(payload, raw);
    }

    /// The sample transforms, computed sample by sample straight from `formats/codecs.md`.
    fn reference_stream(t: Transform, f: &PixelFormat, raw: &[u8]) -> Vec<u8> {
        let (w, h, stride) = (f.width as usize, f.height as usize, f.stride as usize);
        let line_bytes = f.packing.line_bytes(f.width).unwrap() as usize;
        let ws = match f.packing {
            Packing::Csi2P10 => w.div_ceil(4) * 4,
            Packing::Csi2P12 => w.div_ceil(2) * 2,
            _ => w,
        };
        let d = if f.cfa == Cfa::None { 1 } else { 2 };
        let rows: Vec<Vec<u16>> = raw
            .chunks(stride)
            .take(h)
            .map(|line| {
                let mut s = vec![0u16; ws];
                match f.packing {
                    Packing::Csi2P10 => unpack_csi2_10(line, &mut s),
                    Packing::Csi2P12 => unpack_csi2_12(line, &mut s),
                    _ => (0..ws).for_each(|x| {
                        s[x] = u16::from(line[2 * x]) | u16::from(line[2 * x + 1]) << 8
                    }),
                }
                s
            })
            .collect();
        let (mut lo, mut hi, mut pad) = (vec![], vec![], vec![]);
        for y in 0..h {
            for x in 0..ws {
                let s = |dy: usize, xx: usize| u32::from(rows[y - dy][xx]);
                let pred = if t == Transform::Up3 && y >= d {
                    if x >= d && x + d < ws {
                        (s(d, x - d) + 2 * s(d, x) + s(d, x + d) + 2) / 4
                    } else {
                        s(d, x)
                    }
                } else if x >= d {
                    s(0, x - d)
                } else if y >= d {
                    s(d, x)
                } else {
                    0
                };
                let r = (s(0, x) as i32 - pred as i32) as i16;
                let z = if r >= 0 {
                    2 * r as i32
                } else {
                    -2 * r as i32 - 1
                } as u16;
                lo.push(z as u8);
                hi.push((z >> 8) as u8);
            }
            pad.extend_from_slice(&raw[y * stride + line_bytes..(y + 1) * stride]);
        }
        [lo, hi, pad].concat()
    }

    #[test]
    fn transformed_streams_follow_the_spec() {
        let stored = |t| CodecSpec {
            transform: t,
            compression: Compression::Stored,
        };
        for (i, f) in raw_formats().iter().enumerate() {
            for raw in [
                synthetic_sky(f, 3, i as u64),
                noise(f.max_frame_bytes() as usize, 5),
            ] {
                let mut enc = Encoder::new(1);
                let mut got = Vec::new();
                for t in [Transform::Left16, Transform::Up3] {
                    if f.packing == Packing::U8 {
                        continue;
                    }
                    enc.encode_with(stored(t), f, &raw, &mut got).unwrap();
                    assert!(got == reference_stream(t, f, &raw), "{} on {f}", t.name());
                }
                enc.encode_with(stored(Transform::Shuffle16), f, &raw, &mut got)
                    .unwrap();
                let n = raw.len() / 2;
                let evens: Vec<u8> = raw.iter().step_by(2).copied().collect();
                let odds: Vec<u8> = raw.iter().skip(1).step_by(2).copied().collect();
                assert_eq!(&got[..n], &evens[..n]);
                assert_eq!(&got[n..2 * n], &odds[..n]);
                assert_eq!(&got[2 * n..], &raw[2 * n..]);
            }
        }
    }

    #[test]
    fn small_examples_from_the_spec() {
        // formats/codecs.md, "Worked example": mono 16-bit, 3x3, stride 8 (2 padding bytes).
        let f = format(Packing::U16Le, 3, 3, 12, Cfa::None, 2);
        let samples: [[u16; 3]; 3] = [[100, 103, 99], [101, 100, 300], [4095, 0, 7]];
        let mut raw = Vec::new();
        for (y, row) in samples.iter().enumerate() {
            row.iter()
                .for_each(|s| raw.extend_from_slice(&s.to_le_bytes()));
            raw.extend_from_slice(&[0xa0 + y as u8, 0xb0]);
        }
        let spec = CodecSpec {
            transform: Transform::Up3,
            compression: Compression::Stored,
        };
        let mut got = Vec::new();
        Encoder::new(1)
            .encode_with(spec, &f, &raw, &mut got)
            .unwrap();
        // Residuals: line 0 left-predicted: 100-0, 103-100, 99-103 = 100, 3, -4;
        // line 1: 101-100, 100-(100+206+99+2)/4=100-101, 300-99 = 1, -1, 201;
        // line 2: 4095-101, 0-(101+200+300+2)/4=0-150, 7-300 = 3994, -150, -293.
        // Zigzag: 200, 6, 7 | 2, 1, 402 | 7988, 299, 585.
        let zz: [u16; 9] = [200, 6, 7, 2, 1, 402, 7988, 299, 585];
        let mut want: Vec<u8> = zz.iter().map(|z| *z as u8).collect();
        want.extend(zz.iter().map(|z| (z >> 8) as u8));
        want.extend_from_slice(&[0xa0, 0xb0, 0xa1, 0xb0, 0xa2, 0xb0]);
        assert_eq!(got, want);

        let f8 = format(Packing::U8, 4, 1, 8, Cfa::Rggb, 0);
        let spec = CodecSpec {
            transform: Transform::Delta8,
            compression: Compression::Stored,
        };
        Encoder::new(1)
            .encode_with(spec, &f8, &[10, 20, 13, 18], &mut got)
            .unwrap();
        assert_eq!(got, [10, 20, 3, 254]);
    }

    fn zstd_payload(f: &PixelFormat, raw: &[u8], t: Transform) -> Vec<u8> {
        let mut payload = Vec::new();
        let spec = CodecSpec {
            transform: t,
            compression: Compression::Zstd,
        };
        Encoder::new(1)
            .encode_with(spec, f, raw, &mut payload)
            .unwrap();
        payload
    }

    #[test]
    fn truncated_payloads_are_errors() {
        let f = format(Packing::Csi2P12, 41, 9, 12, Cfa::Rggb, 13);
        let raw = synthetic_sky(&f, 3, 2);
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for t in Transform::ALL.into_iter().filter(|t| t.fits(&f, raw.len())) {
            let payload = zstd_payload(&f, &raw, t);
            let spec = CodecSpec {
                transform: t,
                compression: Compression::Zstd,
            };
            for cut in 0..payload.len() {
                assert!(dec
                    .decode(spec, &f, &payload[..cut], raw.len(), &mut out)
                    .is_err());
            }
            let stored = CodecSpec {
                transform: t,
                compression: Compression::Stored,
            };
            assert!(dec
                .decode(stored, &f, &raw[1..], raw.len(), &mut out)
                .is_err());
            // A payload with bytes after the zstd frame is refused too.
            let mut long = payload.clone();
            long.push(0);
            assert!(dec.decode(spec, &f, &long, raw.len(), &mut out).is_err());
        }
    }

    #[test]
    fn bit_flips_never_give_wrong_bytes() {
        let f = format(Packing::U16Le, 24, 6, 12, Cfa::Rggb, 4);
        let raw = synthetic_sky(&f, 2, 4);
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for t in [Transform::None, Transform::Shuffle16, Transform::Up3] {
            let spec = CodecSpec {
                transform: t,
                compression: Compression::Zstd,
            };
            let mut payload = zstd_payload(&f, &raw, t);
            let mut failures = 0;
            for bit in 0..payload.len() * 8 {
                payload[bit / 8] ^= 1 << (bit % 8);
                match dec.decode(spec, &f, &payload, raw.len(), &mut out) {
                    Ok(()) => assert!(out == raw, "{} bit {bit}: silent corruption", t.name()),
                    Err(_) => failures += 1,
                }
                payload[bit / 8] ^= 1 << (bit % 8);
            }
            // Only a few header bits zstd ignores may flip without an error.
            assert!(
                failures + 16 >= payload.len() * 8,
                "{} {failures}",
                t.name()
            );
        }
    }

    #[test]
    fn garbage_and_mismatched_specs_never_panic() {
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        let formats: Vec<PixelFormat> = raw_formats()
            .into_iter()
            .chain([
                format(Packing::Mjpeg, 8, 8, 8, Cfa::None, 0),
                format(Packing::Yuyv, 3, 2, 8, Cfa::None, 0),
            ])
            .collect();
        for (i, f) in formats.iter().enumerate() {
            for len in [0, 1, 5, 64, 300] {
                let mut garbage = noise(len, i as u64 * 31 + len as u64);
                if len > 5 && i % 2 == 0 {
                    garbage[..4].copy_from_slice(&ZSTD_MAGIC);
                    garbage[4] = 0x24;
                }
                for t in Transform::ALL {
                    for c in ALL_COMPRESSIONS {
                        let spec = CodecSpec {
                            transform: t,
                            compression: c,
                        };
                        for raw_len in [0, 1, len, f.max_frame_bytes() as usize, 1 << 20] {
                            if dec.decode(spec, f, &garbage, raw_len, &mut out).is_ok() {
                                assert_eq!(out.len(), raw_len);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn zstd_frame_claiming_4_gib_is_refused_without_allocating() {
        // Magic; descriptor: 8-byte content size, single segment, checksum; content size
        // 4 GiB; one last RLE block of 16 bytes of 0x42; a checksum.
        let mut frame = ZSTD_MAGIC.to_vec();
        frame.push(0xe4);
        frame.extend_from_slice(&(4u64 << 30).to_le_bytes());
        frame.extend_from_slice(&[1 | (1 << 1) | (16 << 3), 0, 0, 0x42]);
        frame.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            zstd::zstd_safe::find_frame_compressed_size(&frame),
            Ok(frame.len())
        );
        let f = format(Packing::U16Le, 16, 8, 12, Cfa::Rggb, 0);
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for t in [Transform::None, Transform::Shuffle16, Transform::Up3] {
            let spec = CodecSpec {
                transform: t,
                compression: Compression::Zstd,
            };
            let err = dec.decode(spec, &f, &frame, 256, &mut out).unwrap_err();
            assert!(matches!(err, CodecError::Zstd { .. }), "{err}");
            assert!(out.capacity() <= 256 && dec.scratch.capacity() <= 256);
        }
    }

    #[test]
    fn stored_streams_with_extreme_residuals_do_not_panic() {
        // A stored (unchecked) stream full of 0xFF decodes to out-of-range samples; the
        // 12-bit fast path must wrap, not overflow.
        let f = format(Packing::Csi2P12, 40, 6, 12, Cfa::Rggb, 2);
        let len = f.max_frame_bytes() as usize;
        let spec = CodecSpec {
            transform: Transform::Up3,
            compression: Compression::Stored,
        };
        let stream = vec![0xff; transformed_len(Transform::Up3, &f, len).unwrap()];
        let mut out = Vec::new();
        Decoder::new()
            .decode(spec, &f, &stream, len, &mut out)
            .unwrap();
        assert_eq!(out.len(), len);
    }

    #[test]
    fn zstd_frames_without_checksum_are_refused() {
        let raw = noise(100, 3);
        let plain = zstd::bulk::compress(&raw, 1).unwrap();
        let f = format(Packing::Mjpeg, 8, 8, 8, Cfa::None, 0);
        let spec = CodecSpec {
            transform: Transform::None,
            compression: Compression::Zstd,
        };
        let err = Decoder::new()
            .decode(spec, &f, &plain, raw.len(), &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, CodecError::Corrupt { .. }), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_frame_round_trips(
            which in 0usize..7, width in 1u32..24, height in 1u32..6, pad in 0u32..7,
            mono in any::<bool>(), extra in -3i64..3, seed in any::<u64>(), t in 0u8..5, zstd in any::<bool>(),
        ) {
            let (packing, depth) = [
                (Packing::U8, 8), (Packing::U16Le, 12), (Packing::U16Le, 16), (Packing::Csi2P10, 10),
                (Packing::Csi2P12, 12), (Packing::Yuyv, 8), (Packing::Rgb24, 8),
            ][which];
            let cfa = if mono { Cfa::None } else { Cfa::Rggb };
            let f = format(packing, width, height, depth, cfa, pad);
            let len = (f.max_frame_bytes() as i64 + extra).max(0) as usize;
            let raw = noise(len, seed);
            let transform = Transform::from_code(t).unwrap();
            let compression = if zstd { Compression::Zstd } else { Compression::Stored };
            if transform.fits(&f, raw.len()) {
                assert_round_trip(CodecSpec { transform, compression }, &f, &raw);
            }
            let mut payload = Vec::new();
            let spec = Encoder::new(1).encode(&f, &raw, &mut payload).unwrap();
            let mut back = Vec::new();
            Decoder::new().decode(spec, &f, &payload, raw.len(), &mut back).unwrap();
            prop_assert_eq!(back, raw);
        }
    }
}
