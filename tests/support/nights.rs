//! Simulated nights for detection: the benchmark's sky (meteors 60/h, satellites 20/h,
//! planes 6/h), its frames, its truth as the scorer reads it, and nights searched and
//! scored. Shared by `tests/detect.rs` (through `support`), and by `benches/detect.rs`
//! and `examples/detect_nights.rs`, which include this file by path.
#![allow(dead_code)]

use std::time::Instant;

use nightcap_detect::score::{score, Score, Truth, TruthFrame};
use nightcap_detect::{DetectConfig, Detector};
use nightcap_frame::pixels::{to_image16, Image16};
use nightcap_frame::FrameMeta;
use nightcap_source::sim::{Rates, SensorPreset, SimConfig, SimSky};

/// The benchmark night of `sensor` with `seed`, rendered as fast as possible.
pub fn night(sensor: SensorPreset, seed: u64) -> SimConfig {
    SimConfig {
        sensor,
        seed,
        speed: 0.0,
        rates: Rates {
            meteors_per_hour: 60.0,
            satellites_per_hour: 20.0,
            planes_per_hour: 6.0,
            others_per_hour: 6.0,
        },
        ..SimConfig::default()
    }
}

/// Frame `index` of `config` as samples, with its metadata (`buf` is reused).
pub fn frame(config: &SimConfig, index: u64, buf: &mut Vec<u8>) -> (FrameMeta, Image16) {
    let meta = SimSky::render(config, index, buf);
    let img = to_image16(&config.sensor.format(), buf).expect("simulated frames convert");
    (meta, img)
}

/// What crossed frames `0..frames` of `config`, as the scorer reads it.
pub fn truth(config: &SimConfig, frames: u64) -> Vec<Truth> {
    SimSky::labels(config, 0..frames)
        .into_iter()
        .map(|l| Truth {
            class: l.class.to_string(),
            snr: l.snr,
            frames: l
                .frames
                .iter()
                .map(|f| TruthFrame {
                    start_utc_ns: f.start_utc_ns,
                    from: (f.from.0 as f32, f.from.1 as f32),
                    to: (f.to.0 as f32, f.to.1 as f32),
                })
                .collect(),
        })
        .collect()
}

/// One way of detecting, over all the nights: its score and the seconds spent detecting.
pub struct Searched {
    pub score: Score,
    pub detect_s: f64,
}

/// Searches `seeds` nights of `frames` frames with one detector per `link` value (each
/// frame rendered once, searched by all), each scored over all the nights.
pub fn search(
    sensor: SensorPreset,
    seeds: &[u64],
    frames: u64,
    sigma: f32,
    links: &[bool],
) -> Vec<Searched> {
    let mut out: Vec<Searched> = links
        .iter()
        .map(|_| Searched {
            score: Score::default(),
            detect_s: 0.0,
        })
        .collect();
    for &seed in seeds {
        let config = night(sensor, seed);
        let mut detectors: Vec<Detector> = links
            .iter()
            .map(|&link| {
                Detector::new(DetectConfig {
                    link,
                    sigma,
                    ..DetectConfig::default()
                })
            })
            .collect();
        let mut events = vec![Vec::new(); links.len()];
        let mut buf = Vec::new();
        for i in 0..frames {
            let (meta, img) = frame(&config, i, &mut buf);
            for ((d, e), s) in detectors.iter_mut().zip(&mut events).zip(&mut out) {
                let t = Instant::now();
                e.extend(d.push(i, meta.time_utc_ns, meta.exposure_us, &img));
                s.detect_s += t.elapsed().as_secs_f64();
            }
        }
        let truth = truth(&config, frames);
        for ((d, mut e), s) in detectors.into_iter().zip(events).zip(&mut out) {
            let t = Instant::now();
            e.extend(d.finish().0);
            s.detect_s += t.elapsed().as_secs_f64();
            s.score.add(&score(&e, &truth));
        }
    }
    out
}
