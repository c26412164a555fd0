//! Stacker benchmarks: the cost of combining one 4056x3040 frame into an accumulator
//! (ns/pixel for max and mean), decoding one compressed frame to samples the old way
//! (bytes, then unpack) against straight to sample rows (`decode_rows`), and
//! whole-window throughput (frames/s) reading a journal of 12 compressed frames
//! (page-cached) and max-stacking them, and writing one 12 MP stack as the JPEG a window
//! produces (tone map, debayer to 8-bit RGB, libjpeg-turbo at quality 95 4:4:4).
//!
//! And per-frame statistics: what measuring one 12 MP frame from its bytes costs a
//! capture worker (`stats/measure_bytes`, against `decode_then_measure`, what a reader
//! of a journal without STATS records pays), and `--reject auto`'s judging of 12 frames
//! from their stored STATS records against measuring the decoded frames.
//!
//!     cargo bench --bench stack -- --warm-up-time 1 --measurement-time 3

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use nightcap_frame::pixels::to_image16;
use nightcap_frame::pixels::{pack_frame, Image16};
use nightcap_frame::{Cfa, FrameMeta, Packing, PixelFormat};
use nightcap_journal::codec::{Decoder, Encoder};
use nightcap_journal::{Journal, JournalWriter, WriterConfig};
use nightcap_stack::calib::Calibration;
use nightcap_stack::night::{reject_run, write_stack, JournalFrames, StackConfig};
use nightcap_stack::output::image::OutputMeta;
use nightcap_stack::reduce::{reduce, Accumulator, Gather, Mode, Shape};
use nightcap_stack::stats::{measure, measure_image};

const W: u32 = 4056;
const H: u32 = 3040;

fn noise_frame(seed: u64) -> Vec<u16> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..(W * H) as usize)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let star = if i % 7919 == 0 { 3000 } else { 0 };
            (242 + (x & 15) as u16 + (x >> 8 & 15) as u16).max(star)
        })
        .collect()
}

fn image(seed: u64) -> Image16 {
    Image16 {
        width: W,
        height: H,
        channels: 1,
        cfa: Cfa::Rggb,
        bit_depth: 12,
        data: noise_frame(seed),
    }
}

fn combine(c: &mut Criterion) {
    let img = image(1);
    let shape = Shape::of(&img);
    let mut g = c.benchmark_group("combine_4056x3040");
    g.throughput(Throughput::Elements(u64::from(W * H)));
    for (name, gather) in [("max", Gather::Max), ("mean", Gather::Sum)] {
        let acc = Accumulator::new(shape, gather, 64);
        g.bench_function(name, |b| b.iter(|| acc.add(&img, 0).unwrap()));
    }
    g.finish();
}

fn hq_format() -> PixelFormat {
    PixelFormat {
        fourcc: *b"pRCC",
        width: W,
        height: H,
        stride: 6112,
        bit_depth: 12,
        cfa: Cfa::Rggb,
        packing: Packing::Csi2P12,
    }
}

fn decode(c: &mut Criterion) {
    let format = hq_format();
    let raw = pack_frame(&format, &noise_frame(1));
    let mut payload = Vec::new();
    let spec = Encoder::new(1).encode(&format, &raw, &mut payload).unwrap();
    let mut dec = Decoder::new();
    let mut g = c.benchmark_group("decode_4056x3040");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    let mut bytes = Vec::new();
    g.bench_function("bytes_then_unpack", |b| {
        b.iter(|| {
            dec.decode(spec, &format, &payload, raw.len(), &mut bytes)
                .unwrap();
            to_image16(&format, &bytes).unwrap().data[0]
        })
    });
    g.bench_function("rows", |b| {
        b.iter(|| {
            let mut first = 0u16;
            dec.decode_rows(spec, &format, &payload, raw.len(), 16, &mut |_, r| {
                first = first.max(r[0])
            })
            .unwrap();
            first
        })
    });
    g.finish();
}

fn window(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_of_12(&tmp.path().join("j"), false);
    let cal = Calibration::default();
    let mut g = c.benchmark_group("window_12_frames");
    g.throughput(Throughput::Elements(12));
    g.sample_size(10);
    for (name, mode) in [("max", Mode::Max), ("mean", Mode::Mean)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let src = JournalFrames {
                    journal: &journal,
                    frames: journal.frames(),
                    calibration: &cal,
                    masks: None,
                    on_skip: &|_| {},
                    on_frame: &|| {},
                };
                reduce(&src, 12, mode).image.unwrap()
            })
        });
    }
    g.finish();
}

/// A journal of 12 noise frames in `dir`, with their STATS records or without.
fn journal_of_12(dir: &std::path::Path, with_stats: bool) -> Journal {
    let format = hq_format();
    let mut cfg = WriterConfig::new(dir);
    cfg.budget.reserve_bytes = 0;
    let mut w = JournalWriter::open(cfg, format).unwrap();
    for i in 0..12u64 {
        let meta = FrameMeta {
            time_utc_ns: i as i64 * 5_000_000_000,
            exposure_us: 5_000_000,
            ..FrameMeta::default()
        };
        let raw = pack_frame(&format, &noise_frame(i + 1));
        let stats = with_stats.then(|| measure(&format, &raw).unwrap());
        w.append_frame_with_stats(&meta, &raw, stats.as_ref())
            .unwrap();
    }
    w.close().unwrap();
    Journal::open(dir).unwrap()
}

fn stats(c: &mut Criterion) {
    let format = hq_format();
    let raw = pack_frame(&format, &noise_frame(1));
    let mut g = c.benchmark_group("stats_4056x3040");
    g.sample_size(10);
    // On one thread, as a capture worker measures.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    g.bench_function("measure_bytes", |b| {
        b.iter(|| one.install(|| measure(&format, &raw).unwrap()))
    });
    g.bench_function("decode_then_measure", |b| {
        b.iter(|| one.install(|| measure_image(&to_image16(&format, &raw).unwrap())))
    });
    g.finish();

    let tmp = tempfile::tempdir().unwrap();
    let cal = Calibration::default();
    let mut g = c.benchmark_group("reject_12_frames");
    g.throughput(Throughput::Elements(12));
    g.sample_size(10);
    for (name, with_stats) in [("stored_stats", true), ("measured", false)] {
        let journal = journal_of_12(&tmp.path().join(name), with_stats);
        let frames = journal.frames();
        g.bench_function(name, |b| {
            b.iter(|| reject_run(&journal, &frames, &cal, &|_| {}))
        });
    }
    g.finish();
}

fn write(c: &mut Criterion) {
    let img = image(1);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = StackConfig::new(tmp.path());
    let mut meta = OutputMeta::new("max");
    meta.sidecar = false;
    let path = tmp.path().join("stack.jpg");
    let mut g = c.benchmark_group("write_4056x3040");
    g.sample_size(10);
    g.bench_function("jpeg", |b| {
        b.iter(|| write_stack(&path, &img, &cfg, &meta).unwrap())
    });
    g.finish();
}

criterion_group!(benches, combine, decode, window, stats, write);
criterion_main!(benches);
