//! Decoding straight to samples: [`Decoder::decode_rows`] hands a frame's 16-bit samples
//! to the caller band of rows after band of rows, without materialising the frame.
//!
//! For the sample transforms ([`Transform::Left16`], [`Transform::Up3`]) on the raw
//! packings the stream already holds samples: the inverse restores each line into the
//! decoder's row ring and copies it to a small band buffer, skipping the re-pack into the
//! frame's bytes and the unpack the caller would otherwise do. Every other transform (and
//! 8-bit frames) decodes the frame's bytes first and unpacks them line by line with
//! [`nightcap_frame::pixels`], so the rows are the same whatever the record's codec.
//!
//! Promises: the rows are exactly those of [`nightcap_frame::pixels::to_image16`] applied to the
//! bytes [`Decoder::decode`] returns (samples of CSI-2 packings are masked to their bit
//! depth, as the re-pack would), for every raw packing and transform. The payload is
//! verified (zstd checksum, lengths) before the first row is handed out, so a caller that
//! combines rows as they come never sees part of a frame that then fails.

use super::{
    line_restore, transformed_len, transformed_stream, CodecError, CodecSpec, Decoder, Layout,
    Predictor, Transform,
};
use nightcap_frame::pixels::unpack_line;
use nightcap_frame::{Packing, PixelFormat};

/// Whether [`Decoder::decode_rows`] can decode frames of `format`: the one-channel raw
/// packings (8-bit, 16-bit words, CSI-2 RAW10 and RAW12).
pub fn rows_fit(format: &PixelFormat) -> bool {
    matches!(
        format.packing,
        Packing::U8 | Packing::U16Le | Packing::Csi2P10 | Packing::Csi2P12
    )
}

impl Decoder {
    /// Decodes one payload (like [`decode`](Self::decode)) and calls `sink(first_row,
    /// samples)` for consecutive bands of `band_rows` rows (the last band may be shorter),
    /// top to bottom; `samples` holds `rows × width` samples, row-major. Nothing is handed
    /// out unless the whole payload verifies. Fails for packings [`rows_fit`] refuses and
    /// for frames shorter than their format.
    pub fn decode_rows(
        &mut self,
        spec: CodecSpec,
        format: &PixelFormat,
        stored: &[u8],
        raw_len: usize,
        band_rows: usize,
        sink: &mut dyn FnMut(usize, &[u16]),
    ) -> Result<(), CodecError> {
        if !rows_fit(format) {
            return Err(CodecError::Corrupt {
                reason: "the frame's packing has no sample rows (not a raw packing)",
            });
        }
        let layout = Layout::of(format, raw_len);
        match (spec.transform, layout) {
            (Transform::Left16 | Transform::Up3, Some(l)) => {
                self.rows_direct(spec, format, &l, stored, raw_len, band_rows, sink)
            }
            _ => self.rows_via_bytes(spec, format, stored, raw_len, band_rows, sink),
        }
    }

    /// The sample transforms: restore each line and copy it out, no re-pack.
    #[allow(clippy::too_many_arguments)]
    fn rows_direct(
        &mut self,
        spec: CodecSpec,
        format: &PixelFormat,
        l: &Layout,
        stored: &[u8],
        raw_len: usize,
        band_rows: usize,
        sink: &mut dyn FnMut(usize, &[u16]),
    ) -> Result<(), CodecError> {
        let stream_len = transformed_len(spec.transform, format, raw_len)?;
        let stream = transformed_stream(
            &mut self.dctx,
            &mut self.scratch,
            spec.compression,
            stored,
            stream_len,
        )?;
        let width = format.width as usize;
        let mask = match format.packing {
            Packing::Csi2P10 => 0x3ff,
            Packing::Csi2P12 => 0xfff,
            _ => 0xffff,
        };
        let p = Predictor::of(spec.transform);
        let n = l.sample_count();
        let (lo_plane, rest) = stream.split_at(n);
        let hi_plane = &rest[..n];
        let band_rows = band_rows.clamp(1, l.height);
        let mut band = Band::new(&mut self.band, band_rows, width);
        self.rows.prepare(l.dist + 1, l.samples);
        let planes = lo_plane
            .chunks_exact(l.samples)
            .zip(hi_plane.chunks_exact(l.samples));
        for (y, (lo, hi)) in planes.enumerate() {
            let cur = line_restore(p, l, y, lo, hi, &mut self.rows);
            let row = band.next_row();
            for (d, &s) in row.iter_mut().zip(&cur[..width]) {
                *d = s & mask;
            }
            band.flush_if_full(sink);
        }
        band.flush(sink);
        Ok(())
    }

    /// Any other codec: decode the bytes, then unpack line by line.
    fn rows_via_bytes(
        &mut self,
        spec: CodecSpec,
        format: &PixelFormat,
        stored: &[u8],
        raw_len: usize,
        band_rows: usize,
        sink: &mut dyn FnMut(usize, &[u16]),
    ) -> Result<(), CodecError> {
        let mut bytes = std::mem::take(&mut self.bytes);
        let result = self.decode(spec, format, stored, raw_len, &mut bytes);
        let result = result.and_then(|()| {
            let need = format.max_frame_bytes();
            if (bytes.len() as u64) < need {
                return Err(CodecError::SizeMismatch {
                    what: "frame",
                    expected: usize::try_from(need).unwrap_or(usize::MAX),
                    got: bytes.len(),
                });
            }
            let (width, height) = (format.width as usize, format.height as usize);
            let mut band = Band::new(&mut self.band, band_rows.clamp(1, height.max(1)), width);
            for line in bytes.chunks(format.stride as usize).take(height) {
                unpack_line(format.packing, line, band.next_row());
                band.flush_if_full(sink);
            }
            band.flush(sink);
            Ok(())
        });
        self.bytes = bytes;
        result
    }
}

/// The band buffer rows are gathered in before they go to the sink.
struct Band<'a> {
    buf: &'a mut Vec<u16>,
    rows: usize,
    width: usize,
    /// First row of the band being filled, and rows filled so far.
    first: usize,
    filled: usize,
}

impl<'a> Band<'a> {
    fn new(buf: &'a mut Vec<u16>, rows: usize, width: usize) -> Band<'a> {
        // Every sample is written before the sink sees it: only growth zero-fills.
        buf.resize(rows * width, 0);
        Band {
            buf,
            rows,
            width,
            first: 0,
            filled: 0,
        }
    }

    fn next_row(&mut self) -> &mut [u16] {
        let row = &mut self.buf[self.filled * self.width..][..self.width];
        self.filled += 1;
        row
    }

    fn flush_if_full(&mut self, sink: &mut dyn FnMut(usize, &[u16])) {
        if self.filled == self.rows {
            self.flush(sink);
        }
    }

    fn flush(&mut self, sink: &mut dyn FnMut(usize, &[u16])) {
        if self.filled > 0 {
            sink(self.first, &self.buf[..self.filled * self.width]);
            self.first += self.filled;
            self.filled = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Compression, Encoder};
    use crate::testing::{noise, synthetic_sky};
    use nightcap_frame::pixels::to_image16;
    use nightcap_frame::Cfa;

    fn format(packing: Packing, w: u32, h: u32, depth: u8, cfa: Cfa, pad: u32) -> PixelFormat {
        PixelFormat {
            fourcc: *b"TEST",
            width: w,
            height: h,
            stride: packing.line_bytes(w).unwrap() as u32 + pad,
            bit_depth: depth,
            cfa,
            packing,
        }
    }

    /// All rows of a payload through `decode_rows`, checking the bands as they come.
    fn rows_of(
        spec: CodecSpec,
        f: &PixelFormat,
        payload: &[u8],
        len: usize,
        band: usize,
    ) -> Vec<u16> {
        let mut out = Vec::new();
        let mut next = 0;
        let mut sink = |first: usize, s: &[u16]| {
            assert_eq!(first, next, "bands come in order");
            assert_eq!(s.len() % f.width as usize, 0);
            let rows = s.len() / f.width as usize;
            assert!(rows == band.min(f.height as usize) || first + rows == f.height as usize);
            next += rows;
            out.extend_from_slice(s);
        };
        Decoder::new()
            .decode_rows(spec, f, payload, len, band, &mut sink)
            .unwrap_or_else(|e| panic!("{spec:?} on {f}: {e}"));
        out
    }

    #[test]
    fn rows_equal_decode_then_unpack_for_every_packing_and_transform() {
        let formats = [
            format(Packing::U8, 37, 9, 8, Cfa::Rggb, 3),
            format(Packing::U16Le, 33, 7, 10, Cfa::Bggr, 0),
            format(Packing::U16Le, 17, 5, 16, Cfa::None, 2),
            format(Packing::Csi2P10, 35, 8, 10, Cfa::Rggb, 5),
            format(Packing::Csi2P10, 4, 3, 10, Cfa::Grbg, 0),
            format(Packing::Csi2P12, 41, 9, 12, Cfa::Gbrg, 13),
            format(Packing::Csi2P12, 64, 12, 12, Cfa::Rggb, 0),
            format(Packing::Csi2P12, 30, 4, 12, Cfa::None, 2),
        ];
        let mut checked = 0;
        for (i, f) in formats.iter().enumerate() {
            let len = f.max_frame_bytes() as usize;
            for raw in [synthetic_sky(f, 3, i as u64), noise(len, i as u64 + 9)] {
                let want = to_image16(f, &raw).unwrap().data;
                for t in Transform::ALL.into_iter().filter(|t| t.fits(f, len)) {
                    for c in [Compression::Stored, Compression::Zstd] {
                        let spec = CodecSpec {
                            transform: t,
                            compression: c,
                        };
                        let mut payload = Vec::new();
                        Encoder::new(1)
                            .encode_with(spec, f, &raw, &mut payload)
                            .unwrap();
                        for band in [1, 2, 5, 64] {
                            let got = rows_of(spec, f, &payload, len, band);
                            assert!(got == want, "{spec:?} on {f}, bands of {band}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    fn corrupt_stored_streams_give_the_masked_samples_of_decode() {
        // A stored up3 stream of 0xFF restores samples above 12 bits; the re-pack of
        // `decode` drops those bits, and so must the rows.
        let f = format(Packing::Csi2P12, 40, 6, 12, Cfa::Rggb, 2);
        let len = f.max_frame_bytes() as usize;
        for t in [Transform::Up3, Transform::Left16] {
            let spec = CodecSpec {
                transform: t,
                compression: Compression::Stored,
            };
            let stream = vec![0xff; transformed_len(t, &f, len).unwrap()];
            let mut bytes = Vec::new();
            Decoder::new()
                .decode(spec, &f, &stream, len, &mut bytes)
                .unwrap();
            let want = to_image16(&f, &bytes).unwrap().data;
            assert_eq!(rows_of(spec, &f, &stream, len, 4), want);
        }
    }

    #[test]
    fn damaged_payloads_hand_out_no_rows() {
        let f = format(Packing::Csi2P12, 41, 9, 12, Cfa::Rggb, 13);
        let raw = synthetic_sky(&f, 3, 2);
        let spec = CodecSpec {
            transform: Transform::Up3,
            compression: Compression::Zstd,
        };
        let mut payload = Vec::new();
        Encoder::new(1)
            .encode_with(spec, &f, &raw, &mut payload)
            .unwrap();
        let mut dec = Decoder::new();
        // `verify` checks raw frames with decode_rows: it must refuse exactly what decode
        // refuses, whatever byte is damaged.
        let mut out = Vec::new();
        for at in (0..payload.len()).step_by(7) {
            for bit in [0x01, 0x80] {
                payload[at] ^= bit;
                let whole = dec.decode(spec, &f, &payload, raw.len(), &mut out).is_ok();
                let by_rows = dec
                    .decode_rows(spec, &f, &payload, raw.len(), 4, &mut |_, _| {})
                    .is_ok();
                assert_eq!(whole, by_rows, "byte {at} ^ {bit:#x}");
                payload[at] ^= bit;
            }
        }
        let mid = payload.len() / 2;
        payload[mid] ^= 0x10;
        let mut rows = 0;
        let r = dec.decode_rows(spec, &f, &payload, raw.len(), 4, &mut |_, _| rows += 1);
        assert!(r.is_err());
        assert_eq!(rows, 0);
        payload[mid] ^= 0x10;
        // Truncated, and a non-raw packing.
        let r = dec.decode_rows(spec, &f, &payload[..mid], raw.len(), 4, &mut |_, _| {
            rows += 1
        });
        assert!(r.is_err());
        let yuyv = PixelFormat {
            packing: Packing::Yuyv,
            ..f
        };
        assert!(!rows_fit(&yuyv));
        let r = dec.decode_rows(CodecSpec::STORED, &yuyv, &raw, raw.len(), 4, &mut |_, _| {
            rows += 1
        });
        assert!(r.is_err());
        // A short stored frame of a fixed-size format.
        let r = dec.decode_rows(
            CodecSpec::STORED,
            &f,
            &raw[1..],
            raw.len() - 1,
            4,
            &mut |_, _| rows += 1,
        );
        assert!(r.is_err());
        assert_eq!(rows, 0);
    }
}
