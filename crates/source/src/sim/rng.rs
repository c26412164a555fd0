//! Counter-based randomness for the simulated sky.
//!
//! Every random quantity is a pure function of `(seed, purpose, counter)`: there is no
//! generator state, so frame `index` can be rendered in any order, in parallel, and twice
//! with identical bytes. Gaussian deviates come from a table of normal quantiles indexed
//! by 12 hash bits, which is both fast (the table stays in L1 cache) and exactly
//! reproducible.

use std::sync::OnceLock;

/// The splitmix64 finaliser: a fast bijective 64-bit mix with good avalanche.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of a key and a counter.
#[inline]
pub fn hash2(key: u64, n: u64) -> u64 {
    mix(key ^ mix(n))
}

/// Uniform in [0, 1) from the top 53 bits of a hash.
#[inline]
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A stream of uniforms for one purpose: `Stream::new(seed, tag).next()`.
pub struct Stream {
    key: u64,
    n: u64,
}

impl Stream {
    pub fn new(seed: u64, tag: u64) -> Stream {
        Stream {
            key: hash2(seed, tag),
            n: 0,
        }
    }

    /// The next uniform in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.n += 1;
        unit(hash2(self.key, self.n))
    }

    /// The next uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// Entries in the Gaussian table: 12 hash bits index it (16 KiB, fits in L1).
const TABLE_LEN: usize = 1 << 12;

/// Standard normal quantiles at `(i + 0.5) / 4096`: a table lookup by uniform bits is
/// then an exact inverse-CDF sample, discretised to 4096 levels. Tails stop at ±3.5σ
/// (a true Gaussian puts 0.05% of samples beyond): invisible in pictures, and single
/// noisy pixels never reach the levels of faint stars.
pub fn gaussian_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..TABLE_LEN)
            .map(|i| normal_quantile((i as f64 + 0.5) / TABLE_LEN as f64) as f32)
            .collect()
    })
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9), for 0 < p < 1.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_table_is_standard_normal() {
        let t = gaussian_table();
        let n = t.len() as f64;
        let mean = t.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = t.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / n - mean * mean;
        assert!(mean.abs() < 1e-6, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
        assert!(t.windows(2).all(|w| w[0] < w[1]), "quantiles increase");
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<f64> = (0..4)
            .map({
                let mut s = Stream::new(7, 1);
                move |_| s.next()
            })
            .collect();
        let mut s = Stream::new(7, 1);
        assert_eq!(a, (0..4).map(|_| s.next()).collect::<Vec<_>>());
        let mut other = Stream::new(7, 2);
        assert_ne!(a[0], other.next());
        assert!(a.iter().all(|&u| (0.0..1.0).contains(&u)));
    }
}
