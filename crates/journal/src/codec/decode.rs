//! The decoder: a payload back to the frame's exact bytes, verifying lengths and zstd's
//! checksum before anything is handed out, allocating no more than the transformed length.

use super::*;

/// Decodes payloads back into frames; keeps a zstd decompression context and scratch buffers.
pub struct Decoder {
    pub(super) dctx: Option<Decompressor<'static>>,
    pub(super) scratch: Vec<u8>,
    pub(super) rows: RowRing,
    /// Rows gathered for [`Decoder::decode_rows`]'s sink.
    pub(super) band: Vec<u16>,
    /// Frame bytes of [`Decoder::decode_rows`] for codecs without a direct sample path.
    pub(super) bytes: Vec<u8>,
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
    pub(super) fn decode_into(
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
pub(super) fn transformed_stream<'a>(
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

pub(super) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), CodecError> {
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
pub(super) fn decompress(
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
