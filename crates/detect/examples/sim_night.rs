//! Detection over simulated nights, scored against their truth, without journals: the
//! detection benchmark (`scripts/detect-bench.sh` runs it).
//!
//!     cargo run --release -p nightcap-detect --example sim_night -- \
//!         SEEDS FRAMES SENSOR [nolink]      # SEEDS: "1,2,3"
//!
//! Prints the score of all nights together and the detection time per frame (the frames
//! are rendered beforehand, outside the timing). `SIGMA=4.5` changes the threshold;
//! `VERBOSE=1` lists events and labels.

use nightcap_detect::score::{score, Score, Truth, TruthFrame};
use nightcap_detect::{DetectConfig, Detector};
use nightcap_frame::pixels::to_image16;
use nightcap_source::sim::{Rates, SensorPreset, SimConfig, SimSky};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: Vec<u64> = args
        .get(1)
        .map_or("1", String::as_str)
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let frames: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let sensor = args.get(3).map(String::as_str).unwrap_or("imx477");
    let link = args.get(4).map(String::as_str) != Some("nolink");
    let sigma = std::env::var("SIGMA")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let verbose = std::env::var_os("VERBOSE").is_some();
    let mut total = Score::default();
    let mut detect_s = 0.0;
    for &seed in &seeds {
        let config = SimConfig {
            sensor: sensor.parse::<SensorPreset>().expect("sensor"),
            seed,
            speed: 0.0,
            rates: Rates {
                meteors_per_hour: 60.0,
                satellites_per_hour: 20.0,
                planes_per_hour: 6.0,
            },
            ..SimConfig::default()
        };
        let format = config.sensor.format();
        let mut d = Detector::new(DetectConfig {
            link,
            sigma,
            ..DetectConfig::default()
        });
        let mut events = Vec::new();
        let mut buf = Vec::new();
        for i in 0..frames {
            let meta = SimSky::render(&config, i, &mut buf);
            let img = to_image16(&format, &buf).unwrap();
            let t = std::time::Instant::now();
            events.extend(d.push(i, meta.time_utc_ns, meta.exposure_us, &img));
            detect_s += t.elapsed().as_secs_f64();
        }
        let t = std::time::Instant::now();
        let (rest, _) = d.finish();
        detect_s += t.elapsed().as_secs_f64();
        events.extend(rest);
        let truth: Vec<Truth> = SimSky::labels(&config, 0..frames)
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
            .collect();
        if verbose {
            for e in &events {
                let (a, b) = (&e.frames[0], &e.frames[e.frames.len() - 1]);
                eprintln!(
                    "seed {seed}: {} {:.2} seqs {}..{} length {:.0} width {:.1} {:?} -> {:?}",
                    e.class.name(),
                    e.confidence,
                    a.seq,
                    b.seq,
                    e.length,
                    e.width,
                    a.from,
                    b.to
                );
            }
            for l in &truth {
                eprintln!(
                    "seed {seed}: truth {} snr {:.1} frames {} {:?} -> {:?}",
                    l.class,
                    l.snr,
                    l.frames.len(),
                    l.frames[0].from,
                    l.frames[l.frames.len() - 1].to
                );
            }
        }
        total.add(&score(&events, &truth));
    }
    let n = frames * seeds.len() as u64;
    println!(
        "{} nights of {frames} {sensor} frames, linking {}: detection {:.0} ms a frame",
        seeds.len(),
        if link { "on" } else { "off" },
        detect_s * 1000.0 / n as f64
    );
    print!("{total}");
}
