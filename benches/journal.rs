//! The journal: what the writer adds on top of compression, what the reader adds on top
//! of decompression, and how long opening a journal of 100 sealed segments takes.
//!
//! Frames are simulated Raspberry Pi HQ frames (IMX477, 4056x3040 12-bit RGGB, CSI-2
//! packed as the camera delivers them; `SimSky::render`, seed 1). Throughput is MB/s of
//! raw frame per CPU second of the benchmarking thread (see `common`). See
//! benches/README.md for how to run and the figures.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nightcap_frame::FrameMeta;
use nightcap_journal::codec::{Decoder, Encoder};
use nightcap_journal::{Journal, JournalWriter, WriterConfig};
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};

mod common;
use common::ThreadCpu;

fn hq_frame() -> (SimConfig, Vec<u8>, FrameMeta) {
    let config = SimConfig {
        sensor: SensorPreset::Imx477,
        speed: 0.0,
        ..SimConfig::default()
    };
    let mut raw = Vec::new();
    let meta = SimSky::render(&config, 0, &mut raw);
    (config, raw, meta)
}

fn writer_config(dir: &std::path::Path, level: i32) -> WriterConfig {
    let mut cfg = WriterConfig::new(dir);
    cfg.zstd_level = level;
    cfg.budget.reserve_bytes = 0;
    // Roll often so the bench never fills the disk; retention keeps 4 segments.
    cfg.segment_bytes = 128 << 20;
    cfg.budget.ring_bytes = Some(512 << 20);
    cfg
}

/// `JournalWriter::append_frame` (encode, CRC, copy into the mapping, rolling, retention)
/// against `Encoder::encode` of the same frame at the same level.
fn bench_append(c: &mut Criterion<ThreadCpu>) {
    let (config, raw, meta) = hq_frame();
    let format = config.sensor.format();
    let mut group = c.benchmark_group("journal/append");
    group.throughput(Throughput::BytesDecimal(raw.len() as u64));
    for level in [1, 3] {
        let mut enc = Encoder::new(level);
        let mut out = Vec::new();
        group.bench_function(format!("encode-only/L{level}"), |b| {
            b.iter(|| enc.encode(&format, black_box(&raw), &mut out).unwrap())
        });
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(writer_config(dir.path(), level), format).unwrap();
        let mut m = meta;
        group.bench_function(format!("append_frame/L{level}"), |b| {
            b.iter(|| {
                m.time_utc_ns += 5_000_000_000;
                w.append_frame(&m, black_box(&raw)).unwrap()
            })
        });
        w.close().unwrap();
    }
    group.finish();
}

/// `Segment::read_frame` (header and payload CRCs, zstd with checksum, inverse
/// transform) against plain zstd decompression of the same frame.
fn bench_read(c: &mut Criterion<ThreadCpu>) {
    let (config, raw, meta) = hq_frame();
    let dir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(writer_config(dir.path(), 1), config.sensor.format()).unwrap();
    w.append_frame(&meta, &raw).unwrap();
    w.close().unwrap();
    let j = Journal::open(dir.path()).unwrap();
    let frame = j.frames()[0];
    let seg = &j.segments[frame.segment];
    let plain = zstd::bulk::compress(&raw, 1).unwrap();
    let mut group = c.benchmark_group("journal/read");
    group.throughput(Throughput::BytesDecimal(raw.len() as u64));
    group.bench_function("plain-zstd-decompress/L1", |b| {
        b.iter(|| zstd::bulk::decompress(black_box(&plain), raw.len()).unwrap())
    });
    let (mut dec, mut scratch, mut out) = (Decoder::new(), Vec::new(), Vec::new());
    group.bench_function("read_frame/L1", |b| {
        b.iter(|| {
            seg.read_frame(&frame.entry, &mut dec, &mut scratch, &mut out)
                .unwrap()
        })
    });
    group.finish();
}

/// Wall time of `Journal::open` on 100 sealed segments (each with 20 frames of the
/// `small` preset), through their footer indexes.
fn bench_open(c: &mut Criterion) {
    let config = SimConfig {
        sensor: SensorPreset::Small,
        speed: 0.0,
        ..SimConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = WriterConfig::new(dir.path());
    cfg.budget.reserve_bytes = 0;
    let mut w = JournalWriter::open(cfg, config.sensor.format()).unwrap();
    let mut raw = Vec::new();
    for seg in 0..100u64 {
        for i in 0..20 {
            let meta = SimSky::render(&config, seg * 20 + i, &mut raw);
            w.append_frame(&meta, &raw).unwrap();
        }
        w.seal_active().unwrap();
    }
    w.close().unwrap();
    let mut group = c.benchmark_group("journal/open");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("100-sealed-segments", |b| {
        b.iter(|| {
            let j = Journal::open(dir.path()).unwrap();
            assert_eq!(j.segments.len(), 100);
            j
        })
    });
    group.finish();
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu).sample_size(10);
    targets = bench_append, bench_read
}
criterion_group! {
    name = wall;
    config = Criterion::default().sample_size(20);
    targets = bench_open
}
criterion_main!(cpu, wall);
