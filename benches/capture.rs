//! Capture pipeline benchmark (custom harness: one whole run is the measurement).
//!
//! Feeds 4056x3040 12-bit frames (the Pi HQ camera, CSI-2 packed as delivered; two
//! simulated frames rendered beforehand and cycled, so the cores measure the pipeline and
//! not the sky renderer) through `capture::run` into a journal in a temporary directory,
//! and prints: sustained frames/s, the compression bound measured in the same run
//! (cores x single-core encode MB/s / frame size), the capture thread's hand-off time per
//! frame (p50/p99), and the peak RSS of the run.
//!
//! `cargo bench --bench capture [-- FRAMES]` (default 200).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nightcap::capture::{self, CaptureConfig, Counters};
use nightcap_frame::{FrameMeta, PixelFormat};
use nightcap_journal::codec::Encoder;
use nightcap_journal::WriterConfig;
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};
use nightcap_source::{FrameSource, SourceError};

/// Pre-rendered frames handed out in turn with advancing timestamps, copied into the
/// pipeline's buffer like a driver's DMA buffer would be.
struct Cycling {
    format: PixelFormat,
    frames: Vec<(FrameMeta, Vec<u8>)>,
    next: u64,
    limit: u64,
}

impl FrameSource for Cycling {
    fn format(&self) -> PixelFormat {
        self.format
    }
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError> {
        if self.next >= self.limit {
            return Err(SourceError::Ended);
        }
        let (meta, data) = &self.frames[(self.next % self.frames.len() as u64) as usize];
        buf.clear();
        buf.extend_from_slice(data);
        let mut m = *meta;
        m.time_utc_ns += self.next as i64 * 5_020_000_000;
        m.driver_seq = self.next as u32;
        self.next += 1;
        Ok(m)
    }
    fn describe(&self) -> String {
        "pre-rendered simulated HQ frames".into()
    }
    fn is_live(&self) -> bool {
        false
    }
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The largest anonymous and file-backed resident sizes seen while sampling every 5 ms
/// (KiB): where the peak RSS sits, since `VmHWM` only gives the sum.
fn sample_rss(done: Arc<AtomicBool>) -> thread::JoinHandle<(u64, u64)> {
    thread::spawn(move || {
        let (mut anon, mut file) = (0, 0);
        while !done.load(Ordering::Relaxed) {
            anon = anon.max(status_kib("RssAnon:"));
            file = file.max(status_kib("RssFile:") + status_kib("RssShmem:"));
            thread::sleep(Duration::from_millis(5));
        }
        (anon, file)
    })
}

/// CPU time of `clock` in seconds.
fn cpu_s(clock: rustix::time::ClockId) -> f64 {
    let t = rustix::time::clock_gettime(clock);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn main() {
    let frames: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let sim = SimConfig {
        sensor: SensorPreset::Imx477,
        speed: 0.0,
        ..SimConfig::default()
    };
    let format = sim.sensor.format();
    let rendered: Vec<(FrameMeta, Vec<u8>)> = (0..2)
        .map(|i| {
            let mut buf = Vec::new();
            let meta = SimSky::render(&sim, i, &mut buf);
            (meta, buf)
        })
        .collect();
    let frame_mb = rendered[0].1.len() as f64 / 1e6;

    // The bound: single-core encode speed of these frames, times the cores. CPU time of
    // this thread, so that other load on the machine does not lower the bound.
    use rustix::time::ClockId;
    let mut enc = Encoder::new(1);
    let mut out = Vec::new();
    enc.encode(&format, &rendered[1].1, &mut out).unwrap(); // warm: buffers, zstd context
    let t = cpu_s(ClockId::ThreadCPUTime);
    for i in 0..8 {
        enc.encode(&format, &rendered[i % 2].1, &mut out).unwrap();
    }
    let encode_cpu_s = (cpu_s(ClockId::ThreadCPUTime) - t) / 8.0;
    let encode_mb_s = frame_mb / encode_cpu_s;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bound_fps = cores as f64 * encode_mb_s / frame_mb;
    // The bound's encoder is not part of the capture: its memory must not count in its RSS.
    drop((enc, out));

    let dir = tempfile::tempdir().unwrap();
    let mut w = WriterConfig::new(dir.path());
    w.budget.reserve_bytes = 0;
    w.budget.ring_bytes = Some(2 << 30);
    let mut cfg = CaptureConfig::new(w);
    // Experiments: `CAPTURE_BENCH_BUFFERS=3 CAPTURE_BENCH_WORKERS=2 cargo bench ...`.
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    cfg.buffers = knob("CAPTURE_BENCH_BUFFERS").unwrap_or(cfg.buffers);
    cfg.workers = knob("CAPTURE_BENCH_WORKERS").unwrap_or(cfg.workers);
    let (workers, buffers) = (cfg.workers, cfg.buffers);
    let source = Box::new(Cycling {
        format,
        frames: rendered,
        next: 0,
        limit: frames,
    });
    // Reset the peak-RSS counter so the figure is the capture's, not the rendering's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    let counters = Arc::new(Counters::default());
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(Arc::clone(&sampling));
    let cpu_before = cpu_s(ClockId::ProcessCPUTime);
    let s = capture::run(source, cfg, Arc::new(AtomicBool::new(false)), counters).unwrap();
    let peak = status_kib("VmHWM:");
    let cpu_per_frame = (cpu_s(ClockId::ProcessCPUTime) - cpu_before) / s.written.max(1) as f64;
    sampling.store(true, Ordering::Relaxed);
    let (peak_anon, peak_file) = sampler.join().unwrap_or((0, 0));
    let fps = s.written as f64 / s.elapsed_s;
    println!(
        "capture/hq-12bit: {} frames of {frame_mb:.1} MB in {:.2} s ({} workers, {} buffers)",
        s.written, s.elapsed_s, workers, buffers
    );
    println!(
        "  sustained            {fps:.1} frames/s ({:.0} MB/s)",
        fps * frame_mb
    );
    println!(
        "  compression bound    {bound_fps:.1} frames/s ({cores} cores x {encode_mb_s:.0} MB/s single-core encode) -> {:.0}% of the bound",
        100.0 * fps / bound_fps
    );
    println!(
        "  CPU per frame        {:.1} ms, all threads (encode alone {:.1} ms): a quiet machine allows {:.0}% of the bound",
        cpu_per_frame * 1e3,
        encode_cpu_s * 1e3,
        100.0 * encode_cpu_s / cpu_per_frame
    );
    println!(
        "  hand-off p50/p99     {} / {} us",
        s.handoff_p50_us, s.handoff_p99_us
    );
    println!(
        "  peak RSS             {:.0} MiB (of which {:.0} MiB held before the run: the 2 source frames)",
        peak as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!(
        "  sampled peaks        {:.0} MiB anonymous, {:.0} MiB file-backed (program and libraries: records are written with pwrite or O_DIRECT, not mapped)",
        peak_anon as f64 / 1024.0,
        peak_file as f64 / 1024.0
    );
    println!(
        "  compression ratio    {:.2}:1",
        s.writer.raw_bytes as f64 / s.writer.stored_bytes.max(1) as f64
    );
}
