//! Detection benchmark: the cost of searching one 12 MP frame (the simulated HQ camera,
//! 4056x3040 RGGB) for streaks, on one core: binning, the background from the frames
//! around it, the threshold, the pieces and the linking, per frame pushed into a
//! detector. The frames are rendered once beforehand (a simulated night with meteors,
//! satellites and planes at benchmark rates).
//!
//!     cargo bench --bench detect -- --warm-up-time 1 --measurement-time 10

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../tests/support/nights.rs"]
mod nights;

use nightcap_detect::{DetectConfig, Detector};
use nightcap_frame::pixels::Image16;
use nightcap_source::sim::SensorPreset;

const FRAMES: u64 = 8;

fn frames() -> Vec<(i64, u32, Image16)> {
    let config = nights::night(SensorPreset::Imx477, 3);
    let mut buf = Vec::new();
    (0..FRAMES)
        .map(|i| {
            let (meta, img) = nights::frame(&config, i, &mut buf);
            (meta.time_utc_ns, meta.exposure_us, img)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let one_core = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("detect");
    g.sample_size(10);
    g.throughput(Throughput::Elements(FRAMES));
    for (name, link) in [
        ("12 MP frames, one core", true),
        ("12 MP frames, one core, no linking", false),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                one_core.install(|| {
                    let mut d = Detector::new(DetectConfig {
                        link,
                        ..DetectConfig::default()
                    });
                    let mut n = 0;
                    for (i, (t, e, img)) in frames.iter().enumerate() {
                        n += d.push(i as u64, *t, *e, img).len();
                    }
                    n + d.finish().0.len()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
