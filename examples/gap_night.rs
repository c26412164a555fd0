//! Writes a simulated night with long dead time into a journal: 5 s exposures of the
//! simulated sky with `GAP_S` seconds of closed shutter between them, so each star leaves
//! a dash and a gap. For trying `trails --fill-gaps` and measuring what it costs
//! (`scripts/fill-gaps-cost.sh`).
//!
//!     SEED=3 cargo run --release --example gap_night -- JOURNAL_DIR [FRAMES] [GAP_S] [SENSOR]

use nightcap_journal::{JournalWriter, WriterConfig};
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: gap_night JOURNAL_DIR [FRAMES] [GAP_S] [SENSOR]");
        std::process::exit(2);
    };
    let frames: u64 = args.get(2).map_or(60, |v| v.parse().expect("FRAMES"));
    let gap_s: u32 = args.get(3).map_or(55, |v| v.parse().expect("GAP_S"));
    let sensor: SensorPreset = args
        .get(4)
        .map_or(SensorPreset::Imx477, |v| v.parse().expect("SENSOR"));
    let cfg = SimConfig {
        sensor,
        seed: std::env::var("SEED").map_or(3, |s| s.parse().expect("SEED")),
        speed: 0.0,
        exposure_us: 5_000_000,
        frame_gap_us: gap_s * 1_000_000,
        ..SimConfig::default()
    };
    let mut w = WriterConfig::new(dir);
    w.budget.reserve_bytes = 0;
    let mut writer = JournalWriter::open(w, cfg.sensor.format()).expect("journal");
    let mut buf = Vec::new();
    for i in 0..frames {
        let meta = SimSky::render(&cfg, i, &mut buf);
        writer.append_frame(&meta, &buf).expect("append");
    }
    writer.close().expect("close");
    println!("{frames} frames, {gap_s} s apart, in {dir}");
}
