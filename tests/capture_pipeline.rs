//! The capture pipeline with a scripted source: order, back-pressure, gaps, shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nightcap::capture::pipeline::CameraLost;
use nightcap::capture::{self, CaptureConfig, CaptureError, Counters, StopReason};
use nightcap_frame::{Cfa, FrameMeta, Packing, PixelFormat};
use nightcap_journal::codec::Decoder;
use nightcap_journal::{GapReason, Journal, WriterConfig};
use nightcap_source::{FrameSource, SourceError};

const FMT: PixelFormat = PixelFormat {
    fourcc: *b"RG12",
    width: 128,
    height: 64,
    stride: 256,
    bit_depth: 12,
    cfa: Cfa::Rggb,
    packing: Packing::U16Le,
};

fn frame(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..FMT.max_frame_bytes() / 2)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((200 + (x % 64)) as u16).to_le_bytes()
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Step {
    Frame,
    Timeout,
    Corrupt,
    Gone,
    SkipDriver(u32),
    /// The source's watchdog restarted the stream after a stall; its driver sequence
    /// starts again at 0.
    Restarted,
}

/// Frames at 5 s intervals following a script; `Ended` after it.
struct Scripted {
    script: Vec<Step>,
    at: usize,
    index: u64,
    driver_seq: u32,
    delay: Duration,
    live: bool,
}

impl Scripted {
    fn new(script: Vec<Step>) -> Box<Scripted> {
        Box::new(Scripted {
            script,
            at: 0,
            index: 0,
            driver_seq: 0,
            delay: Duration::ZERO,
            live: false,
        })
    }
}

impl FrameSource for Scripted {
    fn format(&self) -> PixelFormat {
        FMT
    }

    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<FrameMeta, SourceError> {
        std::thread::sleep(self.delay);
        let step = *self.script.get(self.at).ok_or(SourceError::Ended)?;
        self.at += 1;
        let i = self.index;
        self.index += 1;
        match step {
            Step::Timeout => return Err(SourceError::Timeout { timeout_ms: 1 }),
            Step::Corrupt => {
                self.driver_seq += 1;
                return Err(SourceError::CorruptBuffer {
                    driver_seq: self.driver_seq - 1,
                });
            }
            Step::Gone => {
                return Err(SourceError::DeviceGone {
                    device: "test".into(),
                    reason: "unplugged".into(),
                })
            }
            Step::Restarted => {
                self.driver_seq = 0;
                return Err(SourceError::Restarted {
                    cause: "no frame within 2.4 s".into(),
                    timed_out: true,
                    action: nightcap_source::Restart::Stream,
                    restart: 1,
                });
            }
            Step::SkipDriver(n) => self.driver_seq += n,
            Step::Frame => {}
        }
        buf.clear();
        buf.extend_from_slice(&frame(i));
        self.driver_seq += 1;
        Ok(FrameMeta {
            time_utc_ns: 1_795_999_500_000_000_000 + i as i64 * 5_000_000_000,
            exposure_us: 4_900_000,
            gain_milli: 1000,
            driver_seq: self.driver_seq - 1,
            driver_ts_ns: i * 5_000_000_000,
            seq: 0,
        })
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn describe(&self) -> String {
        "scripted test source".into()
    }
}

fn config(dir: &std::path::Path) -> CaptureConfig {
    let mut w = WriterConfig::new(dir);
    w.budget.reserve_bytes = 0;
    let mut c = CaptureConfig::new(w);
    c.workers = 2;
    c.buffers = 4;
    c.retry_pause = Duration::from_millis(1);
    c
}

fn read(dir: &std::path::Path) -> Vec<(FrameMeta, Vec<u8>)> {
    let j = Journal::open(dir).unwrap();
    assert!(j.all_damage().is_empty(), "{:?}", j.all_damage());
    let mut dec = Decoder::new();
    let mut s = Vec::new();
    j.frames()
        .iter()
        .map(|r| {
            let f = j.read_frame(r, &mut dec, &mut s).unwrap();
            (f.meta, f.data)
        })
        .collect()
}

#[test]
fn frames_arrive_in_capture_order_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let counters = Arc::new(Counters::default());
    let s = capture::run(
        Scripted::new(vec![Step::Frame; 40]),
        config(dir.path()),
        Arc::default(),
        Arc::clone(&counters),
    )
    .unwrap();
    assert_eq!(s.stop, StopReason::SourceEnded);
    assert_eq!((s.captured, s.written, s.dropped), (40, 40, 0));
    // A source that waits for the pipeline never makes it trade compression for speed.
    assert_eq!(counters.cheapest_level.load(Ordering::Relaxed), 1);
    let got = read(dir.path());
    assert_eq!(got.len(), 40);
    for (i, (m, data)) in got.iter().enumerate() {
        assert_eq!(m.seq, i as u64);
        assert_eq!(
            m.time_utc_ns,
            1_795_999_500_000_000_000 + i as i64 * 5_000_000_000
        );
        assert_eq!(data, &frame(i as u64), "frame {i}");
    }
}

#[test]
fn frame_and_time_limits_stop_capture() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.frames = Some(7);
    let s = capture::run(
        Scripted::new(vec![Step::Frame; 40]),
        c,
        Arc::default(),
        Arc::default(),
    )
    .unwrap();
    assert_eq!((s.stop, s.written), (StopReason::FrameLimit, 7));

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.run_for_ns = Some(60_000_000_000);
    let s = capture::run(
        Scripted::new(vec![Step::Frame; 40]),
        c,
        Arc::default(),
        Arc::default(),
    )
    .unwrap();
    assert_eq!(
        (s.stop, s.written),
        (StopReason::TimeLimit, 12),
        "frames starting in the first minute"
    );
}

#[test]
fn a_slow_writer_makes_the_pipeline_drop_with_gap_records_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    let mut src = Scripted::new(vec![Step::Frame; 60]);
    src.live = true;
    c.buffers = 2;
    c.workers = 1;
    c.writer.zstd_level = 3;
    c.throttle = Some(Duration::from_millis(30));
    let counters = Arc::new(Counters::default());
    let s = capture::run(src, c, Arc::default(), Arc::clone(&counters)).unwrap();
    assert_eq!(
        s.captured, 60,
        "the source was never blocked: it delivered all its frames"
    );
    assert!(
        s.dropped > 0,
        "a writer 30 ms per frame behind an instant camera must drop"
    );
    assert_eq!(s.written + s.dropped, 60);
    let got = read(dir.path());
    assert_eq!(got.len() as u64, s.written);
    // Every frame that was written is the right one, at the right time.
    for (m, data) in &got {
        let i = ((m.time_utc_ns - 1_795_999_500_000_000_000) / 5_000_000_000) as u64;
        assert_eq!(data, &frame(i));
    }
    // The dropped frames are all accounted for by GAP records saying why.
    let (gaps, _) = Journal::open(dir.path()).unwrap().gaps();
    assert!(gaps.iter().all(|g| g.reason == GapReason::WriterBehind));
    assert_eq!(gaps.iter().map(|g| g.count).sum::<u64>(), s.dropped);
    // And the compression level went down the ladder before dropping.
    assert_ne!(counters.cheapest_level.load(Ordering::Relaxed), 3);
}

#[test]
fn camera_faults_become_gap_records_with_reasons() {
    use Step::*;
    let dir = tempfile::tempdir().unwrap();
    let script = vec![
        Frame,
        Frame,
        Timeout,
        Timeout,
        Frame,
        Corrupt,
        Frame,
        Gone,
        Gone,
        Gone,
        Frame,
        SkipDriver(3),
        Frame,
    ];
    let s = capture::run(
        Scripted::new(script),
        config(dir.path()),
        Arc::default(),
        Arc::default(),
    )
    .unwrap();
    assert_eq!(s.written, 7);
    let (gaps, _) = Journal::open(dir.path()).unwrap().gaps();
    let reasons: Vec<(GapReason, u64)> = gaps.iter().map(|g| (g.reason, g.count)).collect();
    assert_eq!(
        reasons,
        vec![
            (GapReason::Timeout, 0),
            (GapReason::CorruptBuffer, 1),
            (GapReason::CameraGone, 0),
            (GapReason::DriverSkip, 3),
        ]
    );
    for g in &gaps {
        assert!(g.end_ns >= g.start_ns, "{g:?}");
    }
}

#[test]
fn the_stop_flag_ends_capture_with_a_sealed_journal() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut src = Scripted::new(vec![Step::Frame; 10_000]);
    src.delay = Duration::from_millis(2);
    let flag = Arc::clone(&stop);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        flag.store(true, Ordering::Relaxed);
    });
    let s = capture::run(src, config(dir.path()), stop, Arc::default()).unwrap();
    t.join().unwrap();
    assert_eq!(s.stop, StopReason::Stopped);
    assert!(s.written > 0 && s.written < 10_000);
    let active = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "active")
        })
        .count();
    assert_eq!(active, 0, "everything sealed");
    assert_eq!(read(dir.path()).len() as u64, s.written);
}

#[test]
fn every_watchdog_restart_is_a_gap_of_its_own_and_a_logged_error() {
    use Step::*;
    let dir = tempfile::tempdir().unwrap();
    // A stall, two restarts in a row (the second after a timeout), frames again.
    let script = vec![Frame, Frame, Restarted, Timeout, Restarted, Frame, Frame];
    let said = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut cfg = config(dir.path());
    let log = Arc::clone(&said);
    cfg.on_source_error = Some(Arc::new(move |e: &SourceError| {
        log.lock().unwrap().push(e.to_string());
    }));
    let s = capture::run(Scripted::new(script), cfg, Arc::default(), Arc::default()).unwrap();
    assert_eq!((s.written, s.restarts), (4, 2));
    let (gaps, _) = Journal::open(dir.path()).unwrap().gaps();
    let got: Vec<(GapReason, u64, &str)> = gaps
        .iter()
        .map(|g| (g.reason, g.count, g.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                GapReason::Timeout,
                0,
                "no frame within 2.4 s: restarted the stream (restart 1)"
            ),
            (
                GapReason::Timeout,
                0,
                "no frame within 1 ms; then no frame within 2.4 s: restarted the stream (restart 1)"
            ),
        ]
    );
    // The restarted stream's sequence starting again is no driver skip.
    assert!(gaps.iter().all(|g| g.reason != GapReason::DriverSkip));
    assert_eq!(said.lock().unwrap().len(), 3, "one line per error");
    assert_eq!(read(dir.path()).len(), 4);
}

#[test]
fn a_lost_camera_stops_capture_when_asked_with_everything_sealed() {
    use Step::*;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.camera_lost = CameraLost::Stop;
    let err = capture::run(
        Scripted::new(vec![Frame, Frame, Frame, Gone, Frame]),
        cfg,
        Arc::default(),
        Arc::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, CaptureError::Source(SourceError::DeviceGone { .. })),
        "{err}"
    );
    assert_eq!(read(dir.path()).len(), 3, "the frames before are kept");
    let (gaps, _) = Journal::open(dir.path()).unwrap().gaps();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].reason, GapReason::CameraGone);
    // The default waits for the camera and carries on.
    let dir = tempfile::tempdir().unwrap();
    let s = capture::run(
        Scripted::new(vec![Frame, Gone, Gone, Frame]),
        config(dir.path()),
        Arc::default(),
        Arc::default(),
    )
    .unwrap();
    assert_eq!(s.written, 2);
}
