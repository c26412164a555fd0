//! Journal payload codecs: compress and decompress MB/s (MB = bytes of the original frame)
//! and compression ratio of every transform on a simulated 12-bit HQ frame (4056x3040
//! RGGB), as 16-bit words and as CSI-2 RAW12, plus plain zstd of the raw bytes as the
//! baseline. Ratios are printed before the timings. See benches/README.md.
//!
//! Times are the CPU time of the benchmarking thread, not wall time: the figure wanted is
//! throughput per core, and on a shared machine wall time also counts waiting for a core.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;
use common::ThreadCpu;
use nightcap_frame::{Cfa, Packing, PixelFormat};
use nightcap_journal::codec::{
    default_transform, CodecSpec, Compression, Decoder, Encoder, Transform,
};
use nightcap_testkit::synthetic_sky;
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
