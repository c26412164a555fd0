//! A folder of images as a frame source: re-stack the JPEG/PNG/TIFF frames of the
//! original program (`img20200428-013000.jpg`) or of other all-sky tools, or the raw FITS
//! frames of Siril, indi-allsky and other astronomy tools.
//!
//! [`ImageFolder::open`] lists the folder once: every JPEG, PNG, TIFF or FITS file is
//! timed and measured from its header (the pixels are decoded only when the frame is
//! read), and the frames are delivered in time order (then name order). A file's time
//! comes from, in order: FITS `DATE-OBS` (UTC), EXIF `DateTimeOriginal` (+
//! `SubSecTimeOriginal`, `OffsetTimeOriginal`), a date and time in its name
//! (`20200428-013000`, `20200428_013000`, `2020-04-28T01-30-00`, `20200428013000`, ...),
//! the file's modification time. Times without a zone are read in the folder's fixed UTC
//! offset (default UTC). The time is taken as the exposure start.
//!
//! The stream's [`PixelFormat`] is set by the first image: 8-bit grey → `GREY` U8, 16-bit
//! grey → `Y16 ` U16Le, 8-bit colour → `RGB3` RGB24, 16-bit colour → `RGB6` RGB48 (all 16
//! bits kept). FITS frames (16-bit, `BZERO = 32768`) keep their samples as they are: one
//! plane → 16-bit words with the CFA of `BAYERPAT` (a raw mosaic, debayered when
//! stacked), three planes → RGB48; `BITDEPTH` gives the significant bits, `EXPTIME` the
//! exposure, and `ROWORDER = 'BOTTOM-UP'` frames are turned top-down. Later images are
//! converted to the first one's format; images of another size or layout, and files that
//! cannot be decoded, are skipped and listed by [`ImageFolder::skipped`]. The exposure is
//! EXIF `ExposureTime` or FITS `EXPTIME` if present, else the median spacing of the frame
//! times (0 for a single frame).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use image::{ImageDecoder, ImageReader, Limits};

mod exif;

pub use exif::{exif_block, exif_fields, ExifFields};

use super::{FrameSource, SourceError};
use nightcap_frame::{
    Cfa, FrameMeta, Packing, PixelFormat, UtcNanos, MAX_DIMENSION, MAX_FRAME_BYTES,
};

/// A file left out of the stream, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Where a frame's time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    Exif,
    FileName,
    ModifiedTime,
}

/// One image file of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub path: PathBuf,
    pub time_utc_ns: UtcNanos,
    pub time_source: TimeSource,
    /// EXIF `ExposureTime`, µs.
    pub exif_exposure_us: Option<u32>,
}

/// The sample layout the stream delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Grey8,
    Grey16,
    Rgb8,
    Rgb16,
    /// FITS frames: their samples as they are.
    Fits {
        planes: u8,
        cfa: Cfa,
        bit_depth: u8,
        bottom_up: bool,
    },
}

/// A folder of JPEG/PNG/TIFF or FITS images as a [`FrameSource`].
pub struct ImageFolder {
    dir: PathBuf,
    entries: Vec<ImageEntry>,
    next: usize,
    kind: Kind,
    format: PixelFormat,
    /// Exposure for frames without EXIF `ExposureTime`, µs.
    default_exposure_us: u32,
    /// Shared so the importer can still read it once the pipeline owns the source.
    skipped: SkipLog,
}

/// The files an [`ImageFolder`] left out, readable after the folder was handed to the
/// capture pipeline (which drops it when done).
#[derive(Debug, Clone, Default)]
pub struct SkipLog(Arc<Mutex<Vec<Skipped>>>);

impl SkipLog {
    /// Everything skipped so far, in the order it was skipped.
    pub fn list(&self) -> Vec<Skipped> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn push(&self, s: Skipped) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Largest image file read (caps allocation from what is on disk).
const MAX_FILE_BYTES: u64 = MAX_FRAME_BYTES;
/// Bytes read from the start of a file to find its EXIF block.
const HEADER_BYTES: u64 = 256 * 1024;

fn is_image_name(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    ["jpg", "jpeg", "png", "tif", "tiff", "fits", "fit", "fts"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_DIMENSION);
    l.max_image_height = Some(MAX_DIMENSION);
    l
}

impl ImageFolder {
    /// Lists and times the images in `dir`. Times without a zone (EXIF without an offset,
    /// file names) are taken to be at `naive_utc_offset_s` seconds east of UTC.
    pub fn open(dir: &Path, naive_utc_offset_s: i32) -> Result<ImageFolder, SourceError> {
        let io = |source| SourceError::Io {
            what: format!("folder {}", dir.display()),
            source,
        };
        let mut files: Vec<PathBuf> = Vec::new();
        let mut skipped = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if !entry.file_type().map_err(io)?.is_file() {
                continue;
            }
            let path = entry.path();
            if is_image_name(&path) {
                files.push(path);
            } else {
                skipped.push(Skipped {
                    path,
                    reason: "not a JPEG, PNG, TIFF or FITS file".to_string(),
                });
            }
        }
        files.sort();
        let mut probed = Vec::new();
        for path in files {
            match probe(&path, naive_utc_offset_s) {
                Err(reason) => skipped.push(Skipped { path, reason }),
                Ok(p) => probed.push(p),
            }
        }
        probed.sort_by(|(a, ..), (b, ..)| {
            a.time_utc_ns
                .cmp(&b.time_utc_ns)
                .then_with(|| a.path.cmp(&b.path))
        });
        // The first image in time sets the stream's size and layout.
        let Some(&(_, width, height, kind)) = probed.first() else {
            return Err(SourceError::Unsupported(format!(
                "no readable JPEG, PNG, TIFF or FITS images in {}{}",
                dir.display(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" ({} other files skipped)", skipped.len())
                }
            )));
        };
        let mut entries = Vec::new();
        for (entry, w, h, k) in probed {
            if (w, h) != (width, height) {
                skipped.push(Skipped {
                    path: entry.path,
                    reason: format!("image is {w}x{h}, the stream is {width}x{height}"),
                });
            } else if k != kind && (is_fits(k) || is_fits(kind)) {
                skipped.push(Skipped {
                    path: entry.path,
                    reason: format!("{} in a stream of {}", kind_name(k), kind_name(kind)),
                });
            } else {
                entries.push(entry);
            }
        }
        let times: Vec<UtcNanos> = entries.iter().map(|e| e.time_utc_ns).collect();
        let format = stream_format(kind, width, height);
        format
            .validate()
            .map_err(|e| SourceError::Unsupported(format!("images in {}: {e}", dir.display())))?;
        Ok(ImageFolder {
            dir: dir.to_path_buf(),
            entries,
            next: 0,
            kind,
            format,
            default_exposure_us: spacing_exposure_us(&times),
            skipped: SkipLog(Arc::new(Mutex::new(skipped))),
        })
    }

    /// The frames to be delivered, in order.
    pub fn entries(&self) -> &[ImageEntry] {
        &self.entries
    }

    /// Files left out so far (at listing, and frames that failed to decode), with reasons.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.skipped.list()
    }

    /// A handle on the skipped files that outlives the source (decode failures are
    /// only known once the pipeline has read the frames).
    pub fn skip_log(&self) -> SkipLog {
        self.skipped.clone()
    }

    /// Leaves out the frames whose exposure start is in `already` (the frames a journal
    /// holds), so an import run again, or resumed after it was killed, adds each frame
    /// once. Returns how many were left out.
    pub fn skip_times(&mut self, already: &HashSet<UtcNanos>) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !already.contains(&e.time_utc_ns));
        before - self.entries.len()
    }

    /// Decodes `entry` into `buf` in the stream's layout.
    fn load(&self, entry: &ImageEntry, buf: &mut Vec<u8>) -> Result<(), String> {
        if let Kind::Fits { bottom_up, .. } = self.kind {
            return self.load_fits(entry, bottom_up, buf);
        }
        let bytes = read_capped(&entry.path, MAX_FILE_BYTES)?;
        let mut reader = ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        reader.limits(limits());
        let img = reader.decode().map_err(|e| format!("cannot decode: {e}"))?;
        let (w, h) = (img.width(), img.height());
        if (w, h) != (self.format.width, self.format.height) {
            return Err(format!(
                "image is {w}x{h}, the stream is {}x{}",
                self.format.width, self.format.height
            ));
        }
        buf.clear();
        match self.kind {
            Kind::Grey8 => buf.extend_from_slice(img.to_luma8().as_raw()),
            Kind::Rgb8 => buf.extend_from_slice(img.to_rgb8().as_raw()),
            Kind::Grey16 => put_le(buf, img.to_luma16().as_raw()),
            Kind::Rgb16 => put_le(buf, img.to_rgb16().as_raw()),
            Kind::Fits { .. } => unreachable!("FITS frames load above"),
        }
        Ok(())
    }

    /// A FITS frame's samples as they are, rows top-down.
    fn load_fits(
        &self,
        entry: &ImageEntry,
        bottom_up: bool,
        buf: &mut Vec<u8>,
    ) -> Result<(), String> {
        let fits = nightcap_frame::fits::read_fits(&entry.path).map_err(|e| e.to_string())?;
        let img = fits.image;
        let f = &self.format;
        let planes = if f.packing == Packing::Rgb48 { 3 } else { 1 };
        if (img.width, img.height, img.channels) != (f.width, f.height, planes) {
            return Err(format!(
                "image is {}x{} with {} planes, the stream is {}x{} with {planes}",
                img.width, img.height, img.channels, f.width, f.height
            ));
        }
        buf.clear();
        let row = img.width as usize * usize::from(img.channels);
        if bottom_up {
            img.data
                .chunks_exact(row)
                .rev()
                .for_each(|r| put_le(buf, r));
        } else {
            put_le(buf, &img.data);
        }
        Ok(())
    }
}

impl FrameSource for ImageFolder {
    fn format(&self) -> PixelFormat {
        self.format
    }

    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError> {
        while let Some(entry) = self.entries.get(self.next).cloned() {
            let index = self.next;
            self.next += 1;
            match self.load(&entry, buf) {
                Ok(()) => {
                    return Ok(FrameMeta {
                        seq: 0,
                        time_utc_ns: entry.time_utc_ns,
                        exposure_us: entry.exif_exposure_us.unwrap_or(self.default_exposure_us),
                        gain_milli: 0,
                        driver_seq: u32::try_from(index).unwrap_or(u32::MAX),
                        driver_ts_ns: 0,
                    })
                }
                Err(reason) => self.skipped.push(Skipped {
                    path: entry.path,
                    reason,
                }),
            }
        }
        Err(SourceError::Ended)
    }

    /// Files on disk wait for the pipeline: an import never drops a frame.
    fn is_live(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!(
            "images in {}: {} frames of {}{}",
            self.dir.display(),
            self.entries.len(),
            self.format,
            match self.skipped.len() {
                0 => String::new(),
                1 => ", 1 file skipped".to_string(),
                n => format!(", {n} files skipped"),
            }
        )
    }
}

/// Appends `samples` as little-endian words.
fn put_le(buf: &mut Vec<u8>, samples: &[u16]) {
    buf.reserve(samples.len() * 2);
    samples
        .iter()
        .for_each(|s| buf.extend_from_slice(&s.to_le_bytes()));
}

fn is_fits(kind: Kind) -> bool {
    matches!(kind, Kind::Fits { .. })
}

/// How a layout is named in a skipped file's reason.
fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::Grey8 | Kind::Grey16 | Kind::Rgb8 | Kind::Rgb16 => "an image".into(),
        Kind::Fits {
            planes: 3,
            bit_depth,
            ..
        } => format!("a {bit_depth}-bit RGB FITS frame"),
        Kind::Fits { cfa, bit_depth, .. } => match cfa.name() {
            Some(p) => format!("a {bit_depth}-bit {p} FITS frame"),
            None => format!("a {bit_depth}-bit mono FITS frame"),
        },
    }
}

fn stream_format(kind: Kind, width: u32, height: u32) -> PixelFormat {
    let (fourcc, bit_depth, packing, bpp, cfa) = match kind {
        Kind::Grey8 => (*b"GREY", 8, Packing::U8, 1, Cfa::None),
        Kind::Grey16 => (*b"Y16 ", 16, Packing::U16Le, 2, Cfa::None),
        Kind::Rgb8 => (*b"RGB3", 8, Packing::Rgb24, 3, Cfa::None),
        Kind::Rgb16 => (*b"RGB6", 16, Packing::Rgb48, 6, Cfa::None),
        Kind::Fits {
            planes: 3,
            bit_depth,
            ..
        } => (*b"RGB6", bit_depth, Packing::Rgb48, 6, Cfa::None),
        Kind::Fits { cfa, bit_depth, .. } => {
            // The V4L2 codes of 16-bit Bayer and grey, for the record only.
            let fourcc = match cfa {
                Cfa::Rggb => *b"RG16",
                Cfa::Bggr => *b"BYR2",
                Cfa::Grbg => *b"GR16",
                Cfa::Gbrg => *b"GB16",
                Cfa::None => *b"Y16 ",
            };
            (fourcc, bit_depth, Packing::U16Le, 2, cfa)
        }
    };
    PixelFormat {
        fourcc,
        width,
        height,
        stride: width.saturating_mul(bpp),
        bit_depth,
        cfa,
        packing,
    }
}

/// Times and measures one FITS file from its header: `DATE-OBS` (UTC) for the time,
/// `EXPTIME` (s) for the exposure, `BAYERPAT`, `BITDEPTH`, `ROWORDER` for the layout.
fn probe_fits(path: &Path) -> Result<(ImageEntry, u32, u32, Kind), String> {
    let probe = nightcap_frame::fits::probe_fits(path).map_err(|e| e.to_string())?;
    let (w, h, planes) = (probe.width, probe.height, probe.planes);
    let get = |key: &str| probe.get(key);
    let bottom_up = get("ROWORDER").is_some_and(|v| v.eq_ignore_ascii_case("BOTTOM-UP"));
    let stored = match get("BAYERPAT").map(str::to_ascii_uppercase).as_deref() {
        Some("RGGB") => Cfa::Rggb,
        Some("BGGR") => Cfa::Bggr,
        Some("GRBG") => Cfa::Grbg,
        Some("GBRG") => Cfa::Gbrg,
        _ => Cfa::None,
    };
    // BAYERPAT names the pattern of the first stored row; turning the rows over puts the
    // last stored row first, which starts the other row of the pattern when it is odd.
    let cfa = if bottom_up && h % 2 == 0 {
        other_row_first(stored)
    } else {
        stored
    };
    let bit_depth = get("BITDEPTH")
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|d| (9..=16).contains(d))
        .unwrap_or(16);
    let time_utc_ns = get("DATE-OBS")
        .and_then(fits_date_utc_ns)
        .ok_or_else(|| "no DATE-OBS (UTC start of the exposure) in its header".to_string())?;
    let exposure_us = get("EXPTIME")
        .or_else(|| get("EXPOSURE"))
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
        .map(|s| (s * 1e6).round() as u32);
    let entry = ImageEntry {
        path: path.to_path_buf(),
        time_utc_ns,
        time_source: TimeSource::Exif,
        exif_exposure_us: exposure_us,
    };
    let kind = Kind::Fits {
        planes,
        cfa: if planes == 1 { cfa } else { Cfa::None },
        bit_depth,
        bottom_up,
    };
    Ok((entry, w, h, kind))
}

/// The pattern of a mosaic whose rows start at the pattern's second row.
fn other_row_first(cfa: Cfa) -> Cfa {
    match cfa {
        Cfa::Rggb => Cfa::Gbrg,
        Cfa::Gbrg => Cfa::Rggb,
        Cfa::Bggr => Cfa::Grbg,
        Cfa::Grbg => Cfa::Bggr,
        Cfa::None => Cfa::None,
    }
}

/// A FITS date (`YYYY-MM-DDThh:mm:ss[.s…]`, UTC) in nanoseconds.
fn fits_date_utc_ns(v: &str) -> Option<UtcNanos> {
    let b = v.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0')))
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let secs = civil_seconds(
        i64::from(num(0..4)?),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )?;
    let mut frac_ns = 0i64;
    if b.len() > 19 {
        let digits = b.get(20..)?;
        if b[19] != b'.' || digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for (i, &c) in digits.iter().take(9).enumerate() {
            frac_ns += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
        }
    }
    Some(secs * 1_000_000_000 + frac_ns)
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("file is larger than {cap} bytes"));
    }
    Ok(bytes)
}

/// Times and measures one file from its header: (entry, width, height, layout).
fn probe(path: &Path, naive_offset_s: i32) -> Result<(ImageEntry, u32, u32, Kind), String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ["fits", "fit", "fts"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
    {
        return probe_fits(path);
    }
    let header = {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
        let mut head = Vec::new();
        file.take(HEADER_BYTES)
            .read_to_end(&mut head)
            .map_err(|e| format!("cannot read: {e}"))?;
        head
    };
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut reader = reader;
    reader.limits(limits());
    let decoder = reader
        .into_decoder()
        .map_err(|e| format!("not a readable image: {e}"))?;
    let (w, h) = decoder.dimensions();
    let kind = match decoder.color_type() {
        image::ColorType::L8 | image::ColorType::La8 => Kind::Grey8,
        image::ColorType::L16 | image::ColorType::La16 => Kind::Grey16,
        image::ColorType::Rgb16 | image::ColorType::Rgba16 => Kind::Rgb16,
        _ => Kind::Rgb8,
    };
    let exif = exif_block(&header).map(exif_fields).unwrap_or_default();
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let offset_ns = i64::from(naive_offset_s) * 1_000_000_000;
    let (time_utc_ns, time_source) = if let Some(t) = exif.time_utc_ns(naive_offset_s) {
        (t, TimeSource::Exif)
    } else if let Some(t) = time_in_name(name) {
        (t - offset_ns, TimeSource::FileName)
    } else {
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(|e| format!("no time in EXIF or name, and no modification time: {e}"))?;
        let ns = match mtime.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        };
        (ns, TimeSource::ModifiedTime)
    };
    let entry = ImageEntry {
        path: path.to_path_buf(),
        time_utc_ns,
        time_source,
        exif_exposure_us: exif.exposure_us,
    };
    Ok((entry, w, h, kind))
}

/// Exposure from frame spacing: the median gap between successive times, µs.
fn spacing_exposure_us(sorted_times: &[UtcNanos]) -> u32 {
    let mut gaps: Vec<i64> = sorted_times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .filter(|&g| g > 0)
        .collect();
    if gaps.is_empty() {
        return 0;
    }
    gaps.sort_unstable();
    let median_ns = gaps[gaps.len() / 2];
    u32::try_from(median_ns / 1000).unwrap_or(u32::MAX)
}

/// Seconds since the epoch of a calendar date and time read as UTC, if it is valid.
fn civil_seconds(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    let valid = (1970..=2200).contains(&y)
        && (1..=12).contains(&mo)
        && (1..=nightcap_frame::time::days_in_month(y, mo)).contains(&d)
        && h < 24
        && mi < 60
        && s < 61;
    valid.then(|| {
        nightcap_frame::time::days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s)
    })
}

/// A date and time in a file name, read as UTC, nanoseconds: `YYYYmmdd` or
/// `YYYY-mm-dd`, then optionally one of `-`, `_`, `T`, `t`, ` `, then `HHMMSS`,
/// `HH-MM-SS`, `HH_MM_SS` or `HH:MM:SS`. The digits must not continue a longer number.
pub fn time_in_name(name: &str) -> Option<UtcNanos> {
    let b = name.as_bytes();
    (0..b.len()).find_map(|start| {
        if start > 0 && b[start - 1].is_ascii_digit() {
            return None;
        }
        parse_name_time(&b[start..]).map(|s| s * 1_000_000_000)
    })
}

fn parse_name_time(b: &[u8]) -> Option<i64> {
    let mut i = 0;
    let num = |len: usize, i: &mut usize| -> Option<u32> {
        let digits = b.get(*i..*i + len)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *i += len;
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let skip = |seps: &[u8], i: &mut usize| {
        if b.get(*i).is_some_and(|c| seps.contains(c)) {
            *i += 1;
        }
    };
    let y = num(4, &mut i)?;
    skip(b"-", &mut i);
    let mo = num(2, &mut i)?;
    skip(b"-", &mut i);
    let d = num(2, &mut i)?;
    skip(b"-_Tt ", &mut i);
    let h = num(2, &mut i)?;
    skip(b"-_:", &mut i);
    let mi = num(2, &mut i)?;
    skip(b"-_:", &mut i);
    let s = num(2, &mut i)?;
    if b.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    civil_seconds(i64::from(y), mo, d, h, mi, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb};

    const T0: i64 = 1_588_037_400; // 2020-04-28T01:30:00Z

    #[test]
    fn times_in_file_names() {
        for name in [
            "img20200428-013000",
            "20200428_013000",
            "allsky-2020-04-28T01-30-00",
            "image-20200428013000-final",
            "2020-04-28 01:30:00",
            "cam1_20200428_01_30_00",
        ] {
            assert_eq!(time_in_name(name), Some(T0 * 1_000_000_000), "{name}");
        }
        for name in [
            "120200428-013000x",
            "img20201328-013000",
            "img20200431-013000",
            "photo_2020",
            "20200428-0130001",
        ] {
            assert_eq!(time_in_name(name), None, "{name}");
        }
        assert_eq!(
            time_in_name("img20240229-235959"),
            Some((1_709_251_199) * 1_000_000_000)
        );
    }

    /// A little-endian EXIF block with DateTimeOriginal, OffsetTimeOriginal and
    /// ExposureTime (num/den).
    fn exif_blob(date_time: &str, offset: &str, num: u32, den: u32) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend_from_slice(&8u32.to_le_bytes());
        let entry = |b: &mut Vec<u8>, tag: u16, typ: u16, count: u32, value: u32| {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&typ.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&value.to_le_bytes());
        };
        // IFD0 at 8: one entry (18 bytes); Exif IFD at 26: three entries (42 bytes).
        b.extend_from_slice(&1u16.to_le_bytes());
        entry(&mut b, 0x8769, 4, 1, 26);
        b.extend_from_slice(&0u32.to_le_bytes());
        let data = 26 + 42;
        let dt = format!("{date_time}\0");
        let off = format!("{offset}\0");
        b.extend_from_slice(&3u16.to_le_bytes());
        entry(&mut b, 0x829a, 5, 1, data);
        entry(&mut b, 0x9003, 2, dt.len() as u32, data + 8);
        entry(
            &mut b,
            0x9011,
            2,
            off.len() as u32,
            data + 8 + dt.len() as u32,
        );
        b.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(b.len(), data as usize);
        b.extend_from_slice(&num.to_le_bytes());
        b.extend_from_slice(&den.to_le_bytes());
        b.extend_from_slice(dt.as_bytes());
        b.extend_from_slice(off.as_bytes());
        b
    }

    #[test]
    fn exif_fields_are_read_and_truncation_is_harmless() {
        let blob = exif_blob("2021:08:12 22:15:30", "+02:00", 5, 1);
        let f = exif_fields(&blob);
        assert_eq!(f.date_time.as_deref(), Some("2021:08:12 22:15:30"));
        assert_eq!(f.offset.as_deref(), Some("+02:00"));
        assert_eq!(f.exposure_us, Some(5_000_000));
        // 2021-08-12T20:15:30Z.
        assert_eq!(f.time_utc_ns(0), Some(1_628_799_330 * 1_000_000_000));
        let naive = ExifFields {
            offset: None,
            ..f.clone()
        };
        assert_eq!(
            naive.time_utc_ns(3600),
            Some((1_628_799_330 + 7200 - 3600) * 1_000_000_000)
        );
        let sub = ExifFields {
            sub_sec: Some("25".into()),
            ..f.clone()
        };
        assert_eq!(
            sub.time_utc_ns(0),
            Some(1_628_799_330 * 1_000_000_000 + 250_000_000)
        );
        assert_eq!(
            exif_fields(&exif_blob("2021:08:12 22:15:30", "", 1, 250)).exposure_us,
            Some(4000)
        );
        for cut in 0..blob.len() {
            let _ = exif_fields(&blob[..cut]);
        }
        assert_eq!(
            ExifFields {
                date_time: Some("garbage".into()),
                ..Default::default()
            }
            .time_utc_ns(0),
            None
        );
    }

    fn rgb_png(path: &Path, w: u32, h: u32, seed: u8) {
        ImageBuffer::<Rgb<u8>, _>::from_fn(w, h, |x, y| Rgb([seed, x as u8, y as u8]))
            .save(path)
            .unwrap();
    }

    fn set_mtime(path: &Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn folder_of_pngs_in_time_order_with_skips() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Names sort differently from times: "b" is first in time.
        rgb_png(&d.join("a_img20200428-013100.png"), 4, 3, 1);
        rgb_png(&d.join("b_img20200428-013000.png"), 4, 3, 0);
        rgb_png(&d.join("c_img20200428-013200.png"), 4, 3, 2);
        // First by name, last in time: the stream follows the first in time.
        rgb_png(&d.join("0_img20200428-013300.png"), 5, 3, 3);
        std::fs::write(d.join("notes.txt"), b"clear sky").unwrap();
        std::fs::write(d.join("broken.png"), b"not really a png").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let mut src = ImageFolder::open(d, 0).unwrap();
        let f = src.format();
        assert_eq!(
            (f.width, f.height, f.stride, f.packing),
            (4, 3, 12, Packing::Rgb24)
        );
        let mut reasons: Vec<(String, String)> = src
            .skipped()
            .iter()
            .map(|s| {
                (
                    s.path.file_name().unwrap().to_string_lossy().into_owned(),
                    s.reason.clone(),
                )
            })
            .collect();
        reasons.sort();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(
            reasons[0],
            (
                "0_img20200428-013300.png".into(),
                "image is 5x3, the stream is 4x3".into()
            )
        );
        assert_eq!(reasons[1].0, "broken.png");
        assert_eq!(
            reasons[2],
            (
                "notes.txt".into(),
                "not a JPEG, PNG, TIFF or FITS file".into()
            )
        );
        let mut buf = Vec::new();
        for (k, seed) in [0u8, 1, 2].into_iter().enumerate() {
            let meta = src.next_frame(&mut buf).unwrap();
            assert_eq!(meta.time_utc_ns, (T0 + 60 * k as i64) * 1_000_000_000);
            assert_eq!(meta.exposure_us, 60_000_000, "from the 60 s spacing");
            let want: Vec<u8> = (0..3u8)
                .flat_map(|y| (0..4u8).flat_map(move |x| [seed, x, y]))
                .collect();
            assert_eq!(buf, want, "frame {k}");
        }
        assert!(matches!(src.next_frame(&mut buf), Err(SourceError::Ended)));
        assert!(src.describe().contains("3 frames"), "{}", src.describe());
    }

    #[test]
    fn jpeg_with_exif_time_and_exposure() {
        let dir = tempfile::tempdir().unwrap();
        let img = ImageBuffer::<Rgb<u8>, _>::from_pixel(16, 8, Rgb([120, 120, 120]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .unwrap();
        let blob = exif_blob("2021:08:12 22:15:30", "+02:00", 5, 1);
        let mut with_exif = vec![0xff, 0xd8, 0xff, 0xe1];
        with_exif.extend_from_slice(&((2 + 6 + blob.len()) as u16).to_be_bytes());
        with_exif.extend_from_slice(b"Exif\0\0");
        with_exif.extend_from_slice(&blob);
        with_exif.extend_from_slice(&jpeg[2..]);
        // The file name carries another time: EXIF wins.
        std::fs::write(dir.path().join("img20200428-013000.JPG"), &with_exif).unwrap();
        let mut src = ImageFolder::open(dir.path(), 0).unwrap();
        assert_eq!(src.entries()[0].time_source, TimeSource::Exif);
        let mut buf = Vec::new();
        let meta = src.next_frame(&mut buf).unwrap();
        assert_eq!(meta.time_utc_ns, 1_628_799_330 * 1_000_000_000);
        assert_eq!(meta.exposure_us, 5_000_000);
        assert_eq!(buf.len(), 16 * 8 * 3);
        assert!(buf.iter().all(|&v| v.abs_diff(120) <= 2), "{buf:?}");
    }

    #[test]
    fn sixteen_bit_grey_png_and_mtime_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sky.png");
        ImageBuffer::<Luma<u16>, _>::from_fn(3, 2, |x, y| {
            Luma([1000 * x as u16 + 40_000 * y as u16 + 7])
        })
        .save(&path)
        .unwrap();
        set_mtime(&path, 1_600_000_000);
        let mut src = ImageFolder::open(dir.path(), 0).unwrap();
        let f = src.format();
        assert_eq!(
            (f.fourcc, f.bit_depth, f.packing, f.stride),
            (*b"Y16 ", 16, Packing::U16Le, 6)
        );
        assert_eq!(src.entries()[0].time_source, TimeSource::ModifiedTime);
        let mut buf = Vec::new();
        let meta = src.next_frame(&mut buf).unwrap();
        assert_eq!(meta.time_utc_ns, 1_600_000_000 * 1_000_000_000);
        assert_eq!(
            meta.exposure_us, 0,
            "a single frame without EXIF has no known exposure"
        );
        let want: Vec<u8> = [7u16, 1007, 2007, 40_007, 41_007, 42_007]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(buf, want);
    }

    #[test]
    fn naive_name_times_use_the_folder_offset() {
        let dir = tempfile::tempdir().unwrap();
        rgb_png(&dir.path().join("img20200428-033000.png"), 2, 2, 0);
        let src = ImageFolder::open(dir.path(), 2 * 3600).unwrap();
        assert_eq!(
            src.entries()[0].time_utc_ns,
            T0 * 1_000_000_000,
            "03:30 at +02:00 is 01:30Z"
        );
    }

    #[test]
    fn empty_or_imageless_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let Err(SourceError::Unsupported(msg)) = ImageFolder::open(dir.path(), 0) else {
            panic!("expected an error")
        };
        assert!(
            msg.contains("no readable JPEG, PNG, TIFF or FITS images"),
            "{msg}"
        );
        std::fs::write(dir.path().join("readme.md"), b"x").unwrap();
        let Err(SourceError::Unsupported(msg)) = ImageFolder::open(dir.path(), 0) else {
            panic!("expected an error")
        };
        assert!(msg.contains("1 other files skipped"), "{msg}");
        assert!(matches!(
            ImageFolder::open(&dir.path().join("missing"), 0),
            Err(SourceError::Io { .. })
        ));
    }

    #[test]
    fn tiff_frames_are_read() {
        let dir = tempfile::tempdir().unwrap();
        rgb_png(&dir.path().join("img20200428-013000.png"), 4, 3, 0);
        let tiff = dir.path().join("img20200428-013100.tif");
        ImageBuffer::<Rgb<u8>, _>::from_fn(4, 3, |x, y| Rgb([9, x as u8, y as u8]))
            .save(&tiff)
            .unwrap();
        let mut src = ImageFolder::open(dir.path(), 0).unwrap();
        let mut buf = Vec::new();
        src.next_frame(&mut buf).unwrap();
        let meta = src.next_frame(&mut buf).unwrap();
        assert_eq!(meta.time_utc_ns, (T0 + 60) * 1_000_000_000);
        assert_eq!(&buf[..6], &[9, 0, 0, 9, 1, 0]);
        assert_eq!(meta.driver_seq, 1);
    }

    #[test]
    fn exif_blocks_are_found_in_png_jpeg_and_tiff_headers() {
        let blob = exif_blob("2021:08:12 22:15:30", "+02:00", 5, 1);
        let chunk = |kind: &[u8], body: &[u8]| {
            let mut c = (body.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(body);
            c.extend_from_slice(&[0; 4]); // CRC, not checked here
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[0; 13]));
        png.extend(chunk(b"eXIf", &blob));
        png.extend(chunk(b"IDAT", &[1, 2, 3]));
        assert_eq!(exif_block(&png), Some(&blob[..]));
        // eXIf after IDAT is not looked for; a truncated chunk is not an error.
        let mut late = b"\x89PNG\r\n\x1a\n".to_vec();
        late.extend(chunk(b"IDAT", &[1]));
        late.extend(chunk(b"eXIf", &blob));
        assert_eq!(exif_block(&late), None);
        assert_eq!(exif_block(&png[..40]), None);
        // JPEG: a JFIF APP0 first, fill bytes, then the EXIF APP1.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff];
        jpeg.extend_from_slice(&[0xff, 0xe1]);
        jpeg.extend_from_slice(&((2 + 6 + blob.len()) as u16).to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(&blob);
        assert_eq!(exif_block(&jpeg), Some(&blob[..]));
        for cut in 0..jpeg.len() {
            let _ = exif_block(&jpeg[..cut]);
        }
        assert_eq!(
            exif_block(&blob),
            Some(&blob[..]),
            "a TIFF file is its own block"
        );
        assert_eq!(exif_block(b"GIF89a"), None);
    }

    #[test]
    fn hostile_exif_offsets_do_not_panic() {
        // IFD0 pointing at the end of the address space, entries with huge offsets/counts.
        let mut b = b"II*\0".to_vec();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(exif_fields(&b), ExifFields::default());
        let mut b = b"MM\0*".to_vec();
        b.extend_from_slice(&8u32.to_be_bytes());
        b.extend_from_slice(&2u16.to_be_bytes());
        for tag in [0x8769u16, 0x0132] {
            b.extend_from_slice(&tag.to_be_bytes());
            b.extend_from_slice(&2u16.to_be_bytes());
            b.extend_from_slice(&u32::MAX.to_be_bytes());
            b.extend_from_slice(&(u32::MAX - 3).to_be_bytes());
        }
        assert_eq!(exif_fields(&b), ExifFields::default());
    }
}
