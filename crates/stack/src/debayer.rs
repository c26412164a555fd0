//! Demosaicing: from a one-channel CFA mosaic to RGB.
//!
//! [`debayer`] is bilinear at full resolution ([`debayer_with`] also offers
//! Malvar-He-Cutler, see [`Demosaic`]): every output pixel keeps its own sample for
//! its own colour and takes the mean of the nearest samples of each other colour in its
//! 3x3 neighbourhood (4 orthogonal or 4 diagonal neighbours, or 2 along one axis). At the
//! image border only the neighbours inside the image are averaged, so a uniform colour stays
//! exactly uniform up to the edges. Bilinear is soft on fine detail, but it never invents
//! structure, which matters for star trails; it is run once per output image, not per frame.
//!
//! [`superpixel`] bins each 2x2 CFA cell into one RGB pixel (half size): a fast, clean
//! preview for timelapse frames and keograms.
//!
//! Both work for all four 2x2 patterns of [`Cfa`] and return images without a CFA. Input
//! that is not a mosaic (mono or RGB) is returned unchanged by [`debayer`].

use rayon::prelude::*;

use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;

/// What to compute at one site of the mosaic (interior fast path).
#[derive(Clone, Copy)]
enum Site {
    /// A red (0) or blue (2) sample: green from the 4 orthogonal neighbours, the other
    /// colour from the 4 diagonal ones.
    Chroma(usize),
    /// A green sample whose left/right neighbours have colour `horizontal` (0 or 2); the
    /// vertical neighbours have the other one.
    Green { horizontal: usize },
}

fn site(cfa: Cfa, x: usize, y: usize) -> Site {
    match cfa.colour_at(x, y) {
        Some(1) => Site::Green {
            horizontal: cfa.colour_at(x + 1, y).unwrap_or(0),
        },
        Some(c) => Site::Chroma(c),
        None => Site::Chroma(0),
    }
}

/// Demosaicing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Demosaic {
    /// Mean of the nearest samples: soft, never overshoots. The default, because stars are
    /// points and any sharpening kernel rings around them.
    #[default]
    Bilinear,
    /// Malvar-He-Cutler (2004): bilinear corrected by the local gradient of the sample's
    /// own colour, with 5x5 kernels. Sharper on extended detail (landscape, moon), may
    /// draw dark rims around saturated stars. Two-pixel borders fall back to bilinear.
    Malvar,
}

/// Full-resolution bilinear demosaic of a CFA mosaic; anything else is returned as is.
/// A mosaic whose data does not match its size is returned as is too (nothing to
/// interpolate safely).
pub fn debayer(img: &Image16) -> Image16 {
    debayer_with(img, Demosaic::Bilinear)
}

/// [`debayer`] with a chosen algorithm.
pub fn debayer_with(img: &Image16, method: Demosaic) -> Image16 {
    let h = img.height as usize;
    let w = img.width as usize;
    if !is_mosaic(img) {
        return img.clone();
    }
    let mut out = Image16::zeroed(img.width, img.height, 3, Cfa::None, img.bit_depth);
    out.data
        .par_chunks_mut(w * 3)
        .enumerate()
        .for_each(|(y, row)| {
            debayer_row(img, y, row);
            if method == Demosaic::Malvar && y >= 2 && y + 2 < h && w >= 5 {
                malvar_row(img, y, row);
            }
        });
    out
}

/// Overwrites pixels 2..w-2 of interior row `y` with Malvar-He-Cutler values.
fn malvar_row(img: &Image16, y: usize, row: &mut [u16]) {
    let w = img.width as usize;
    let max = i32::from(img.max_value());
    let sites = [site(img.cfa, 0, y), site(img.cfa, 1, y)];
    for x in 2..w - 2 {
        let p = |dx: isize, dy: isize| {
            let i = (y as isize + dy) as usize * w + (x as isize + dx) as usize;
            i32::from(img.data[i])
        };
        let c = p(0, 0);
        let cross = p(-1, 0) + p(1, 0) + p(0, -1) + p(0, 1);
        let far = p(-2, 0) + p(2, 0) + p(0, -2) + p(0, 2);
        let diag = p(-1, -1) + p(1, -1) + p(-1, 1) + p(1, 1);
        // The paper's kernels (in eighths), doubled to keep the halves integral.
        let px16 = match sites[x & 1] {
            Site::Chroma(own) => {
                let g = 8 * c + 4 * cross - 2 * far;
                let other = 12 * c + 4 * diag - 3 * far;
                if own == 0 {
                    [16 * c, g, other]
                } else {
                    [other, g, 16 * c]
                }
            }
            Site::Green { horizontal } => {
                let (e_w, n_s) = (p(-1, 0) + p(1, 0), p(0, -1) + p(0, 1));
                let (ee_ww, nn_ss) = (p(-2, 0) + p(2, 0), p(0, -2) + p(0, 2));
                let along_row = 10 * c + 8 * e_w - 2 * ee_ww - 2 * diag + nn_ss;
                let along_col = 10 * c + 8 * n_s - 2 * nn_ss - 2 * diag + ee_ww;
                if horizontal == 0 {
                    [along_row, 16 * c, along_col]
                } else {
                    [along_col, 16 * c, along_row]
                }
            }
        };
        for (o, v) in row[3 * x..3 * x + 3].iter_mut().zip(px16) {
            *o = (v + 8).div_euclid(16).clamp(0, max) as u16;
        }
    }
}

fn avg2(a: u16, b: u16) -> u16 {
    (u32::from(a) + u32::from(b)).div_ceil(2) as u16
}

fn avg4(a: u16, b: u16, c: u16, d: u16) -> u16 {
    ((u32::from(a) + u32::from(b) + u32::from(c) + u32::from(d) + 2) / 4) as u16
}

/// Bilinear RGB of the centre of a 3x3 neighbourhood (rows up, mid, down).
#[inline(always)]
fn interpolate(site: Site, u: &[u16; 3], m: &[u16; 3], d: &[u16; 3]) -> [u16; 3] {
    match site {
        Site::Chroma(c) => {
            let g = avg4(m[0], m[2], u[1], d[1]);
            let other = avg4(u[0], u[2], d[0], d[2]);
            if c == 0 {
                [m[1], g, other]
            } else {
                [other, g, m[1]]
            }
        }
        Site::Green { horizontal } => {
            let h = avg2(m[0], m[2]);
            let v = avg2(u[1], d[1]);
            if horizontal == 0 {
                [h, m[1], v]
            } else {
                [v, m[1], h]
            }
        }
    }
}

/// Whether [`debayer`] interpolates `img` (a consistent, non-empty one-channel mosaic)
/// rather than returning it unchanged.
pub(crate) fn is_mosaic(img: &Image16) -> bool {
    let (w, h) = (img.width as usize, img.height as usize);
    img.channels == 1 && img.cfa != Cfa::None && img.data.len() == w * h && w * h != 0
}

/// Row `y` of [`debayer`]'s result mapped through one table per channel straight to
/// bytes: `out[3x + c] = luts[c][rgb(x)[c]]`, without the 16-bit row. `img` must be a
/// mosaic ([`is_mosaic`]); `out` holds `3 × width` bytes.
pub(crate) fn debayer_row_mapped(img: &Image16, y: usize, luts: [&[u8; 65536]; 3], out: &mut [u8]) {
    let (w, h) = (img.width as usize, img.height as usize);
    let put = |out: &mut [u8], x: usize, rgb: [u16; 3]| {
        for c in 0..3 {
            out[3 * x + c] = luts[c][usize::from(rgb[c])];
        }
    };
    if y == 0 || y + 1 == h || w < 3 {
        (0..w).for_each(|x| put(out, x, border_pixel(img, x, y)));
        return;
    }
    put(out, 0, border_pixel(img, 0, y));
    put(out, w - 1, border_pixel(img, w - 1, y));
    let up = &img.data[(y - 1) * w..][..w];
    let mid = &img.data[y * w..][..w];
    let dn = &img.data[(y + 1) * w..][..w];
    // Every interior row of a 2x2 pattern alternates green with one chroma colour `c`:
    // a chroma site keeps `c` and takes green from its 4 orthogonal and the other chroma
    // from its 4 diagonal neighbours; a green site takes `c` from left/right and the
    // other chroma from up/down (as [`interpolate`] does, with the match hoisted).
    let (green_parity, c) = match site(img.cfa, 0, y) {
        Site::Green { horizontal } => (0, horizontal),
        Site::Chroma(c) => (1, c),
    };
    let (lut_c, lut_g, lut_o) = (luts[c], luts[1], luts[2 - c]);
    let (pc, po) = (c, 2 - c);
    for x in 1..w - 1 {
        let px = &mut out[3 * x..3 * x + 3];
        let m = mid[x];
        if x & 1 == green_parity {
            px[pc] = lut_c[usize::from(avg2(mid[x - 1], mid[x + 1]))];
            px[1] = lut_g[usize::from(m)];
            px[po] = lut_o[usize::from(avg2(up[x], dn[x]))];
        } else {
            px[pc] = lut_c[usize::from(m)];
            px[1] = lut_g[usize::from(avg4(mid[x - 1], mid[x + 1], up[x], dn[x]))];
            px[po] = lut_o[usize::from(avg4(up[x - 1], up[x + 1], dn[x - 1], dn[x + 1]))];
        }
    }
}

/// Row `y` of [`debayer`]'s result (bilinear) into `row` (`3 × width` samples). `img`
/// must be a mosaic ([`is_mosaic`]).
pub(crate) fn debayer_row(img: &Image16, y: usize, row: &mut [u16]) {
    let (w, h) = (img.width as usize, img.height as usize);
    if y == 0 || y + 1 == h || w < 3 {
        for x in 0..w {
            row[3 * x..3 * x + 3].copy_from_slice(&border_pixel(img, x, y));
        }
        return;
    }
    let up = &img.data[(y - 1) * w..y * w];
    let mid = &img.data[y * w..(y + 1) * w];
    let dn = &img.data[(y + 1) * w..(y + 2) * w];
    let sites = [site(img.cfa, 0, y), site(img.cfa, 1, y)];
    row[..3].copy_from_slice(&border_pixel(img, 0, y));
    // 3x3 neighbourhoods as fixed-size arrays, so the inner loop has no bounds checks.
    let windows = up
        .windows(3)
        .zip(mid.windows(3))
        .zip(dn.windows(3))
        .map(|((u, m), d)| {
            let arr = |s: &[u16]| [s[0], s[1], s[2]];
            (arr(u), arr(m), arr(d))
        });
    for (x, (px, (u, m, d))) in (1..).zip(row[3..3 * (w - 1)].chunks_exact_mut(3).zip(windows)) {
        px.copy_from_slice(&interpolate(sites[x & 1], &u, &m, &d));
    }
    row[3 * (w - 1)..].copy_from_slice(&border_pixel(img, w - 1, y));
}

/// The general rule, for pixels at the border: own colour kept, every other colour the
/// rounded mean of its samples among the in-image 3x3 neighbours (0 if it has none, which
/// happens only in images one pixel wide or high).
fn border_pixel(img: &Image16, x: usize, y: usize) -> [u16; 3] {
    let (w, h) = (img.width as usize, img.height as usize);
    let mut sum = [0u32; 3];
    let mut n = [0u32; 3];
    for ny in y.saturating_sub(1)..(y + 2).min(h) {
        for nx in x.saturating_sub(1)..(x + 2).min(w) {
            let c = img.cfa.colour_at(nx, ny).unwrap_or(0);
            sum[c] += u32::from(img.data[ny * w + nx]);
            n[c] += 1;
        }
    }
    let own = img.cfa.colour_at(x, y).unwrap_or(0);
    std::array::from_fn(|c| {
        if c == own {
            img.data[y * w + x]
        } else {
            (sum[c] + n[c] / 2).checked_div(n[c]).unwrap_or(0) as u16
        }
    })
}

/// 2x2 binning to half size. A CFA mosaic becomes RGB (red and blue samples as they are,
/// green the mean of the two greens); mono or RGB input is averaged per channel. A last odd
/// row or column is dropped.
pub fn superpixel(img: &Image16) -> Image16 {
    let (w, h) = (img.width as usize, img.height as usize);
    let ch = usize::from(img.channels);
    let (ow, oh) = (w / 2, h / 2);
    let mosaic = ch == 1 && img.cfa != Cfa::None;
    let out_ch = if mosaic { 3 } else { ch };
    let mut out = Image16::zeroed(ow as u32, oh as u32, out_ch as u8, Cfa::None, img.bit_depth);
    if ow == 0 || oh == 0 || img.data.len() != w * h * ch {
        return out;
    }
    out.data
        .par_chunks_mut(ow * out_ch)
        .enumerate()
        .for_each(|(oy, row)| {
            let top = &img.data[2 * oy * w * ch..(2 * oy + 1) * w * ch];
            let bottom = &img.data[(2 * oy + 1) * w * ch..(2 * oy + 2) * w * ch];
            for ox in 0..ow {
                let px = &mut row[ox * out_ch..(ox + 1) * out_ch];
                if mosaic {
                    let cell = [
                        top[2 * ox],
                        top[2 * ox + 1],
                        bottom[2 * ox],
                        bottom[2 * ox + 1],
                    ];
                    bin_cell(img.cfa, cell, px);
                } else {
                    for (c, p) in px.iter_mut().enumerate() {
                        let at = |line: &[u16], dx: usize| u32::from(line[(2 * ox + dx) * ch + c]);
                        let s = at(top, 0) + at(top, 1) + at(bottom, 0) + at(bottom, 1);
                        *p = ((s + 2) / 4) as u16;
                    }
                }
            }
        });
    out
}

/// One 2x2 CFA cell (top-left, top-right, bottom-left, bottom-right) to RGB.
fn bin_cell(cfa: Cfa, cell: [u16; 4], px: &mut [u16]) {
    let mut sum = [0u32; 3];
    let mut n = [0u32; 3];
    for (i, &v) in cell.iter().enumerate() {
        let c = cfa.colour_at(i & 1, i >> 1).unwrap_or(0);
        sum[c] += u32::from(v);
        n[c] += 1;
    }
    for c in 0..3 {
        px[c] = ((sum[c] + n[c] / 2) / n[c].max(1)) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATTERNS: [Cfa; 4] = [Cfa::Rggb, Cfa::Bggr, Cfa::Grbg, Cfa::Gbrg];

    /// A mosaic whose sample at (x, y) is `f(colour, x, y)`.
    fn mosaic(cfa: Cfa, w: u32, h: u32, f: impl Fn(usize, usize, usize) -> u16) -> Image16 {
        let mut img = Image16::zeroed(w, h, 1, cfa, 16);
        for y in 0..h as usize {
            for x in 0..w as usize {
                img.data[y * w as usize + x] = f(cfa.colour_at(x, y).unwrap(), x, y);
            }
        }
        img
    }

    fn px(img: &Image16, x: usize, y: usize) -> [u16; 3] {
        let i = (y * img.width as usize + x) * 3;
        [img.data[i], img.data[i + 1], img.data[i + 2]]
    }

    #[test]
    fn uniform_colour_stays_uniform_to_the_edges() {
        let colour = [1000u16, 2500, 4000];
        for cfa in PATTERNS {
            for (w, h) in [(8, 6), (7, 5), (2, 2), (3, 3)] {
                let out = debayer(&mosaic(cfa, w, h, |c, _, _| colour[c]));
                assert_eq!((out.channels, out.cfa), (3, Cfa::None));
                for y in 0..h as usize {
                    for x in 0..w as usize {
                        assert_eq!(px(&out, x, y), colour, "{cfa:?} {w}x{h} at {x},{y}");
                    }
                }
            }
        }
    }

    #[test]
    fn each_site_keeps_its_own_sample() {
        for cfa in PATTERNS {
            let img = mosaic(cfa, 9, 7, |c, x, y| (c * 10_000 + x * 31 + y * 7) as u16);
            let out = debayer(&img);
            for y in 0..7 {
                for x in 0..9 {
                    let c = cfa.colour_at(x, y).unwrap();
                    assert_eq!(px(&out, x, y)[c], img.data[y * 9 + x], "{cfa:?} {x},{y}");
                }
            }
            // The top-left red site of each pattern keeps the red value.
            let (rx, ry) = (0..4)
                .map(|i| (i & 1, i >> 1))
                .find(|&(x, y)| cfa.colour_at(x, y) == Some(0))
                .unwrap();
            assert_eq!(px(&out, rx, ry)[0], (rx * 31 + ry * 7) as u16);
        }
    }

    #[test]
    fn linear_ramps_are_reproduced_in_the_interior() {
        // Bilinear interpolation is exact for planes, so every interior pixel of every
        // channel must equal the plane; a wrong neighbour offset breaks this.
        let plane = |c: usize, x: usize, y: usize| (c * 20_000 + x * 8 + y * 16) as u16;
        for cfa in PATTERNS {
            let out = debayer(&mosaic(cfa, 12, 10, plane));
            for y in 1..9 {
                for x in 1..11 {
                    let want = [plane(0, x, y), plane(1, x, y), plane(2, x, y)];
                    assert_eq!(px(&out, x, y), want, "{cfa:?} {x},{y}");
                }
            }
        }
    }

    #[test]
    fn interpolated_values_are_neighbour_means() {
        // RGGB, red site at (2, 2): green = mean of 4 orthogonal, blue = mean of 4 diagonal.
        let img = mosaic(Cfa::Rggb, 6, 6, |_, x, y| {
            (x * 100 + y * 1000 + x * y) as u16
        });
        let out = debayer(&img);
        let s = |x: usize, y: usize| u32::from(img.data[y * 6 + x]);
        let g = (s(1, 2) + s(3, 2) + s(2, 1) + s(2, 3) + 2) / 4;
        let b = (s(1, 1) + s(3, 1) + s(1, 3) + s(3, 3) + 2) / 4;
        assert_eq!(px(&out, 2, 2), [s(2, 2) as u16, g as u16, b as u16]);
    }

    #[test]
    fn malvar_keeps_uniform_colours_planes_and_own_samples() {
        let colour = [1000u16, 2500, 4000];
        let plane = |c: usize, x: usize, y: usize| (c * 20_000 + x * 8 + y * 16) as u16;
        for cfa in PATTERNS {
            for (w, h) in [(9, 7), (5, 5), (4, 4)] {
                let out = debayer_with(&mosaic(cfa, w, h, |c, _, _| colour[c]), Demosaic::Malvar);
                assert!(out.data.chunks(3).all(|p| p == colour), "{cfa:?} {w}x{h}");
            }
            let img = mosaic(cfa, 12, 10, plane);
            let out = debayer_with(&img, Demosaic::Malvar);
            for y in 1..9 {
                for x in 1..11 {
                    let want = [plane(0, x, y), plane(1, x, y), plane(2, x, y)];
                    assert_eq!(px(&out, x, y), want, "{cfa:?} {x},{y}");
                }
            }
        }
    }

    #[test]
    fn malvar_is_sharper_than_bilinear_on_an_edge() {
        // A grey vertical edge (same value in every colour): both smear it into the
        // neighbouring columns with colour fringes; the gradient correction smears less.
        let img = mosaic(Cfa::Rggb, 16, 8, |_, x, _| if x < 8 { 400 } else { 3600 });
        let err = |out: &Image16| -> u32 {
            (2..6)
                .flat_map(|y| (2..14).map(move |x| (x, y)))
                .map(|(x, y)| {
                    let want = if x < 8 { 400 } else { 3600 };
                    px(out, x, y)
                        .iter()
                        .map(|&v| (i32::from(v) - want).unsigned_abs())
                        .sum::<u32>()
                })
                .sum()
        };
        let (bilinear, malvar) = (
            err(&debayer(&img)),
            err(&debayer_with(&img, Demosaic::Malvar)),
        );
        assert!(malvar < bilinear, "malvar {malvar} bilinear {bilinear}");
    }

    #[test]
    fn non_mosaics_are_returned_unchanged() {
        let mut mono = Image16::zeroed(3, 2, 1, Cfa::None, 12);
        mono.data = vec![1, 2, 3, 4, 5, 6];
        assert_eq!(debayer(&mono), mono);
        let rgb = Image16::zeroed(3, 2, 3, Cfa::None, 8);
        assert_eq!(debayer(&rgb), rgb);
    }

    #[test]
    fn superpixel_bins_cells() {
        for cfa in PATTERNS {
            let img = mosaic(cfa, 5, 4, |c, x, y| (c * 1000 + (x + y) % 2 * 10) as u16);
            let out = superpixel(&img);
            assert_eq!((out.width, out.height, out.channels), (2, 2, 3));
            for p in out.data.chunks(3) {
                // Red and blue sites have equal parity within a cell; greens the other.
                let (r, b) = (p[0] as usize, p[2] as usize);
                assert_eq!(r % 1000, b % 1000, "{cfa:?}");
                assert_eq!((r / 1000, p[1] / 1000, b / 1000), (0, 1, 2));
            }
        }
        let mut rgb = Image16::zeroed(2, 2, 3, Cfa::None, 8);
        rgb.data = vec![0, 10, 100, 2, 10, 100, 4, 10, 100, 6, 10, 100];
        assert_eq!(superpixel(&rgb).data, vec![3, 10, 100]);
    }

    #[test]
    fn mapped_rows_are_the_debayered_rows_through_the_tables() {
        // Samples below 256 and tables that keep them apart: any wrong neighbour shows.
        let tables: Vec<Box<[u8; 65536]>> = (0..3u16)
            .map(|c| Box::new(std::array::from_fn(|v| (v as u16 ^ (c * 85)) as u8)))
            .collect();
        let luts = [&*tables[0], &*tables[1], &*tables[2]];
        for cfa in PATTERNS {
            for (w, h) in [(1, 1), (2, 2), (3, 3), (4, 7), (13, 6)] {
                let img = mosaic(cfa, w, h, |c, x, y| {
                    ((c * 60 + x * 13 + y * 29) % 256) as u16
                });
                let full = debayer(&img);
                for y in 0..h as usize {
                    let mut out = vec![0u8; 3 * w as usize];
                    debayer_row_mapped(&img, y, luts, &mut out);
                    for x in 0..w as usize {
                        let want = px(&full, x, y).map(|v| v as u8);
                        let got: [u8; 3] = std::array::from_fn(|c| out[3 * x + c] ^ (c as u8 * 85));
                        assert_eq!(got, want, "{cfa:?} {w}x{h} ({x},{y})");
                    }
                }
            }
        }
    }

    #[test]
    fn tiny_and_inconsistent_images_do_not_panic() {
        let one = mosaic(Cfa::Rggb, 1, 1, |_, _, _| 7);
        assert_eq!(debayer(&one).data, vec![7, 0, 0]);
        let line = mosaic(Cfa::Gbrg, 5, 1, |c, _, _| c as u16 * 10 + 5);
        assert_eq!(debayer(&line).data.len(), 15);
        let mut broken = Image16::zeroed(4, 4, 1, Cfa::Rggb, 12);
        broken.data.truncate(5);
        assert_eq!(debayer(&broken), broken);
        assert_eq!(superpixel(&broken).data, vec![0; 12]);
    }
}
