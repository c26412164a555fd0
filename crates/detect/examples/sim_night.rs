//! Detection over a simulated night, scored against its truth, without a journal:
//! `cargo run --release -p nightcap-detect --example sim_night -- SEED FRAMES SENSOR [nolink]`.

use nightcap_detect::score::{score, Truth, TruthFrame};
use nightcap_detect::{DetectConfig, Detector};
use nightcap_frame::pixels::to_image16;
use nightcap_source::sim::{Rates, SensorPreset, SimConfig, SimSky};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let frames: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let sensor = args.get(3).map(String::as_str).unwrap_or("imx477");
    let link = args.get(4).map(String::as_str) != Some("nolink");
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
        ..DetectConfig::default()
    });
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let t = std::time::Instant::now();
    for i in 0..frames {
        let meta = SimSky::render(&config, i, &mut buf);
        let img = to_image16(&format, &buf).unwrap();
        events.extend(d.push(i, meta.time_utc_ns, meta.exposure_us, &img));
    }
    let (rest, notes) = d.finish();
    events.extend(rest);
    let took = t.elapsed();
    for n in notes.iter().take(5) {
        eprintln!("note: {n}");
    }
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
    if std::env::var_os("VERBOSE").is_some() {
        for e in &events {
            eprintln!(
                "{} {:.2} seqs {}..{} len {:.0} w {:.1} fl {} {:?}->{:?}",
                e.class.name(),
                e.confidence,
                e.first_seq(),
                e.frames.last().unwrap().seq,
                e.length,
                e.width,
                e.frames.iter().map(|f| f.profile.len()).sum::<usize>(),
                e.frames[0].from,
                e.frames.last().unwrap().to
            );
        }
        for l in &truth {
            eprintln!(
                "truth {} snr {:.1} frames {} {:?}->{:?}",
                l.class,
                l.snr,
                l.frames.len(),
                l.frames[0].from,
                l.frames.last().unwrap().to
            );
        }
    }
    println!(
        "{} frames in {:.1} s ({:.0} ms a frame)",
        frames,
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / frames as f64
    );
    print!("{}", score(&events, &truth));
}
