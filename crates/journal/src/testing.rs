//! Test support (the `internals` feature, and this crate's own tests): synthetic frames
//! and deterministic noise for codec tests, benchmarks and fuzzing. Not part of the
//! public API: nothing here is promised to stay.

use nightcap_frame::pixels::max_for_depth;
use nightcap_frame::PixelFormat;

/// A deterministic synthetic night-sky frame in `format` (a raw packing: U8, U16Le,
/// Csi2P10, Csi2P12), for codec tests and benchmarks: sky background about 256 ADU (12-bit
/// scale) with a gentle gradient, `stars` Gaussian-PSF stars, shot noise (Gaussian with
/// sd = sqrt(signal)), read noise sd 3 ADU, black level 256, clipped at full scale.
/// Values are generated at 12 bits and shifted to `format.bit_depth`.
///
/// # Panics
/// If `format` is not a raw packing (a programming error in a test or bench).
pub fn synthetic_sky(format: &PixelFormat, stars: usize, seed: u64) -> Vec<u8> {
    let (w, h) = (format.width as usize, format.height as usize);
    let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut signal: Vec<f32> = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let gain = match format.cfa.colour_at(x, y) {
                Some(0) => 0.8,
                Some(2) => 0.7,
                _ => 1.0,
            };
            let gradient = 220.0 + 60.0 * y as f32 / h as f32 + 20.0 * x as f32 / w as f32;
            signal.push(gain * gradient);
        }
    }
    for _ in 0..stars {
        let (cx, cy) = (rng.unit() * w as f64, rng.unit() * h as f64);
        let sigma = 1.0 + 1.5 * rng.unit();
        let peak = 50.0 * (-rng.unit().max(1e-9).ln() * 1.5).exp().min(200.0);
        let r = (4.0 * sigma).ceil() as isize;
        for dy in -r..=r {
            for dx in -r..=r {
                let (x, y) = (cx as isize + dx, cy as isize + dy);
                if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
                    continue;
                }
                let d2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
                signal[y as usize * w + x as usize] +=
                    (peak * (-d2 / (2.0 * sigma * sigma)).exp()) as f32;
            }
        }
    }
    let full = f64::from(max_for_depth(format.bit_depth));
    let scale = full / 4095.0;
    let samples: Vec<u16> = signal
        .iter()
        .map(|&s| {
            let s = f64::from(s);
            let (n1, n2) = rng.gauss_pair();
            let adu = 256.0 + s + s.sqrt() * n1 + 3.0 * n2;
            (adu.clamp(0.0, 4095.0) * scale).round() as u16
        })
        .collect();
    nightcap_frame::pixels::pack_frame(format, &samples)
}

/// xorshift64*: small, fast and deterministic; good enough for test noise.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Two independent standard normal deviates (Box-Muller).
    pub fn gauss_pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        (r * t.cos(), r * t.sin())
    }
}

/// A test stream format: `width` x `height` raw samples in `packing` at `bit_depth` bits
/// with `cfa`, lines unpadded (the fourcc is informative only: `TEST`).
///
/// # Panics
/// If `packing` has no line length for `width` (MJPEG: a programming error in a test).
pub fn format(
    width: u32,
    height: u32,
    bit_depth: u8,
    cfa: nightcap_frame::Cfa,
    packing: nightcap_frame::Packing,
) -> PixelFormat {
    let stride = packing.line_bytes(width).expect("a packing with lines") as u32;
    PixelFormat {
        fourcc: *b"TEST",
        width,
        height,
        stride,
        bit_depth,
        cfa,
        packing,
    }
}

/// The smallest realistic format: the simulated `tiny` sensor's 64x48 12-bit RGGB in
/// CSI-2 packing with 96-byte lines padded to 128, so padding is exercised.
pub fn tiny() -> PixelFormat {
    PixelFormat {
        fourcc: *b"pRCC",
        stride: 128,
        ..format(
            64,
            48,
            12,
            nightcap_frame::Cfa::Rggb,
            nightcap_frame::Packing::Csi2P12,
        )
    }
}

/// Deterministic pseudo-random bytes (xorshift64*; the same `seed` gives the same bytes).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed | 1);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}
