//! Frames at half resolution: what detection works on.
//!
//! A Bayer quad (R, two G, B) becomes one pixel with its three colours; an RGB image is
//! averaged 2×2 per channel; a mono image 2×2. The luminance is the mean of the colours
//! (for a quad, of its four samples). Streaks are several pixels wide at full resolution,
//! so nothing is lost, and everything after this touches a quarter of the pixels.

use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;
use rayon::prelude::*;

/// One frame at half resolution.
#[derive(Debug, Clone)]
pub struct Binned {
    pub width: usize,
    pub height: usize,
    /// Mean of the colours per pixel.
    pub luma: Vec<u16>,
    /// R, G, B per pixel (all three the luminance for a mono frame); dropped once the
    /// frame has been searched, as only its luminance serves as background after that.
    pub colour: Option<[Vec<u16>; 3]>,
    /// Whether the frame has colour (a mosaic or RGB).
    pub has_colour: bool,
    /// The largest sample value of the frame's bit depth.
    pub max_value: u16,
}

impl Binned {
    /// `img` at half resolution (an odd last row or column is left out).
    pub fn of(img: &Image16) -> Binned {
        let (w, h) = (img.width as usize / 2, img.height as usize / 2);
        let ch = usize::from(img.channels);
        let row = img.width as usize * ch;
        let max_value = if img.bit_depth >= 16 {
            u16::MAX
        } else {
            ((1u32 << img.bit_depth) - 1) as u16
        };
        let mut luma = vec![0u16; w * h];
        let mut planes = [vec![0u16; w * h], vec![0u16; w * h], vec![0u16; w * h]];
        let has_colour = ch == 3 || img.cfa != Cfa::None;
        // Where each colour of a quad sits: (dx, dy) per sample, colour index per sample.
        let quad: [(usize, usize, usize); 4] = if img.cfa != Cfa::None {
            [(0, 0), (1, 0), (0, 1), (1, 1)]
                .map(|(dx, dy)| (dx, dy, img.cfa.colour_at(dx, dy).unwrap_or(1)))
        } else {
            [(0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 1)]
        };
        let [r, g, b] = &mut planes;
        luma.par_chunks_mut(w.max(1))
            .zip(r.par_chunks_mut(w.max(1)))
            .zip(g.par_chunks_mut(w.max(1)))
            .zip(b.par_chunks_mut(w.max(1)))
            .enumerate()
            .for_each(|(y, (((l, r), g), b))| {
                let top = &img.data[2 * y * row..(2 * y + 1) * row];
                let bottom = &img.data[(2 * y + 1) * row..(2 * y + 2) * row];
                let lines = [top, bottom];
                for x in 0..w {
                    if ch == 3 {
                        let mut c = [0u32; 3];
                        for line in &lines {
                            for dx in 0..2 {
                                let at = (2 * x + dx) * 3;
                                for (k, v) in c.iter_mut().enumerate() {
                                    *v += u32::from(line[at + k]);
                                }
                            }
                        }
                        let c = c.map(|v| (v / 4) as u16);
                        r[x] = c[0];
                        g[x] = c[1];
                        b[x] = c[2];
                        l[x] = ((u32::from(c[0]) + u32::from(c[1]) + u32::from(c[2])) / 3) as u16;
                    } else {
                        let mut sum = [0u32; 3];
                        let mut count = [0u32; 3];
                        let mut all = 0u32;
                        for &(dx, dy, c) in &quad {
                            let v = u32::from(lines[dy][2 * x + dx]);
                            sum[c] += v;
                            count[c] += 1;
                            all += v;
                        }
                        let mean = |c: usize| (sum[c] / count[c].max(1)) as u16;
                        l[x] = (all / 4) as u16;
                        if has_colour {
                            r[x] = mean(0);
                            g[x] = mean(1);
                            b[x] = mean(2);
                        } else {
                            r[x] = l[x];
                            g[x] = l[x];
                            b[x] = l[x];
                        }
                    }
                }
            });
        Binned {
            width: w,
            height: h,
            luma,
            colour: Some(planes),
            has_colour,
            max_value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bayer_quad_becomes_one_pixel_with_its_colours() {
        // RGGB: R=100, G=200 and 210, B=40 in every quad.
        let mut img = Image16::zeroed(4, 2, 1, Cfa::Rggb, 12);
        img.data = vec![100, 200, 100, 200, 210, 40, 210, 40];
        let b = Binned::of(&img);
        assert_eq!((b.width, b.height), (2, 1));
        let [r, g, bl] = b.colour.as_ref().unwrap();
        assert_eq!((r[0], g[0], bl[0]), (100, 205, 40));
        assert_eq!(b.luma[0], (100 + 200 + 210 + 40) / 4);
        assert!(b.has_colour);
        assert_eq!(b.max_value, 4095);
    }

    #[test]
    fn rgb_and_mono_frames_are_averaged() {
        let mut rgb = Image16::zeroed(2, 2, 3, Cfa::None, 8);
        rgb.data = vec![30, 60, 90, 30, 60, 90, 30, 60, 90, 30, 60, 90];
        let b = Binned::of(&rgb);
        assert_eq!(b.luma, [60]);
        let mut mono = Image16::zeroed(3, 3, 1, Cfa::None, 16);
        mono.data = vec![4, 8, 99, 12, 16, 99, 99, 99, 99];
        let b = Binned::of(&mono);
        assert_eq!((b.width, b.height, b.luma[0]), (1, 1, 10));
        assert!(!b.has_colour);
    }
}
