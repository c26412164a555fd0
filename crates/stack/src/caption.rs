//! Captions on display images: a few lines of text (local date and time, exposure,
//! frames stacked, the camera or site) in the bottom-left corner of a JPEG, and hour
//! ticks along a keogram.
//!
//! Owns the text's look and placement. The font is embedded: DejaVu Sans Condensed Bold,
//! cut to the printable ASCII characters and `° · × – −` (`fonts/`, with its licence), so
//! a caption looks the same on every machine and needs no font installed. Glyphs are
//! rasterised once per caption ([`Overlay::new`]); drawing is a blend per row
//! ([`Overlay::blend_row`]), so it fits the JPEG writer's row-by-row rendering and a
//! stack is never held whole at 8 bits for it.
//!
//! Promises: the text is white on a translucent black box (legible over stars and over a
//! bright twilight), its height follows the image's (about 2.2 % of it per line, at least
//! 11 px), a character the font lacks is drawn as `?`, and a caption wider or taller than
//! the image is cut at its edge, never wrapped around.

use std::sync::OnceLock;

static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed-Bold-subset.ttf");

fn font() -> &'static fontdue::Font {
    static FONT: OnceLock<fontdue::Font> = OnceLock::new();
    FONT.get_or_init(|| {
        fontdue::Font::from_bytes(FONT_BYTES, fontdue::FontSettings::default())
            .expect("the embedded font parses (checked by a test)")
    })
}

/// Text rasterised for one image: an alpha mask (0..255 text coverage) and the box behind.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Top-left corner in the image.
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
    /// Text coverage, `width × height`.
    alpha: Vec<u8>,
    /// Draw the coverage only, with no darkened box behind (a tick mark).
    solid: bool,
}

/// The overlays `marks` asks for on a `width × height` image: the caption, and each
/// tick as a short bar with its label beside it.
pub fn overlays(marks: &crate::output::meta::Marks, width: u32, height: u32) -> Vec<Overlay> {
    let mut out = Vec::new();
    if let Some(lines) = marks.caption.as_ref().filter(|l| !l.is_empty()) {
        out.push(Overlay::new(lines, width, height));
    }
    let tick_h = ((height as f32 * 0.04).round() as usize).clamp(4, height as usize);
    for (x, label) in &marks.ticks {
        let x = *x as usize;
        if x >= width as usize {
            continue;
        }
        out.push(Overlay {
            x,
            y: 0,
            width: 1,
            height: tick_h,
            alpha: vec![255; tick_h],
            solid: true,
        });
        let mut l = Overlay::new(
            std::slice::from_ref(label),
            width.saturating_sub(x as u32 + 2).max(1),
            height,
        );
        l.x = x + 2;
        l.y = 0;
        out.push(l);
    }
    out
}

/// Line height for an image `image_height` pixels tall.
pub fn line_px(image_height: u32) -> f32 {
    (image_height as f32 * 0.022).max(11.0)
}

impl Overlay {
    /// `lines` in the bottom-left corner of a `image_width × image_height` image.
    pub fn new(lines: &[String], image_width: u32, image_height: u32) -> Overlay {
        let px = line_px(image_height);
        let pad = (px * 0.4).round() as usize;
        let line_h = (px * 1.25).round() as usize;
        let f = font();
        let ascent = f
            .horizontal_line_metrics(px)
            .map_or(px * 0.8, |m| m.ascent)
            .round() as isize;
        // Lay out each line: glyphs with their positions.
        let mut widths = Vec::new();
        let mut glyphs = Vec::new();
        for (row, line) in lines.iter().enumerate() {
            let mut x = 0f32;
            for c in line.chars() {
                let c = if f.lookup_glyph_index(c) == 0 { '?' } else { c };
                let (m, bitmap) = f.rasterize(c, px);
                let gx = (x + m.xmin as f32).round() as isize;
                let baseline = (row * line_h) as isize + ascent;
                let gy = baseline - m.height as isize - m.ymin as isize;
                glyphs.push((gx, gy, m.width, m.height, bitmap));
                x += m.advance_width;
            }
            widths.push(x.ceil() as usize);
        }
        let text_w = widths.iter().copied().max().unwrap_or(0);
        let width = (text_w + 2 * pad).min(image_width as usize);
        let height = (lines.len() * line_h + 2 * pad).min(image_height as usize);
        let mut alpha = vec![0u8; width * height];
        for (gx, gy, w, h, bitmap) in glyphs {
            for yy in 0..h {
                let y = gy + yy as isize + pad as isize;
                if y < 0 || y as usize >= height {
                    continue;
                }
                for xx in 0..w {
                    let x = gx + xx as isize + pad as isize;
                    if x < 0 || x as usize >= width {
                        continue;
                    }
                    let a = &mut alpha[y as usize * width + x as usize];
                    *a = (*a).max(bitmap[yy * w + xx]);
                }
            }
        }
        let margin = pad.min(image_width as usize - width.min(image_width as usize));
        Overlay {
            x: margin,
            y: (image_height as usize).saturating_sub(height + margin),
            width,
            height,
            alpha,
            solid: false,
        }
    }

    /// Draws the caption's part of image row `y` into `row` (8-bit, `channels`
    /// interleaved): the box darkens what is behind to 40 %, the text is white.
    pub fn blend_row(&self, y: usize, row: &mut [u8], channels: usize) {
        if y < self.y || y >= self.y + self.height {
            return;
        }
        let a_row = &self.alpha[(y - self.y) * self.width..(y - self.y + 1) * self.width];
        for (i, &a) in a_row.iter().enumerate() {
            let x = self.x + i;
            let Some(px) = row.get_mut(x * channels..(x + 1) * channels) else {
                break;
            };
            for v in px {
                let behind = if self.solid {
                    u32::from(*v)
                } else {
                    u32::from(*v) * 2 / 5
                };
                *v = ((behind * (255 - u32::from(a)) + 255 * u32::from(a)) / 255) as u8;
            }
        }
    }
}

/// The caption of a stack: local date and time of its window, what it is made of, and
/// the site: `2026-08-12 21:30 +02:00`, `max of 12 × 5 s`, `garden-pi`.
pub fn stack_lines(meta: &crate::output::OutputMeta, site: Option<&str>) -> Vec<String> {
    let start = meta.start_utc_ns;
    let offset = nightcap_frame::time::local_offset_s(start);
    let p = nightcap_frame::time::utc_parts(start + i64::from(offset) * 1_000_000_000);
    let mut lines = vec![format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
        p.year,
        p.month,
        p.day,
        p.hour,
        p.minute,
        p.second,
        nightcap_frame::time::offset_text(offset)
    )];
    if meta.frames > 0 {
        let each = meta.exposure_total_us as f64 / f64::from(meta.frames) / 1e6;
        lines.push(if meta.frames == 1 {
            format!("{each:.1} s exposure")
        } else {
            format!("{} of {} × {each:.1} s", meta.mode, meta.frames)
        });
    }
    if let Some(site) = site.filter(|s| !s.is_empty()) {
        lines.push(site.to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_draws_text_in_the_corner() {
        let lines = vec![
            "2026-08-12 21:30 +02:00".to_string(),
            "max of 12 × 5.0 s".to_string(),
        ];
        let o = Overlay::new(&lines, 1000, 750);
        assert!(o.width > 100 && o.width < 400, "{}", o.width);
        assert!(o.y + o.height <= 750 && o.y > 600, "{} {}", o.y, o.height);
        // Text pixels are white, box pixels darkened, pixels outside untouched.
        let mut white = 0;
        let mut dark = 0;
        for y in o.y..o.y + o.height {
            let mut row = vec![100u8; 1000 * 3];
            o.blend_row(y, &mut row, 3);
            white += row.iter().filter(|&&v| v == 255).count();
            dark += row.iter().filter(|&&v| v == 40).count();
            assert!(row[(o.x + o.width) * 3..].iter().all(|&v| v == 100));
        }
        assert!(white > 100 && dark > white, "{white} {dark}");
    }

    #[test]
    fn a_caption_larger_than_the_image_is_cut() {
        let o = Overlay::new(
            &vec!["a long caption on a tiny image".to_string(); 6],
            40,
            30,
        );
        assert!(o.width <= 40 && o.height <= 30);
        let mut row = vec![0u8; 40];
        for y in 0..30 {
            o.blend_row(y, &mut row, 1);
        }
    }
}
