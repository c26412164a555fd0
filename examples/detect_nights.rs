//! Detection over simulated nights, scored against their truth, without journals: the
//! detection benchmark (`scripts/detect-bench.sh` runs it).
//!
//!     cargo run --release --example detect_nights -- SEEDS FRAMES SENSOR [nolink]
//!
//! SEEDS is a list such as `1,2,3`. Prints the score of all nights together and the
//! detection time per frame (rendering the frames is not timed). `SIGMA=4.5` changes the
//! threshold.

#[path = "../tests/support/nights.rs"]
mod nights;

use nightcap_source::sim::SensorPreset;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: Vec<u64> = args
        .get(1)
        .map_or("1", String::as_str)
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let frames: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let sensor = args.get(3).map_or("imx477", String::as_str);
    let link = args.get(4).map(String::as_str) != Some("nolink");
    let sigma = std::env::var("SIGMA")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let Ok(preset) = sensor.parse::<SensorPreset>() else {
        eprintln!(
            "detect_nights: unknown sensor {sensor}: use {}",
            SensorPreset::names().join(", ")
        );
        std::process::exit(2);
    };
    let searched = nights::search(preset, &seeds, frames, sigma, &[link]);
    let n = frames * seeds.len() as u64;
    println!(
        "{} nights of {frames} {sensor} frames, linking {}: detection {:.0} ms a frame",
        seeds.len(),
        if link { "on" } else { "off" },
        searched[0].detect_s * 1000.0 / n.max(1) as f64
    );
    print!("{}", searched[0].score);
}
