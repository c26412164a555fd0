//! Display images: JPEG (8-bit, quality 95, 4:4:4, like the original program; encoded by
//! the system's libjpeg-turbo), 16-bit PNG and 16-bit TIFF, plus the metadata that travels
//! with them.
//!
//! Input is a display-referred [`Image16`] (what [`crate::tone::render`] returns).
//! Metadata ([`OutputMeta`]) is embedded where the format allows it: JPEG and PNG get an
//! EXIF block (DateTimeOriginal = window start in UTC with OffsetTimeOriginal `+00:00`,
//! ExposureTime = total exposure, ImageDescription = the metadata as JSON, Software). A JSON
//! sidecar `<file>.json` is written as well when [`OutputMeta::sidecar`] is set (TIFF has no
//! embedded metadata, so ask for the sidecar there). Every file is written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exif::{exif_tiff, with_exif};
use super::jpeg::{self, JpegError, Pixels};
use super::{check_shape, write_atomic, OutputError};
use nightcap_frame::pixels::Image16;

/// JPEG quality of every JPEG nightcap writes (the original program used 95).
pub const JPEG_QUALITY: u8 = 95;

/// The file formats of finished images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Jpeg,
    Png,
    Tiff,
    Fits,
}

impl OutputFormat {
    /// The format a user names on the command line or by file extension
    /// (`jpg`/`jpeg`, `png`, `tif`/`tiff`, `fits`/`fit`/`fts`; any case).
    pub fn from_name(name: &str) -> Option<OutputFormat> {
        Some(match name.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => OutputFormat::Jpeg,
            "png" => OutputFormat::Png,
            "tif" | "tiff" => OutputFormat::Tiff,
            "fits" | "fit" | "fts" => OutputFormat::Fits,
            _ => return None,
        })
    }

    /// The extension nightcap gives files of this format (no dot).
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::Tiff => "tiff",
            OutputFormat::Fits => "fits",
        }
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "JPEG",
            OutputFormat::Png => "PNG",
            OutputFormat::Tiff => "TIFF",
            OutputFormat::Fits => "FITS",
        }
    }
}

pub use super::meta::OutputMeta;

/// The path of the JSON sidecar of `path`: the full file name plus `.json`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// Writes `meta` as pretty JSON to `<path>.json`, atomically.
pub fn write_sidecar(path: &Path, meta: &OutputMeta) -> Result<(), OutputError> {
    let side = sidecar_path(path);
    let mut json = serde_json::to_string_pretty(meta).unwrap_or_default();
    json.push('\n');
    super::write_bytes_atomic(&side, json.as_bytes())
}

/// Writes a display image in `format` (FITS goes to [`super::fits::write_fits`]), then the
/// sidecar if `meta.sidecar` is set.
pub fn write_image(
    path: &Path,
    img_display: &Image16,
    format: OutputFormat,
    meta: &OutputMeta,
) -> Result<(), OutputError> {
    check_shape(img_display)?;
    match format {
        OutputFormat::Jpeg => write_jpeg(path, img_display, meta)?,
        OutputFormat::Png => write_png(path, img_display, meta)?,
        OutputFormat::Tiff => write_tiff(path, img_display)?,
        OutputFormat::Fits => super::fits::write_fits(path, img_display, meta, &[])?,
    }
    if meta.sidecar {
        write_sidecar(path, meta)?;
    }
    Ok(())
}

/// Samples scaled to 8 bits, channels kept.
pub(crate) fn to_8bit(img: &Image16) -> Vec<u8> {
    let max = u32::from(img.max_value()).max(1);
    img.data
        .iter()
        .map(|&v| ((u32::from(v).min(max) * 255 + max / 2) / max) as u8)
        .collect()
}

/// An 8-bit display image, what a JPEG is encoded from: `channels` (1 or 3) interleaved
/// bytes per pixel, row-major ([`crate::tone::render_8bit`] makes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image8 {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: Vec<u8>,
}

/// Fails unless `img` is grey or RGB and holds exactly its pixels.
fn check_image8(img: &Image8) -> Result<(), OutputError> {
    let need = u64::from(img.width) * u64::from(img.height) * u64::from(img.channels);
    if !(matches!(img.channels, 1 | 3) && need > 0 && need == img.data.len() as u64) {
        return Err(OutputError::Shape {
            width: img.width,
            height: img.height,
            channels: img.channels,
            need,
            got: img.data.len(),
        });
    }
    Ok(())
}

/// Writes an 8-bit display image as JPEG, then the sidecar if `meta.sidecar` is set: the
/// same file [`write_image`] writes for the 16-bit image the 8 bits were scaled from.
pub fn write_jpeg8(path: &Path, img: &Image8, meta: &OutputMeta) -> Result<(), OutputError> {
    check_image8(img)?;
    let pixels = Pixels::Whole(&img.data);
    encode_jpeg(path, img.width, img.height, img.channels, pixels, meta)?;
    if meta.sidecar {
        write_sidecar(path, meta)?;
    }
    Ok(())
}

/// An 8-bit display image as the bytes of a JPEG (no metadata), for serving from
/// memory: the status page's latest frame and keogram.
pub fn jpeg8_bytes(img: &Image8) -> Result<Vec<u8>, OutputError> {
    let here = Path::new("(an image in memory)");
    check_image8(img)?;
    check_jpeg_size(here, img.width, img.height)?;
    jpeg::encode(
        img.width,
        img.height,
        img.channels,
        Pixels::Whole(&img.data),
        JPEG_QUALITY,
    )
    .map_err(jpeg_err(here))
}

/// Writes a JPEG whose 8-bit rows `rows(y, row)` produces (`width × channels` bytes
/// each, channels 1 or 3; called in parallel, once per row, and must write every byte of
/// `row`), then the sidecar if `meta.sidecar` is set: the same file [`write_jpeg8`]
/// writes for the same pixels.
pub fn write_jpeg_rows(
    path: &Path,
    width: u32,
    height: u32,
    channels: u8,
    rows: &(dyn Fn(usize, &mut [u8]) + Sync),
    meta: &OutputMeta,
) -> Result<(), OutputError> {
    if !matches!(channels, 1 | 3) || width == 0 || height == 0 {
        return Err(OutputError::Shape {
            width,
            height,
            channels,
            need: u64::from(width) * u64::from(height) * u64::from(channels),
            got: 0,
        });
    }
    encode_jpeg(path, width, height, channels, Pixels::Rows(rows), meta)?;
    if meta.sidecar {
        write_sidecar(path, meta)?;
    }
    Ok(())
}

fn check_jpeg_size(path: &Path, width: u32, height: u32) -> Result<(), OutputError> {
    if width > 65_535 || height > 65_535 {
        return Err(OutputError::Unsupported {
            path: path.to_path_buf(),
            format: "JPEG",
            reason: format!("{width}x{height} exceeds JPEG's 65535-pixel limit; use PNG or TIFF"),
        });
    }
    Ok(())
}

fn jpeg_err(path: &Path) -> impl Fn(JpegError) -> OutputError + '_ {
    move |e| OutputError::Unsupported {
        path: path.to_path_buf(),
        format: "JPEG",
        reason: e.to_string(),
    }
}

fn write_jpeg(path: &Path, img: &Image16, meta: &OutputMeta) -> Result<(), OutputError> {
    let data = to_8bit(img);
    let pixels = Pixels::Whole(&data);
    encode_jpeg(path, img.width, img.height, img.channels, pixels, meta)
}

/// Every nightcap JPEG is made by [`jpeg::encode`]: libjpeg-turbo, about 3x faster than
/// the pure-Rust jpeg-encoder on 12 MP stacks (68 ms against 196 ms measured on one
/// core), in strips on all cores; 4:4:4 like the original program (no chroma
/// subsampling: star colours stay sharp); quality [`JPEG_QUALITY`]; the EXIF block of
/// `meta` as an APP1 segment after the JFIF one.
fn encode_jpeg(
    path: &Path,
    width: u32,
    height: u32,
    channels: u8,
    pixels: Pixels<'_>,
    meta: &OutputMeta,
) -> Result<(), OutputError> {
    check_jpeg_size(path, width, height)?;
    let overlays = crate::caption::overlays(&meta.marks, width, height);
    let row_len = width as usize * usize::from(channels);
    let marked = |y: usize, row: &mut [u8]| {
        match pixels {
            Pixels::Whole(data) => row.copy_from_slice(&data[y * row_len..(y + 1) * row_len]),
            Pixels::Rows(f) => f(y, row),
        }
        for o in &overlays {
            o.blend_row(y, row, usize::from(channels));
        }
    };
    let pixels = if overlays.is_empty() {
        pixels
    } else {
        Pixels::Rows(&marked)
    };
    let jpeg =
        jpeg::encode(width, height, channels, pixels, JPEG_QUALITY).map_err(jpeg_err(path))?;
    let jpeg = with_exif(jpeg, &exif_tiff(meta));
    write_atomic(path, |w| {
        w.write_all(&jpeg).map_err(|e| OutputError::io(path, e))
    })
}

/// Scales samples of `img`'s bit depth to the full 16-bit range (display images from
/// `render` are 16-bit already and pass unchanged).
fn to_16bit(img: &Image16) -> impl Fn(u16) -> u16 {
    let max = u32::from(img.max_value()).max(1);
    move |v| {
        if max == 65535 {
            v
        } else {
            ((u32::from(v).min(max) * 65535 + max / 2) / max) as u16
        }
    }
}

/// 16-bit PNG, streamed a row at a time (the png crate directly: the image crate's encoder
/// wants the whole image as bytes, copies it to big-endian and holds the whole compressed
/// stream, about 130 MB more for a 12 MP RGB stack). Fast deflate: a 12 MP 16-bit PNG at
/// the default level takes seconds on a Pi. EXIF in an eXIf chunk.
fn write_png(path: &Path, img: &Image16, meta: &OutputMeta) -> Result<(), OutputError> {
    png_rows(path, img, Some(&exif_tiff(meta)), to_16bit(img))
}

/// A 16-bit PNG of the samples exactly as they are (grey for one channel, RGB for three;
/// no scaling, no metadata), streamed a row at a time: `export --format png`.
pub fn write_png_samples(path: &Path, img: &Image16) -> Result<(), OutputError> {
    png_rows(path, img, None, |v| v)
}

/// Writes `img` as a 16-bit PNG with each sample through `to16`, a row at a time.
fn png_rows(
    path: &Path,
    img: &Image16,
    exif: Option<&[u8]>,
    to16: impl Fn(u16) -> u16,
) -> Result<(), OutputError> {
    let err = |e: png::EncodingError| OutputError::Unsupported {
        path: path.to_path_buf(),
        format: "PNG",
        reason: e.to_string(),
    };
    let row_len = img.width as usize * usize::from(img.channels);
    if img.data.len() != row_len * img.height as usize {
        return Err(OutputError::Unsupported {
            path: path.to_path_buf(),
            format: "PNG",
            reason: "image size mismatch".into(),
        });
    }
    write_atomic(path, |w| {
        let mut info = png::Info::with_size(img.width, img.height);
        info.exif_metadata = exif.map(std::borrow::Cow::Borrowed);
        let mut enc = png::Encoder::with_info(&mut *w, info).map_err(err)?;
        enc.set_color(if img.channels == 3 {
            png::ColorType::Rgb
        } else {
            png::ColorType::Grayscale
        });
        enc.set_depth(png::BitDepth::Sixteen);
        enc.set_compression(png::Compression::Fast);
        enc.set_filter(png::Filter::Adaptive);
        let mut writer = enc.write_header().map_err(err)?;
        let mut stream = writer.stream_writer().map_err(err)?;
        let mut row = vec![0u8; 2 * row_len];
        for src in img.data.chunks_exact(row_len.max(1)) {
            for (b, &v) in row.chunks_exact_mut(2).zip(src) {
                b.copy_from_slice(&to16(v).to_be_bytes());
            }
            stream
                .write_all(&row)
                .map_err(|e| OutputError::io(path, e))?;
        }
        stream.finish().map_err(err)?;
        writer.finish().map_err(err)
    })
}

/// 16-bit uncompressed TIFF, written a strip at a time through the tiff crate (the image
/// crate's encoder wants the whole image as bytes: a 74 MB copy of a 12 MP RGB stack).
fn write_tiff(path: &Path, img: &Image16) -> Result<(), OutputError> {
    let err = |e: tiff::TiffError| OutputError::Unsupported {
        path: path.to_path_buf(),
        format: "TIFF",
        reason: e.to_string(),
    };
    write_atomic(path, |w| {
        let mut enc = tiff::encoder::TiffEncoder::new(&mut *w).map_err(err)?;
        if img.channels == 3 {
            tiff_strips::<tiff::encoder::colortype::RGB16, _>(&mut enc, img)
        } else {
            tiff_strips::<tiff::encoder::colortype::Gray16, _>(&mut enc, img)
        }
        .map_err(err)?;
        w.flush().map_err(|e| OutputError::io(path, e))
    })
}

/// The strips of one TIFF image, samples scaled to 16 bits.
fn tiff_strips<C, W>(
    enc: &mut tiff::encoder::TiffEncoder<W>,
    img: &Image16,
) -> Result<(), tiff::TiffError>
where
    C: tiff::encoder::colortype::ColorType<Inner = u16>,
    W: Write + std::io::Seek,
{
    let to16 = to_16bit(img);
    let mut image = enc.new_image::<C>(img.width, img.height)?;
    let (mut at, mut strip) = (0usize, Vec::new());
    loop {
        let n = usize::try_from(image.next_strip_sample_count()).unwrap_or(usize::MAX);
        if n == 0 {
            break;
        }
        let Some(src) = img.data.get(at..at.saturating_add(n)) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "fewer samples than the image's size",
            )
            .into());
        };
        strip.clear();
        strip.extend(src.iter().map(|&v| to16(v)));
        image.write_strip(&strip)?;
        at += n;
    }
    image.finish()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ::image::ImageDecoder;
    use nightcap_frame::Cfa;

    pub(crate) fn meta() -> OutputMeta {
        OutputMeta {
            start_utc_ns: 1_795_486_500_000_000_000,
            end_utc_ns: 1_795_486_560_000_000_000,
            frames: 12,
            exposure_total_us: 60_000_000,
            mode: "max".into(),
            partial: false,
            rejected: 1,
            cfa: Some("RGGB".into()),
            software: "nightcap test".into(),
            sum_fit: None,
            sidecar: false,
            marks: Default::default(),
        }
    }

    fn pattern(w: u32, h: u32, channels: u8) -> Image16 {
        let mut img = Image16::zeroed(w, h, channels, Cfa::None, 16);
        let mut x = 0x9e37_79b9u32;
        for v in &mut img.data {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = x as u16;
        }
        img
    }

    /// Reads an ASCII or RATIONAL tag from a little-endian EXIF TIFF block, following the
    /// Exif IFD pointer. Independent of the writer's structures.
    pub(crate) fn exif_tag(tiff: &[u8], tag: u16) -> Option<Vec<u8>> {
        let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
        assert_eq!(&tiff[..4], b"II\x2a\x00");
        let u16_at = |o: usize| u16::from_le_bytes([tiff[o], tiff[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(tiff[o..o + 4].try_into().unwrap()) as usize;
        let mut ifds = vec![u32_at(4)];
        while let Some(ifd) = ifds.pop() {
            for i in 0..u16_at(ifd) as usize {
                let e = ifd + 2 + 12 * i;
                let (t, kind, count) = (u16_at(e), u16_at(e + 2), u32_at(e + 4));
                if t == 0x8769 {
                    ifds.push(u32_at(e + 8));
                }
                if t == tag {
                    let len = count * if kind == 5 { 8 } else { 1 };
                    let at = if len <= 4 { e + 8 } else { u32_at(e + 8) };
                    return Some(tiff[at..at + len].to_vec());
                }
            }
        }
        None
    }

    #[test]
    fn format_names() {
        assert_eq!(OutputFormat::from_name("JPG"), Some(OutputFormat::Jpeg));
        assert_eq!(OutputFormat::from_name("tif"), Some(OutputFormat::Tiff));
        assert_eq!(OutputFormat::from_name("fit"), Some(OutputFormat::Fits));
        assert_eq!(OutputFormat::from_name("gif"), None);
        for f in [
            OutputFormat::Jpeg,
            OutputFormat::Png,
            OutputFormat::Tiff,
            OutputFormat::Fits,
        ] {
            assert_eq!(OutputFormat::from_name(f.extension()), Some(f));
        }
    }

    #[test]
    fn png16_and_tiff16_round_trip_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for channels in [1, 3] {
            let img = pattern(37, 23, channels);
            for (format, ext) in [(OutputFormat::Png, "png"), (OutputFormat::Tiff, "tiff")] {
                let path = dir.path().join(format!("x{channels}.{ext}"));
                write_image(&path, &img, format, &meta()).unwrap();
                let back = ::image::open(&path).unwrap();
                assert_eq!((back.width(), back.height()), (37, 23));
                let data: Vec<u16> = if channels == 1 {
                    back.into_luma16().into_raw()
                } else {
                    back.into_rgb16().into_raw()
                };
                assert_eq!(data, img.data, "{ext} with {channels} channels");
                if format == OutputFormat::Png {
                    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
                    let mut dec = ::image::codecs::png::PngDecoder::new(file).unwrap();
                    let exif = dec.exif_metadata().unwrap().expect("PNG eXIf chunk");
                    assert_eq!(exif_tag(&exif, 0x9003).unwrap(), b"2026:11:24 02:15:00\0");
                }
            }
        }
    }

    #[test]
    fn lower_bit_depths_are_scaled_to_full_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image16::zeroed(2, 1, 1, Cfa::None, 12);
        img.data = vec![4095, 2048];
        let path = dir.path().join("a.png");
        write_image(&path, &img, OutputFormat::Png, &meta()).unwrap();
        let back = ::image::open(&path).unwrap().into_luma16().into_raw();
        assert_eq!(back, vec![65535, 32776]);
    }

    #[test]
    fn jpeg_has_size_and_exif_with_window_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.jpg");
        let img = pattern(64, 48, 3);
        write_image(&path, &img, OutputFormat::Jpeg, &meta()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut dec =
            ::image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(dec.dimensions(), (64, 48));
        let exif = dec.exif_metadata().unwrap().expect("EXIF present");
        assert_eq!(
            exif_tag(&exif, 0x9003).unwrap(),
            b"2026:11:24 02:15:00\0".to_vec()
        );
        assert_eq!(exif_tag(&exif, 0x9010).unwrap(), b"+00:00\0".to_vec());
        assert_eq!(exif_tag(&exif, 0x9011).unwrap(), b"+00:00\0".to_vec());
        let rational = exif_tag(&exif, 0x829A).unwrap();
        assert_eq!(rational, [60, 0, 0, 0, 1, 0, 0, 0]);
        let desc = exif_tag(&exif, 0x010E).unwrap();
        let parsed: OutputMeta = serde_json::from_slice(&desc[..desc.len() - 1]).unwrap();
        assert_eq!(parsed, meta());
        // And the pixels are there.
        let back = ::image::load_from_memory(&bytes).unwrap().into_rgb8();
        assert_eq!(back.dimensions(), (64, 48));
    }

    #[test]
    fn jpeg8_is_the_same_file_as_the_16_bit_jpeg() {
        let dir = tempfile::tempdir().unwrap();
        let mut meta = meta();
        meta.sidecar = true;
        for channels in [1, 3] {
            let img = pattern(37, 21, channels);
            let (a, b) = (dir.path().join("a.jpg"), dir.path().join("b.jpg"));
            write_image(&a, &img, OutputFormat::Jpeg, &meta).unwrap();
            let img8 = Image8 {
                width: img.width,
                height: img.height,
                channels,
                data: to_8bit(&img),
            };
            write_jpeg8(&b, &img8, &meta).unwrap();
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            assert_eq!(
                std::fs::read(sidecar_path(&a)).unwrap(),
                std::fs::read(sidecar_path(&b)).unwrap()
            );
        }
        // The same pixels pulled row by row.
        for channels in [1u8, 3] {
            let img = pattern(37, 21, channels);
            let data = to_8bit(&img);
            let row = 37 * usize::from(channels);
            let (a, b) = (dir.path().join("r8.jpg"), dir.path().join("rows.jpg"));
            let img8 = Image8 {
                width: 37,
                height: 21,
                channels,
                data: data.clone(),
            };
            write_jpeg8(&a, &img8, &meta).unwrap();
            let rows = |y: usize, out: &mut [u8]| out.copy_from_slice(&data[y * row..][..row]);
            write_jpeg_rows(&b, 37, 21, channels, &rows, &meta).unwrap();
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        }
        let none = |_: usize, _: &mut [u8]| {};
        assert!(write_jpeg_rows(&dir.path().join("d.jpg"), 4, 4, 2, &none, &meta).is_err());
        assert!(write_jpeg_rows(&dir.path().join("d.jpg"), 0, 4, 3, &none, &meta).is_err());
        let bad = Image8 {
            width: 4,
            height: 4,
            channels: 3,
            data: vec![0; 5],
        };
        let err = write_jpeg8(&dir.path().join("c.jpg"), &bad, &meta).unwrap_err();
        assert!(matches!(err, OutputError::Shape { got: 5, .. }), "{err}");
    }

    #[test]
    fn sidecar_written_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tiff");
        let mut m = meta();
        m.sidecar = true;
        write_image(&path, &pattern(4, 4, 1), OutputFormat::Tiff, &m).unwrap();
        let json = std::fs::read(dir.path().join("a.tiff.json")).unwrap();
        let parsed: OutputMeta = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed, meta());
    }

    #[test]
    fn inconsistent_image_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = pattern(4, 4, 3);
        img.data.pop();
        let err = write_image(&dir.path().join("a.png"), &img, OutputFormat::Png, &meta());
        assert!(matches!(err, Err(OutputError::Shape { got: 47, .. })));
    }
}
