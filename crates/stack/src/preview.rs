//! Small display images of frames and stacks: what a status page shows.
//!
//! Owns shrinking an image to a width (a mosaic is binned 2x2 into colour first, then
//! averaged in whole-pixel boxes) and rendering it with the night-sky defaults
//! ([`RenderSettings::default`]) as a JPEG held in memory.
//!
//! Promises: the result is at most `max_width` pixels wide (and at least 1), keeps the
//! aspect ratio to within a box, and costs one pass over the image plus one over the
//! small one.

use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;

use crate::debayer::superpixel;
use crate::output::image::jpeg8_bytes;
use crate::tone::{render_8bit, RenderSettings};

/// `img` shrunk to at most `max_width` pixels wide: a mosaic binned to RGB, then averaged
/// in `k × k` boxes for the smallest whole `k` that fits.
pub fn shrink(img: &Image16, max_width: u32) -> Image16 {
    let binned;
    let src = if img.channels == 1 && img.cfa != Cfa::None && img.width >= 2 && img.height >= 2 {
        binned = superpixel(img);
        &binned
    } else {
        img
    };
    let k = src.width.div_ceil(max_width.max(1)).max(1) as usize;
    if k == 1 {
        return src.clone();
    }
    let (w, h, ch) = (
        src.width as usize,
        src.height as usize,
        usize::from(src.channels),
    );
    let (ow, oh) = ((w / k).max(1), (h / k).max(1));
    let mut out = Image16::zeroed(ow as u32, oh as u32, src.channels, Cfa::None, src.bit_depth);
    let mut sums = vec![0u32; ow * ch];
    for oy in 0..oh {
        sums.iter_mut().for_each(|s| *s = 0);
        let rows = (oy * k..((oy + 1) * k).min(h)).len();
        for y in oy * k..((oy + 1) * k).min(h) {
            let row = &src.data[y * w * ch..(y + 1) * w * ch];
            for (ox, sum) in sums.chunks_exact_mut(ch).enumerate() {
                for x in ox * k..((ox + 1) * k).min(w) {
                    for c in 0..ch {
                        sum[c] += u32::from(row[x * ch + c]);
                    }
                }
            }
        }
        let n = (rows * k) as u32;
        for (o, s) in out.data[oy * ow * ch..(oy + 1) * ow * ch]
            .iter_mut()
            .zip(&sums)
        {
            *o = (s / n.max(1)) as u16;
        }
    }
    out
}

/// `img` shrunk to at most `max_width` pixels and rendered as a JPEG in memory.
pub fn jpeg(img: &Image16, max_width: u32) -> Result<Vec<u8>, crate::output::OutputError> {
    let small = shrink(img, max_width);
    jpeg8_bytes(&render_8bit(&small, &RenderSettings::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mosaic_shrinks_to_colour_within_the_width() {
        let mut img = Image16::zeroed(4056, 3040, 1, Cfa::Rggb, 12);
        // A bright red photosite block in the top-left corner.
        img.data[0] = 4000;
        let small = shrink(&img, 1200);
        assert!(small.width <= 1200 && small.width >= 600, "{}", small.width);
        assert_eq!(small.channels, 3);
        assert!(
            small.data[0] > 0 && small.data[1] == 0,
            "{:?}",
            &small.data[..3]
        );
        let bytes = jpeg(&img, 1200).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
    }

    #[test]
    fn a_small_image_is_left_as_it_is() {
        let img = Image16::zeroed(320, 240, 3, Cfa::None, 8);
        assert_eq!(shrink(&img, 1200), img);
    }
}
