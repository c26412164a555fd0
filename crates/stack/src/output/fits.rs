//! FITS output: raw 16-bit stacks in the sensor's own layout, with their metadata.
//!
//! The file layout (and reading it) is [`nightcap_frame::fits`]'s; this module adds a
//! stack's header cards (times, exposure, frames combined, mode, creator) and writes the
//! file atomically. Values are the stacked samples, never stretched; a CFA mosaic carries
//! `BAYERPAT` and zero offsets so astronomy tools (Siril, PixInsight) can debayer it.

use std::io::Write;
use std::path::Path;

use super::{check_shape, write_atomic, OutputError, OutputMeta};
use nightcap_frame::fits::{write_data, FitsHeader};
pub use nightcap_frame::fits::{FitsFile, FitsProbe, FitsProblem, FitsValue};
use nightcap_frame::pixels::Image16;

/// Keys that only this module sets; `extra` may not repeat them.
const RESERVED: &[&str] = &[
    "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "BZERO", "BSCALE", "END",
];

/// The header cards of an image `img` with metadata `meta` and `extra` keys.
fn header(
    img: &Image16,
    meta: &OutputMeta,
    extra: &[(&str, FitsValue)],
) -> Result<Vec<u8>, FitsProblem> {
    use FitsValue::{Bool, Float, Int, Str};
    let mut h = FitsHeader::new();
    h.card("SIMPLE", &Bool(true), "conforms to FITS standard")?;
    h.card("BITPIX", &Int(16), "16-bit samples")?;
    h.card("NAXIS", &Int(if img.channels == 3 { 3 } else { 2 }), "")?;
    h.card("NAXIS1", &Int(img.width.into()), "width")?;
    h.card("NAXIS2", &Int(img.height.into()), "height")?;
    if img.channels == 3 {
        h.card("NAXIS3", &Int(3), "planes R, G, B")?;
    }
    h.card("BZERO", &Int(32768), "unsigned 16-bit data")?;
    h.card("BSCALE", &Int(1), "")?;
    let start = nightcap_frame::time::utc_iso(meta.start_utc_ns);
    h.card("DATE-OBS", &Str(start), "UTC start of the window")?;
    h.card(
        "DATE-END",
        &Str(nightcap_frame::time::utc_iso(meta.end_utc_ns)),
        "UTC end",
    )?;
    let exptime = meta.exposure_total_us as f64 / 1e6;
    h.card("EXPTIME", &Float(exptime), "s, total exposure")?;
    h.card("NCOMBINE", &Int(meta.frames.into()), "frames combined")?;
    h.card("NREJECT", &Int(meta.rejected.into()), "frames rejected")?;
    h.card("PARTIAL", &Bool(meta.partial), "window cut short")?;
    if let Some(name) = img.cfa.name() {
        h.card("BAYERPAT", &Str(name.into()), "CFA pattern")?;
        h.card("XBAYROFF", &Int(0), "")?;
        h.card("YBAYROFF", &Int(0), "")?;
    }
    h.card("BITDEPTH", &Int(img.bit_depth.into()), "significant bits")?;
    h.card("STACKMOD", &Str(meta.mode.clone()), "stacking mode")?;
    h.card("ROWORDER", &Str("TOP-DOWN".into()), "")?;
    h.card("CREATOR", &Str(meta.software.clone()), "")?;
    h.card("SWCREATE", &Str(meta.software.clone()), "")?;
    for (key, value) in extra {
        if RESERVED.contains(key) {
            return Err(FitsProblem::BadKey(key.to_string()));
        }
        h.card(key, value, "")?;
    }
    Ok(h.finish())
}

/// Writes `img` (raw samples, any layout) as a FITS file, atomically.
pub fn write_fits(
    path: &Path,
    img: &Image16,
    meta: &OutputMeta,
    extra: &[(&str, FitsValue)],
) -> Result<(), OutputError> {
    check_shape(img)?;
    let fits_err = |problem| OutputError::Fits {
        path: path.to_path_buf(),
        problem,
    };
    let head = header(img, meta, extra).map_err(fits_err)?;
    write_atomic(path, |w| {
        w.write_all(&head)
            .and_then(|()| write_data(w, img))
            .map_err(|e| OutputError::io(path, e))
    })
}

/// Reads a 16-bit FITS image (the subset [`write_fits`] writes); see
/// [`nightcap_frame::fits::read_fits`].
pub fn read_fits(path: &Path) -> Result<FitsFile, OutputError> {
    nightcap_frame::fits::read_fits(path).map_err(OutputError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::image::tests::meta;
    use nightcap_frame::fits::{BLOCK, CARD};
    use nightcap_frame::Cfa;

    fn mosaic(w: u32, h: u32) -> Image16 {
        let mut img = Image16::zeroed(w, h, 1, Cfa::Rggb, 12);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i as u16).wrapping_mul(977) & 0xfff;
        }
        img
    }

    fn write_read(img: &Image16, extra: &[(&str, FitsValue)]) -> (Vec<u8>, FitsFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.fits");
        write_fits(&path, img, &meta(), extra).unwrap();
        (std::fs::read(&path).unwrap(), read_fits(&path).unwrap())
    }

    #[test]
    fn mosaic_round_trips_with_its_header() {
        let img = mosaic(33, 21);
        let extra = [
            ("GAIN", FitsValue::Float(2.5)),
            ("OBSERVER", FitsValue::Str("O'Brien".into())),
        ];
        let (bytes, back) = write_read(&img, &extra);
        assert_eq!(bytes.len() % BLOCK, 0);
        assert_eq!(back.image, img);
        let text = String::from_utf8_lossy(&bytes[..BLOCK]);
        assert!(text.starts_with(&format!("{:<30}", "SIMPLE  =                    T")));
        for (key, value) in [
            ("BITPIX", "16"),
            ("NAXIS", "2"),
            ("NAXIS1", "33"),
            ("NAXIS2", "21"),
            ("BZERO", "32768"),
            ("BSCALE", "1"),
            ("DATE-OBS", "2026-11-24T02:15:00.000"),
            ("DATE-END", "2026-11-24T02:16:00.000"),
            ("EXPTIME", "60.0"),
            ("NCOMBINE", "12"),
            ("BAYERPAT", "RGGB"),
            ("XBAYROFF", "0"),
            ("YBAYROFF", "0"),
            ("STACKMOD", "max"),
            ("ROWORDER", "TOP-DOWN"),
            ("SWCREATE", "nightcap test"),
            ("GAIN", "2.5"),
            ("OBSERVER", "O'Brien"),
        ] {
            assert_eq!(back.get(key), Some(value), "{key}");
        }
        assert!(text.contains("OBSERVER= 'O''Brien'"));
        // Every card is 80 characters; END is followed only by spaces.
        let end = text.find("END     ").unwrap();
        assert_eq!(end % CARD, 0);
        assert!(text[end + 3..].bytes().all(|b| b == b' '));
    }

    #[test]
    fn rgb_is_written_as_planes_and_round_trips() {
        let mut img = Image16::zeroed(3, 2, 3, Cfa::None, 16);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i as u16) * 1000;
        }
        let (bytes, back) = write_read(&img, &[]);
        assert_eq!(back.image, img);
        assert_eq!(back.get("NAXIS3"), Some("3"));
        // First plane is red: samples 0, 3, 6, ... of the interleaved data.
        let data = &bytes[BLOCK..];
        let first: Vec<u16> = data[..12]
            .chunks(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) ^ 0x8000)
            .collect();
        assert_eq!(first, vec![0, 3000, 6000, 9000, 12000, 15000]);
    }

    #[test]
    fn bzero_extremes() {
        let mut img = Image16::zeroed(2, 1, 1, Cfa::None, 16);
        img.data = vec![0, 65535];
        let (bytes, back) = write_read(&img, &[]);
        // 0 is stored as -32768 (0x8000), 65535 as 32767 (0x7fff).
        assert_eq!(&bytes[BLOCK..BLOCK + 4], &[0x80, 0x00, 0x7f, 0xff]);
        assert!(bytes[BLOCK + 4..].iter().all(|&b| b == 0));
        assert_eq!(back.image.data, vec![0, 65535]);
    }

    #[test]
    fn bad_extra_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.fits");
        let img = mosaic(2, 2);
        for key in ["BITPIX", "lower", "TOOLONGKEY", "NCOMBINE", ""] {
            let err = write_fits(&path, &img, &meta(), &[(key, FitsValue::Int(1))]);
            assert!(
                matches!(
                    err,
                    Err(OutputError::Fits {
                        problem: FitsProblem::BadKey(_),
                        ..
                    })
                ),
                "{key}"
            );
        }
        let nan = write_fits(&path, &img, &meta(), &[("X", FitsValue::Float(f64::NAN))]);
        assert!(nan.is_err());
        assert!(!path.exists());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_image_round_trips(
            w in 1u32..40, h in 1u32..30, rgb in proptest::bool::ANY,
            cfa_code in 0u8..5, depth in 8u8..=16, seed in proptest::num::u64::ANY,
        ) {
            let (channels, cfa) = if rgb {
                (3, Cfa::None)
            } else {
                (1, Cfa::from_code(cfa_code).unwrap())
            };
            let mut img = Image16::zeroed(w, h, channels, cfa, depth);
            let mut x = seed | 1;
            let max = img.max_value();
            for v in &mut img.data {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = x as u16 & max;
            }
            let (bytes, back) = write_read(&img, &[]);
            proptest::prop_assert_eq!(bytes.len() % BLOCK, 0);
            proptest::prop_assert_eq!(back.image, img);
        }
    }

    fn problem_of(bytes: &[u8]) -> FitsProblem {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.fits");
        std::fs::write(&path, bytes).unwrap();
        match read_fits(&path) {
            Err(OutputError::Fits { problem, .. }) => problem,
            other => panic!("expected a FITS problem, got {other:?}"),
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (bytes, _) = write_read(&mosaic(40, 40), &[]);
        // Cuts inside the header or the announced data; the zero padding after the data
        // is not needed to read the image.
        for cut in (0..BLOCK + 40 * 40 * 2).step_by(97) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.fits");
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read_fits(&path).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_headers_are_refused_before_allocating() {
        let (bytes, _) = write_read(&mosaic(4, 4), &[]);
        let text = String::from_utf8_lossy(&bytes[..BLOCK]).into_owned();
        let patch = |from: &str, to: &str| {
            let mut b = bytes.clone();
            let t = text.replace(from, &format!("{to:<width$}", width = from.len()));
            b[..BLOCK].copy_from_slice(t.as_bytes());
            b
        };
        let huge = patch(
            "NAXIS1  =                    4",
            "NAXIS1  =           2000000000",
        );
        assert!(matches!(problem_of(&huge), FitsProblem::TooLarge { .. }));
        let bitpix = patch(
            "BITPIX  =                   16",
            "BITPIX  =                  -32",
        );
        assert!(matches!(
            problem_of(&bitpix),
            FitsProblem::Unsupported { key: "BITPIX", .. }
        ));
        let mut no_end = patch("END     ", "XND     ");
        no_end.truncate(BLOCK);
        assert_eq!(problem_of(&no_end), FitsProblem::TruncatedHeader);
        assert_eq!(problem_of(b"SIMPLE"), FitsProblem::TruncatedHeader);
        let mut bad_byte = bytes.clone();
        bad_byte[100] = 0xff;
        assert!(matches!(problem_of(&bad_byte), FitsProblem::BadCard { .. }));
    }
}
