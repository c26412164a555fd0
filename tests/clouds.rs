//! Cloud rejection measured on simulated nights whose cloud cover is known frame by frame
//! (issue 12.4): a partly cloudy night, a night cloudy throughout with short breaks, and
//! a clear night.

use nightcap_frame::pixels::to_image16;
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};
use nightcap_stack::reject::{frame_stats, judge, FrameStats};

fn night(seed: u64, clouds: Option<f32>, frames: u64) -> (Vec<f32>, Vec<FrameStats>) {
    let cfg = SimConfig {
        sensor: SensorPreset::Ov5647,
        seed,
        clouds: clouds.is_some(),
        cloudiness: clouds.unwrap_or(0.5),
        speed: 0.0,
        // A frame a minute: two hours of weather in 120 frames.
        frame_gap_us: 55_000_000,
        ..SimConfig::default()
    };
    let mut buf = Vec::new();
    let f = cfg.sensor.format();
    (0..frames)
        .map(|i| {
            SimSky::render(&cfg, i, &mut buf);
            let img = to_image16(&f, &buf).unwrap();
            (SimSky::cloud_fraction(&cfg, i), frame_stats(&img))
        })
        .unzip()
}

/// A frame at least half under cloud is cloudy; one with at most 5 % is clear; those
/// between are partly cloudy and not scored.
const CLOUDY: f32 = 0.5;
const CLEAR: f32 = 0.05;

#[test]
#[ignore = "measurement over simulated nights (35 s): run with `cargo test -- --include-ignored`, as CI does"]
fn cloudy_frames_are_rejected_and_clear_frames_kept_on_labelled_nights() {
    // (seed, cloudiness): partly cloudy, cloudy most of the time, variable, mostly
    // clear, clear.
    let nights = [
        (1, Some(0.5)),
        (2, Some(0.7)),
        (4, Some(0.6)),
        (5, Some(0.35)),
        (3, None),
    ];
    let (mut cloudy, mut cloudy_rejected, mut clear, mut clear_rejected) = (0, 0, 0, 0);
    let (mut partly, mut partly_rejected) = (0, 0);
    let mut report = String::new();
    for (seed, clouds) in nights {
        let (cover, stats) = night(seed, clouds, 120);
        let verdicts = judge(&stats);
        let mut line = [0u32; 6];
        for (c, v) in cover.iter().zip(&verdicts) {
            let k = if *c >= CLOUDY {
                0
            } else if *c <= CLEAR {
                2
            } else {
                4
            };
            line[k] += 1;
            line[k + 1] += u32::from(v.is_some());
        }
        report += &format!(
            "night seed {seed} clouds {clouds:?}: cloudy {}/{} rejected, clear {}/{} rejected, partly {}/{} rejected\n",
            line[1], line[0], line[3], line[2], line[5], line[4]
        );
        cloudy += line[0];
        cloudy_rejected += line[1];
        clear += line[2];
        clear_rejected += line[3];
        partly += line[4];
        partly_rejected += line[5];
    }
    report += &format!(
        "all: cloudy {cloudy_rejected}/{cloudy} rejected, clear {clear_rejected}/{clear} rejected, partly {partly_rejected}/{partly} rejected"
    );
    println!("{report}");
    assert!(
        cloudy > 100 && clear > 100,
        "the nights hold both kinds\n{report}"
    );
    assert!(
        f64::from(cloudy_rejected) >= 0.95 * f64::from(cloudy),
        "fewer than 95 % of cloudy frames rejected\n{report}"
    );
    assert_eq!(clear_rejected, 0, "a clear frame was rejected\n{report}");
}
