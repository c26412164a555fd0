//! JPEG encoding: the system's libjpeg-turbo (through TurboJPEG) encodes horizontal strips
//! of an 8-bit image on all cores, and the strips are joined into one baseline JPEG whose
//! restart markers stand where the strips meet.
//!
//! Promises:
//! - the file is a standard baseline JPEG (quality as asked; 4:4:4 for colour, one
//!   component for grey) that decodes to exactly the pixels one libjpeg-turbo encode of the
//!   whole image decodes to: every 8x8 block is transformed and quantised alone, a
//!   restart marker only resets the DC prediction and the bit alignment, and the strips
//!   are cut on block rows (tested against the whole-image encode);
//! - the image is never held whole at 8 bits when its rows are rendered on the fly
//!   ([`Pixels::Rows`]): each worker renders one strip (about [`STRIP_BYTES`]) into a
//!   reused buffer that stays in the cache while libjpeg-turbo reads it back;
//! - the strips must agree on every table (they are encoded alike, so they do); if they
//!   do not, the result is an error, never a file with mixed tables.
//!
//! Why strips: libjpeg-turbo 2.x encodes on one core and wants the whole image, so a
//! 12 MP stack used to be rendered into a 37 MB buffer and then encoded alone while the
//! other core idled (at the end of a night, or when stacks are written one after
//! another).

use rayon::prelude::*;

/// Pixel bytes a strip aims at: small enough to stay in a core's cache between the
/// render and the encoder, large enough that a strip's own headers and set-up (well under
/// a percent here) do not matter.
pub(crate) const STRIP_BYTES: usize = 384 << 10;

/// Rows of one MCU (4:4:4 and grey: one 8x8 block per component).
const MCU: usize = 8;

/// Where the 8-bit pixels come from: `width × channels` bytes per row, rows top to bottom.
#[derive(Clone, Copy)]
pub(crate) enum Pixels<'a> {
    /// All rows, one after another.
    Whole(&'a [u8]),
    /// `rows(y, row)` writes every byte of row `y`; called in parallel, once per row.
    Rows(&'a (dyn Fn(usize, &mut [u8]) + Sync)),
}

/// Why a JPEG could not be encoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JpegError {
    #[error(transparent)]
    TurboJpeg(#[from] turbojpeg::Error),
    #[error("libjpeg-turbo wrote a strip nightcap cannot join ({0})")]
    Join(&'static str),
}

/// Encodes a `width × height` image of `channels` (1 or 3, checked by the caller along
/// with the size limits of JPEG) at `quality`.
pub(crate) fn encode(
    width: u32,
    height: u32,
    channels: u8,
    pixels: Pixels<'_>,
    quality: u8,
) -> Result<Vec<u8>, JpegError> {
    let (w, h) = (width as usize, height as usize);
    let row_len = w * usize::from(channels);
    let rows = strip_rows(w, row_len);
    let strips = h.div_ceil(rows);
    let encoded = (0..strips)
        .into_par_iter()
        .map_init(
            || Strip::new(channels, quality),
            |strip, i| {
                let y = i * rows;
                strip.encode(w, y..(y + rows).min(h), row_len, pixels)
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    join(&encoded, height, (rows / MCU) * w.div_ceil(MCU))
}

/// Rows per strip: a multiple of the MCU height near [`STRIP_BYTES`], and few enough
/// that a strip's MCUs fit the 16-bit restart interval.
fn strip_rows(width: usize, row_len: usize) -> usize {
    let mcu_rows_max = (usize::from(u16::MAX) / width.div_ceil(MCU).max(1)).max(1);
    let mcu_rows = (STRIP_BYTES / row_len.max(1) / MCU).clamp(1, mcu_rows_max);
    mcu_rows * MCU
}

/// One worker's encoder and buffers, reused from strip to strip.
struct Strip {
    /// Made at the first strip (creating it can fail).
    compressor: Option<turbojpeg::Compressor>,
    quality: u8,
    format: turbojpeg::PixelFormat,
    subsamp: turbojpeg::Subsamp,
    pixels: Vec<u8>,
    out: Vec<u8>,
}

impl Strip {
    fn new(channels: u8, quality: u8) -> Strip {
        let (format, subsamp) = if channels == 3 {
            (turbojpeg::PixelFormat::RGB, turbojpeg::Subsamp::None)
        } else {
            (turbojpeg::PixelFormat::GRAY, turbojpeg::Subsamp::Gray)
        };
        Strip {
            compressor: None,
            quality,
            format,
            subsamp,
            pixels: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The rows `ys` as a JPEG of their own: its header and its entropy-coded data.
    fn encode(
        &mut self,
        width: usize,
        ys: std::ops::Range<usize>,
        row_len: usize,
        pixels: Pixels<'_>,
    ) -> Result<Encoded, JpegError> {
        let compressor = match &mut self.compressor {
            Some(c) => c,
            None => {
                let mut c = turbojpeg::Compressor::new()?;
                c.set_quality(i32::from(self.quality));
                c.set_subsamp(self.subsamp);
                self.compressor.insert(c)
            }
        };
        let rows = ys.len();
        let data = match pixels {
            Pixels::Whole(all) => all
                .get(ys.start * row_len..ys.end * row_len)
                .ok_or(JpegError::Join("fewer pixels than the image's size"))?,
            Pixels::Rows(render) => {
                self.pixels.resize(rows * row_len, 0);
                for (row, y) in self.pixels.chunks_exact_mut(row_len).zip(ys) {
                    render(y, row);
                }
                &self.pixels[..]
            }
        };
        let need = compressor.buf_len(width, rows)?;
        if self.out.len() < need {
            self.out.resize(need, 0);
        }
        let image = turbojpeg::Image {
            pixels: data,
            width,
            pitch: row_len,
            height: rows,
            format: self.format,
        };
        let len = compressor.compress_to_slice(image, &mut self.out)?;
        Encoded::split(&self.out[..len])
    }
}

/// A strip's JPEG, cut where its entropy-coded data starts.
struct Encoded {
    /// SOI up to and including the SOS segment.
    header: Vec<u8>,
    /// Offset in `header` of the SOF0 segment's image height.
    height_at: usize,
    /// Offset in `header` of the SOS marker.
    sos_at: usize,
    /// The entropy-coded data, without the closing EOI.
    scan: Vec<u8>,
}

impl Encoded {
    /// Walks the marker segments of one libjpeg-turbo JPEG: SOI, segments, one SOS, the
    /// scan, EOI.
    fn split(jpeg: &[u8]) -> Result<Encoded, JpegError> {
        if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] || jpeg[jpeg.len() - 2..] != [0xFF, 0xD9] {
            return Err(JpegError::Join("no SOI or EOI"));
        }
        let mut at = 2;
        let mut height_at = None;
        loop {
            let (Some(&[0xFF, marker]), Some(len)) = (
                jpeg.get(at..at + 2).map(|m| [m[0], m[1]]).as_ref(),
                jpeg.get(at + 2..at + 4)
                    .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))),
            ) else {
                return Err(JpegError::Join("truncated marker segment"));
            };
            let end = at + 2 + len;
            if end > jpeg.len() - 2 {
                return Err(JpegError::Join("marker segment past the end"));
            }
            match marker {
                // Baseline SOF: length, precision, height, width, ...
                0xC0 => height_at = Some(at + 5),
                0xC1..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                    return Err(JpegError::Join("not baseline"))
                }
                0xDD => return Err(JpegError::Join("already has restart markers")),
                0xDA => {
                    let height_at = height_at.ok_or(JpegError::Join("no SOF0 before SOS"))?;
                    return Ok(Encoded {
                        header: jpeg[..end].to_vec(),
                        height_at,
                        sos_at: at,
                        scan: jpeg[end..jpeg.len() - 2].to_vec(),
                    });
                }
                _ => {}
            }
            at = end;
        }
    }

    /// The header with the image height zeroed: what every strip must share.
    fn tables(&self) -> impl Iterator<Item = u8> + '_ {
        let height = self.height_at..self.height_at + 2;
        (self.header.iter().enumerate()).map(move |(i, &b)| if height.contains(&i) { 0 } else { b })
    }
}

/// One JPEG of `height` rows from its strips: the first strip's header with the full
/// height and a restart interval of `interval` MCUs (one strip), then every strip's scan
/// with RST0..RST7 (cycling) between them, then EOI.
fn join(strips: &[Encoded], height: u32, interval: usize) -> Result<Vec<u8>, JpegError> {
    let Some(first) = strips.first() else {
        return Err(JpegError::Join("no strips"));
    };
    if strips[1..].iter().any(|s| !s.tables().eq(first.tables())) {
        return Err(JpegError::Join("strips differ in their tables"));
    }
    let height = u16::try_from(height).map_err(|_| JpegError::Join("image too tall"))?;
    let scans: usize = strips.iter().map(|s| s.scan.len() + 2).sum();
    let mut out = Vec::with_capacity(first.header.len() + 6 + scans + 2);
    out.extend_from_slice(&first.header[..first.sos_at]);
    out[first.height_at..first.height_at + 2].copy_from_slice(&height.to_be_bytes());
    if strips.len() > 1 {
        let interval = u16::try_from(interval).map_err(|_| JpegError::Join("strip too wide"))?;
        out.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04]);
        out.extend_from_slice(&interval.to_be_bytes());
    }
    out.extend_from_slice(&first.header[first.sos_at..]);
    for (i, strip) in strips.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(&[0xFF, 0xD0 + ((i - 1) % 8) as u8]);
        }
        out.extend_from_slice(&strip.scan);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                // Smooth gradients with noise on top, like a night sky.
                ((i / 97) as u32 % 200 + x % 56) as u8
            })
            .collect()
    }

    /// The whole image in one libjpeg-turbo call: what the strips must decode to.
    fn whole(w: usize, h: usize, channels: u8, data: &[u8]) -> Vec<u8> {
        let mut strip = Strip::new(channels, 95);
        let parts = strip.encode(w, 0..h, w * usize::from(channels), Pixels::Whole(data));
        join(&[parts.unwrap()], h as u32, 0).unwrap()
    }

    fn decode(jpeg: &[u8], channels: u8) -> turbojpeg::Image<Vec<u8>> {
        let format = if channels == 3 {
            turbojpeg::PixelFormat::RGB
        } else {
            turbojpeg::PixelFormat::GRAY
        };
        turbojpeg::decompress(jpeg, format).unwrap()
    }

    #[test]
    fn strips_decode_to_the_pixels_of_one_whole_image_encode() {
        // Heights that are and are not block multiples; more than 8 strips (restart
        // markers wrap); one strip; grey and colour.
        for (w, h, channels) in [(301, 1000, 3), (300, 999, 1), (64, 8, 3), (2000, 77, 3)] {
            let row = w * usize::from(channels);
            let data = noise(row * h, w as u32 ^ h as u32);
            let rows = strip_rows(w, row);
            let jpeg = encode(w as u32, h as u32, channels, Pixels::Whole(&data), 95).unwrap();
            let markers = jpeg
                .windows(2)
                .filter(|m| m[0] == 0xFF && (0xD0..=0xD7).contains(&m[1]));
            assert_eq!(markers.count(), h.div_ceil(rows) - 1, "{w}x{h}");
            let got = decode(&jpeg, channels);
            let want = decode(&whole(w, h, channels, &data), channels);
            assert_eq!((got.width, got.height), (w, h));
            assert!(
                got.pixels == want.pixels,
                "{w}x{h}x{channels}: pixels differ"
            );
            // Another decoder (the image crate's) reads through the restart markers to
            // the pixels it decodes from the whole-image encode.
            let other = |jpeg: &[u8]| ::image::load_from_memory(jpeg).unwrap().into_bytes();
            let other_whole = other(&whole(w, h, channels, &data));
            assert!(
                other(&jpeg) == other_whole,
                "{w}x{h}x{channels}: image crate"
            );
        }
    }

    #[test]
    fn rows_rendered_on_the_fly_give_the_same_file() {
        let (w, h) = (500, 700);
        let data = noise(w * 3 * h, 7);
        let render = |y: usize, row: &mut [u8]| row.copy_from_slice(&data[y * w * 3..][..w * 3]);
        let a = encode(w as u32, h as u32, 3, Pixels::Whole(&data), 95).unwrap();
        let b = encode(w as u32, h as u32, 3, Pixels::Rows(&render), 95).unwrap();
        assert!(a == b);
    }

    #[test]
    fn strips_fit_the_restart_interval_and_the_cache() {
        assert_eq!(strip_rows(4056, 4056 * 3), 32);
        assert_eq!(strip_rows(4056, 4056), 96);
        // The widest JPEG: 8192 MCUs a row, 7 MCU rows a strip at most.
        assert_eq!(strip_rows(65_535, 65_535 * 3), 8);
    }

    #[test]
    fn strips_with_different_tables_are_not_joined() {
        let data = noise(64 * 3 * 16, 3);
        let mut a = Strip::new(3, 95);
        let mut b = Strip::new(3, 80);
        let pa = a.encode(64, 0..8, 64 * 3, Pixels::Whole(&data)).unwrap();
        let pb = b.encode(64, 8..16, 64 * 3, Pixels::Whole(&data)).unwrap();
        let err = join(&[pa, pb], 16, 8).unwrap_err();
        assert!(err.to_string().contains("tables"), "{err}");
        assert!(Encoded::split(&[0xFF, 0xD8, 0xFF, 0xD9]).is_err());
        let short = encode(64, 16, 3, Pixels::Whole(&data[..100]), 95).unwrap_err();
        assert!(short.to_string().contains("fewer pixels"), "{short}");
        assert!(encode(0, 0, 3, Pixels::Whole(&[]), 95).is_err());
        assert!(Encoded::split(&[0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x40, 0xFF, 0xD9]).is_err());
    }
}
