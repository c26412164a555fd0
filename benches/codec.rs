//! Journal payload codecs: compress and decompress MB/s (MB = bytes of the original frame)
//! and compression ratio of every transform on a simulated 12-bit HQ frame (4056x3040
//! RGGB), as 16-bit words and as CSI-2 RAW12, plus plain zstd of the raw bytes as the
//! baseline. Ratios are printed before the timings. See benches/README.md.
//!
//! Times are the CPU time of the benchmarking thread, not wall time: the figure wanted is
//! throughput per core, and on a shared machine wall time also counts waiting for a core.

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nightcap::frame::{Cfa, Packing, PixelFormat};
use nightcap::journal::codec::{
    default_transform, synthetic_sky, CodecSpec, Compression, Decoder, Encoder, Transform,
};
use std::hint::black_box;

/// The Raspberry Pi HQ camera's full 12-bit mode, in the two packings it is captured in.
fn hq_formats() -> [(&'static str, PixelFormat); 2] {
    let base = PixelFormat {
        fourcc: *b"pRCC",
        width: 4056,
        height: 3040,
        stride: 6112,
        bit_depth: 12,
        cfa: Cfa::Rggb,
        packing: Packing::Csi2P12,
    };
    let u16le = PixelFormat {
        fourcc: *b"RG12",
        stride: 8112,
        packing: Packing::U16Le,
        ..base
    };
    [("u16le", u16le), ("csi2p12", base)]
}

/// CPU time of the calling thread, in nanoseconds.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Shows times in CPU milliseconds and throughput in MB/s (10^6 bytes of the raw frame).
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical_ns: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms cpu"
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let units = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n as f64,
            Throughput::Bits(n) => n as f64 / 8.0,
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => n as f64,
        };
        values.iter_mut().for_each(|ns| *ns = units * 1e3 / *ns);
        "MB/s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn bench_transforms(c: &mut Criterion<ThreadCpu>) {
    for (name, format) in hq_formats() {
        let raw = synthetic_sky(&format, 300, 1);
        let mut group = c.benchmark_group(format!("codec/{name}"));
        group.throughput(Throughput::BytesDecimal(raw.len() as u64));
        let mut runs: Vec<(Transform, i32)> = Transform::ALL
            .into_iter()
            .filter(|t| t.fits(&format, raw.len()))
            .map(|t| (t, 1))
            .collect();
        runs.extend([3, 6].map(|level| (default_transform(&format), level)));
        for (transform, level) in runs {
            let spec = CodecSpec {
                transform,
                compression: Compression::Zstd,
            };
            let label = format!("{}-L{level}", transform.name());
            let mut enc = Encoder::new(level);
            let mut payload = Vec::new();
            enc.encode_with(spec, &format, &raw, &mut payload).unwrap();
            println!(
                "ratio {name} {label}: {:.3} ({} -> {} bytes)",
                raw.len() as f64 / payload.len() as f64,
                raw.len(),
                payload.len()
            );
            group.bench_function(format!("compress/{label}"), |b| {
                let mut out = Vec::new();
                b.iter(|| {
                    enc.encode_with(spec, &format, black_box(&raw), &mut out)
                        .unwrap()
                })
            });
            let mut dec = Decoder::new();
            group.bench_function(format!("decompress/{label}"), |b| {
                let mut out = Vec::new();
                b.iter(|| {
                    dec.decode(spec, &format, black_box(&payload), raw.len(), &mut out)
                        .unwrap()
                })
            });
        }
        group.finish();
    }
}

/// zstd of the raw bytes with a fresh `bulk` call per frame: what a writer without any
/// codec layer would pay.
fn bench_plain_zstd(c: &mut Criterion<ThreadCpu>) {
    for (name, format) in hq_formats() {
        let raw = synthetic_sky(&format, 300, 1);
        let mut group = c.benchmark_group(format!("plain zstd/{name}"));
        group.throughput(Throughput::BytesDecimal(raw.len() as u64));
        for level in [1, 3, 6] {
            let payload = zstd::bulk::compress(&raw, level).unwrap();
            println!(
                "ratio {name} plain-zstd-L{level}: {:.3}",
                raw.len() as f64 / payload.len() as f64
            );
            group.bench_function(format!("compress/L{level}"), |b| {
                b.iter(|| zstd::bulk::compress(black_box(&raw), level).unwrap())
            });
            group.bench_function(format!("decompress/L{level}"), |b| {
                b.iter(|| zstd::bulk::decompress(black_box(&payload), raw.len()).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu).sample_size(10);
    targets = bench_transforms, bench_plain_zstd
}
criterion_main!(benches);
