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
//!
//! This module holds the codes ([`Transform`], [`Compression`], [`CodecSpec`]) and errors;
//! the codec is cut by role into `encode` ([`Encoder`]), `decode` ([`Decoder`]),
//! `decode_rows` (samples band by band), `layout` (a frame's geometry as the transforms
//! see it) and `transform` (the transforms and predictors). Being one codec, they share
//! this module's namespace.

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

mod decode;
mod decode_rows;
mod encode;
mod layout;
mod transform;

pub use decode::Decoder;
use decode::*;
pub use decode_rows::rows_fit;
pub use encode::Encoder;
use layout::*;
use transform::*;

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
