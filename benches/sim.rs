//! How fast the simulated sky renders: one frame per preset (all cores), so capture
//! benchmarks know whether the source can outrun the pipeline. IMX477 is the figure that
//! matters (12.3 MP, 12-bit packed); run with `RAYON_NUM_THREADS=1` for one core.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_render");
    group.sample_size(10);
    let cases = [
        (SensorPreset::Imx477, false),
        (SensorPreset::Imx477, true),
        (SensorPreset::Imx219, false),
        (SensorPreset::Webcam, false),
        (SensorPreset::Small, false),
    ];
    for (preset, clouds) in cases {
        let config = SimConfig {
            sensor: preset,
            speed: 0.0,
            clouds,
            ..SimConfig::default()
        };
        let name = format!("{}{}", preset.name(), if clouds { "_clouds" } else { "" });
        let f = preset.format();
        group.throughput(Throughput::Elements(
            u64::from(f.width) * u64::from(f.height),
        ));
        let (mut buf, mut index) = (Vec::new(), 0u64);
        group.bench_function(name, |b| {
            b.iter(|| {
                index += 1;
                SimSky::render(&config, index, &mut buf)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
