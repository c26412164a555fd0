//! Writes a synthetic night into a journal with the library writer: 4056x3040 12-bit
//! RGGB frames (CSI-2 packed, like the Raspberry Pi HQ camera), 5 s exposures every 5 s
//! from a whole minute, a sky background with read noise and a field of stars drifting
//! one pixel per frame. Used by `scripts/compare-stack.sh` when `nightcap capture
//! --source sim` is not available, and handy for trying the stacker.
//!
//!     cargo run --release --example sim_night -- JOURNAL_DIR [FRAMES] [WIDTH HEIGHT]

use std::path::PathBuf;

use nightcap_frame::{Cfa, FrameMeta, Packing, PixelFormat};
use nightcap_journal::{JournalWriter, WriterConfig};
use rayon::prelude::*;

/// 2026-08-17 22:00:00 UTC.
const START_NS: i64 = 1_787_004_000 * 1_000_000_000;

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Samples of frame `i`: sky 256 with about ±6 of noise, stars drifting right.
fn samples(i: usize, w: usize, h: usize, stars: &[(usize, usize, u16)]) -> Vec<u16> {
    let mut data = vec![0u16; w * h];
    data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let mut x = ((i * h + y) as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for px in row.iter_mut() {
            let r = xorshift(&mut x);
            // Sum of four uniforms: roughly normal noise.
            let n = (r & 7) + ((r >> 8) & 7) + ((r >> 16) & 7) + ((r >> 24) & 7);
            *px = 242 + n as u16;
        }
    });
    for &(sx, sy, peak) in stars {
        let cx = (sx + i) % w;
        for dy in 0..3usize {
            for dx in 0..3usize {
                let (x, y) = ((cx + dx) % w, (sy + dy) % h);
                let fall = if dx == 1 && dy == 1 { 1 } else { 4 };
                let v = &mut data[y * w + x];
                *v = (*v).max(peak / fall).min(4095);
            }
        }
    }
    data
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: sim_night JOURNAL_DIR [FRAMES] [WIDTH HEIGHT]");
        std::process::exit(2);
    };
    let frames: usize = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let width: u32 = args.get(2).map_or(Ok(4056), |s| s.parse())?;
    let height: u32 = args.get(3).map_or(Ok(3040), |s| s.parse())?;
    let format = PixelFormat {
        fourcc: *b"pRCC",
        width,
        height,
        stride: (width.div_ceil(2) * 3).next_multiple_of(32),
        bit_depth: 12,
        cfa: Cfa::Rggb,
        packing: Packing::Csi2P12,
    };
    format.validate()?;
    let (w, h) = (width as usize, height as usize);
    let mut seed = 12345u64;
    let stars: Vec<(usize, usize, u16)> = (0..w * h / 6000)
        .map(|_| {
            let x = xorshift(&mut seed) as usize % w;
            let y = xorshift(&mut seed) as usize % h;
            let peak = 300 + (xorshift(&mut seed) % 3800) as u16;
            (x, y, peak)
        })
        .collect();
    let mut cfg = WriterConfig::new(&dir);
    cfg.budget.reserve_bytes = 0;
    let mut writer = JournalWriter::open(cfg, format)?;
    for i in 0..frames {
        let data = samples(i, w, h, &stars);
        let meta = FrameMeta {
            time_utc_ns: START_NS + i as i64 * 5_000_000_000,
            exposure_us: 5_000_000,
            gain_milli: 1000,
            driver_seq: i as u32,
            ..FrameMeta::default()
        };
        writer.append_frame(&meta, &nightcap_frame::pixels::pack_frame(&format, &data))?;
    }
    writer.close()?;
    eprintln!("wrote {frames} frames of {format} to {}", dir.display());
    Ok(())
}
