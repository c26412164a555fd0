//! Tests of the simulated camera: determinism, formats, sky physics, faults, pacing.

use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use super::*;
use nightcap_frame::pixels::{max_for_depth, to_image16, Image16};
use nightcap_frame::Packing;

fn cfg(sensor: SensorPreset, seed: u64) -> SimConfig {
    SimConfig {
        sensor,
        seed,
        speed: 0.0,
        ..SimConfig::default()
    }
}

fn frame(config: &SimConfig, index: u64) -> (Vec<u8>, FrameMeta) {
    let mut buf = Vec::new();
    let meta = SimSky::render(config, index, &mut buf);
    (buf, meta)
}

fn image(config: &SimConfig, index: u64) -> Image16 {
    let (buf, _) = frame(config, index);
    to_image16(&config.format(), &buf).unwrap()
}

#[test]
fn render_is_deterministic_and_frames_differ() {
    let c = cfg(SensorPreset::Tiny, 5);
    let (a, meta_a) = frame(&c, 17);
    let (b, meta_b) = frame(&c, 17);
    assert_eq!(a, b);
    assert_eq!(meta_a, meta_b);
    assert_ne!(a, frame(&c, 18).0, "noise differs between frames");
    assert_ne!(a, frame(&cfg(SensorPreset::Tiny, 6), 17).0, "seeds differ");
}

#[test]
fn metadata_follows_the_virtual_clock() {
    let c = SimConfig {
        faults: FaultPlan::parse("skip@3:2").unwrap(),
        ..cfg(SensorPreset::Tiny, 1)
    };
    let period = 5_020_000_000i64;
    for index in [0u64, 1, 2, 3, 4, 1000] {
        let m = c.frame_meta(index);
        assert_eq!(m.time_utc_ns, c.start_utc_ns + index as i64 * period);
        assert_eq!((m.exposure_us, m.gain_milli, m.seq), (5_000_000, 4000, 0));
        let skips = if index >= 3 { 2 } else { 0 };
        assert_eq!(u64::from(m.driver_seq), index + skips);
        assert_eq!(m.driver_ts_ns, 1_005_000_000_000 + index * period as u64);
        assert_eq!(c.index_of(&m), Some(index));
    }
    assert_eq!(frame(&c, 4).1, c.frame_meta(4));
}

#[test]
fn every_preset_delivers_its_declared_format() {
    for name in SensorPreset::names() {
        let preset = SensorPreset::from_name(name).unwrap();
        let c = cfg(preset, 2);
        let f = preset.format();
        let (buf, _) = frame(&c, 0);
        assert_eq!(buf.len() as u64, f.max_frame_bytes(), "{name}");
        let line = f.packing.line_bytes(f.width).unwrap() as usize;
        for row in buf.chunks(f.stride as usize) {
            assert!(row[line..].iter().all(|&b| b == 0), "{name}: padding zero");
        }
        let img = to_image16(&f, &buf).unwrap();
        let max = max_for_depth(f.bit_depth);
        assert!(
            img.data.iter().all(|&v| v <= max),
            "{name}: within bit depth"
        );
        // Light pollution is orange: red above blue in the sky background.
        let (r, b) = channel_medians(&img);
        assert!(r > b, "{name}: red {r} vs blue {b}");
        if f.packing != Packing::Yuyv {
            let black = preset.model().black_adu as u16;
            assert!(b > black, "{name}: sky above black level {black}");
        }
    }
}

/// Medians of red and blue samples (CFA mosaic or RGB).
fn channel_medians(img: &Image16) -> (u16, u16) {
    let w = img.width as usize;
    let mut per: [Vec<u16>; 3] = Default::default();
    if img.channels == 3 {
        for px in img.data.chunks_exact(3) {
            (0..3).for_each(|c| per[c].push(px[c]));
        }
    } else {
        for (i, &v) in img.data.iter().enumerate() {
            per[img.cfa.colour_at(i % w, i / w).unwrap()].push(v);
        }
    }
    let median = |v: &mut Vec<u16>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    (median(&mut per[0]), median(&mut per[2]))
}

#[test]
fn next_frame_delivers_the_rendered_frames_then_ends() {
    let c = SimConfig {
        frames: Some(5),
        ..cfg(SensorPreset::Tiny, 9)
    };
    let mut sim = SimSky::new(c.clone()).unwrap();
    assert_eq!(sim.format(), SensorPreset::Tiny.format());
    let mut buf = Vec::new();
    for index in 0..5 {
        let meta = sim.next_frame(&mut buf).unwrap();
        let (want, want_meta) = frame(&c, index);
        assert_eq!(meta, want_meta);
        assert_eq!(buf, want, "frame {index}");
    }
    assert!(matches!(sim.next_frame(&mut buf), Err(SourceError::Ended)));
    assert!(matches!(sim.next_frame(&mut buf), Err(SourceError::Ended)));
    assert_eq!(sim.dropped(), 0);
    assert!(sim.describe().contains("tiny"));
}

/// Intensity-weighted centroid of the light above the local background near `at`.
fn centroid(img: &Image16, at: (f64, f64)) -> (f64, f64) {
    let w = img.width as i64;
    let (cx, cy) = (at.0.round() as i64, at.1.round() as i64);
    let px = |x: i64, y: i64| f64::from(img.data[(y * w + x) as usize]);
    let bg = ring_median(img, &at);
    let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
    for y in cy - 5..=cy + 5 {
        for x in cx - 5..=cx + 5 {
            let v = (px(x, y) - bg - 30.0).max(0.0);
            sx += v * x as f64;
            sy += v * y as f64;
            s += v;
        }
    }
    assert!(s > 0.0, "no star light near {at:?}");
    (sx / s, sy / s)
}

#[test]
fn stars_turn_about_the_pole_at_the_sidereal_rate() {
    let hour = 720u64;
    let (c, sky, star) = bright_star_config(hour);
    let pole = sky.pole();
    let angle = |p: (f64, f64)| (p.1 - pole.1).atan2(p.0 - pole.0);
    let (a, b) = (image(&c, 0), image(&c, hour));
    let (p0, p1) = (
        centroid(&a, sky.star_position(&star, 0)),
        centroid(&b, sky.star_position(&star, hour)),
    );
    let turned = (angle(p1) - angle(p0) + TAU / 2.0).rem_euclid(TAU) - TAU / 2.0;
    let elapsed_s = (c.frame_meta(hour).time_utc_ns - c.frame_meta(0).time_utc_ns) as f64 / 1e9;
    // Counter-clockwise on the image (y down): the angle decreases.
    let want = -TAU * elapsed_s / 86_164.1;
    assert!(
        (turned - want).abs() < 0.6f64.to_radians(),
        "turned {:.3}° want {:.3}°",
        turned.to_degrees(),
        want.to_degrees()
    );
    let dist = |p: (f64, f64)| (p.0 - pole.0).hypot(p.1 - pole.1);
    assert!((dist(p0) - dist(p1)).abs() < 1.0, "stays on its circle");
}

/// A `Small` config (the first seed that works) with a bright, isolated star that stays
/// in frame from frame 0 to frame `later`.
fn bright_star_config(later: u64) -> (SimConfig, Sky, Star) {
    (1..40)
        .find_map(|seed| {
            let c = cfg(SensorPreset::Small, seed);
            let sky = Sky::new(&c);
            let star = usable_bright_star(&sky, later)?;
            Some((c, sky, star))
        })
        .expect("some seed has a bright isolated star")
}

/// The brightest star that is inside the frame (with a margin) at frames 0 and `later`,
/// far from the pole, with no other notable star or hot pixel next to it.
fn usable_bright_star(sky: &Sky, later: u64) -> Option<Star> {
    let f = SensorPreset::Small.format();
    let inside = |p: (f64, f64)| {
        p.0 > 12.0
            && p.1 > 12.0
            && p.0 < f64::from(f.width) - 12.0
            && p.1 < f64::from(f.height) - 12.0
    };
    let mut stars = sky.stars().to_vec();
    stars.sort_by(|a, b| a.mag.total_cmp(&b.mag));
    let hot = sky.hot_pixels();
    stars.iter().take(3).copied().find(|s| {
        let at = [sky.star_position(s, 0), sky.star_position(s, later)];
        let clear = |p: (f64, f64)| {
            let near = |q: (f64, f64)| (p.0 - q.0).hypot(p.1 - q.1) < 12.0;
            inside(p)
                && sky.stars().iter().filter(|o| o.mag < s.mag + 4.0).all(|o| {
                    o == s || !near(sky.star_position(o, 0)) && !near(sky.star_position(o, later))
                })
                && hot.iter().all(|&(x, y, _)| !near((x as f64, y as f64)))
        };
        s.radius > 60.0 && s.mag < 7.0 && at.into_iter().all(clear)
    })
}

#[test]
fn hot_pixels_are_the_same_in_every_frame() {
    let c = cfg(SensorPreset::Small, 4);
    let sky = Sky::new(&c);
    let strong: Vec<(usize, usize, f32)> = sky
        .hot_pixels()
        .into_iter()
        .filter(|&(_, _, e)| e > 1500.0)
        .collect();
    assert!(!strong.is_empty());
    let frames: Vec<Image16> = [0, 1, 300, 720].iter().map(|&i| image(&c, i)).collect();
    for &(x, y, e) in &strong {
        let values: Vec<u16> = frames.iter().map(|img| img.data[y * 320 + x]).collect();
        // 1 ADU per electron at gain 4, on top of black and sky.
        let floor = (256.0 + 0.8 * e).min(4000.0) as u16;
        assert!(
            values.iter().all(|&v| v >= floor),
            "hot ({x},{y}) {e} e: {values:?}"
        );
    }
}

#[test]
fn a_max_stack_over_an_hour_shows_trails() {
    let (c, sky, star) = bright_star_config(720);
    let first = image(&c, 0);
    let mut max = first.clone();
    let sampled: Vec<u64> = (30..=720).step_by(30).collect();
    for &index in &sampled {
        let img = image(&c, index);
        max.data
            .iter_mut()
            .zip(&img.data)
            .for_each(|(m, &v)| *m = (*m).max(v));
    }
    let bright = |img: &Image16| img.data.iter().filter(|&&v| v > 1500).count();
    let (one, stacked) = (bright(&first), bright(&max));
    assert!(one > 0, "stars visible in one frame");
    assert!(
        stacked > one,
        "{stacked} bright pixels vs {one} in one frame"
    );
    // Along the star's arc, away from where it was in frame 0: dark in frame 0, lit in
    // the stack.
    let start = sky.star_position(&star, 0);
    let (w, h) = (f64::from(first.width), f64::from(first.height));
    let arc: Vec<(f64, f64)> = sampled
        .iter()
        .map(|&i| sky.star_position(&star, i))
        .filter(|p| (p.0 - start.0).hypot(p.1 - start.1) > 8.0)
        .filter(|p| p.0 > 10.0 && p.1 > 10.0 && p.0 < w - 10.0 && p.1 < h - 10.0)
        .collect();
    assert!(arc.len() >= 10, "the star travels: {} samples", arc.len());
    let on_trail = arc
        .iter()
        .filter(|p| {
            let bg = ring_median(&first, p);
            let at = |img: &Image16| f64::from(img.data[pixel_index(img, p)]);
            at(&first) < bg + 80.0 && at(&max) > bg + 150.0
        })
        .count();
    assert!(
        on_trail * 10 >= arc.len() * 9,
        "{on_trail} of {} arc points lit",
        arc.len()
    );
}

fn pixel_index(img: &Image16, p: &(f64, f64)) -> usize {
    p.1.round() as usize * img.width as usize + p.0.round() as usize
}

/// Median of the pixels of the same CFA colour on a square ring of radius 10 around
/// `at`: the local sky under that pixel's filter.
fn ring_median(img: &Image16, at: &(f64, f64)) -> f64 {
    let w = img.width as i64;
    let (cx, cy) = (at.0.round() as i64, at.1.round() as i64);
    let mut ring: Vec<f64> = (-5..=5)
        .map(|d| 2 * d)
        .flat_map(|d| [(d, -10), (d, 10), (-10, d), (10, d)])
        .map(|(dx, dy)| f64::from(img.data[((cy + dy) * w + cx + dx) as usize]))
        .collect();
    ring.sort_by(f64::total_cmp);
    ring[ring.len() / 2]
}

#[test]
fn transients_appear_at_plausible_rates() {
    let sky = Sky::new(&cfg(SensorPreset::Imx477, 11));
    let (mut meteors, mut satellite_frames, mut plane_frames) = (0, 0, 0);
    for index in 0..7200 {
        let t = sky.transients_in(index);
        let has = |k: Transient| t.contains(&k);
        meteors += usize::from(has(Transient::Meteor));
        satellite_frames += usize::from(has(Transient::Satellite));
        plane_frames += usize::from(has(Transient::Plane));
    }
    // Ten hours: about 60 meteors; satellites every few slots, each over several frames.
    assert!((20..=150).contains(&meteors), "{meteors} meteors");
    assert!(
        satellite_frames > 50,
        "{satellite_frames} frames with satellites"
    );
    assert!(plane_frames > 10, "{plane_frames} frames with planes");
    // A satellite crossing spans consecutive frames.
    let runs = (0..7199).filter(|&i| {
        let sat = |i| sky.transients_in(i).contains(&Transient::Satellite);
        sat(i) && sat(i + 1)
    });
    assert!(runs.count() > 20);
}

#[test]
fn clouds_brighten_the_sky_and_hide_stars() {
    let clear = cfg(SensorPreset::Small, 8);
    let cloudy = SimConfig {
        clouds: true,
        ..clear.clone()
    };
    assert_eq!(frame(&cloudy, 3).0, frame(&cloudy, 3).0, "deterministic");
    let mean =
        |img: &Image16| img.data.iter().map(|&v| f64::from(v)).sum::<f64>() / img.data.len() as f64;
    let brighter = (0..40u64).map(|i| i * 60).any(|i| {
        let (a, b) = (image(&clear, i), image(&cloudy, i));
        mean(&b) > 1.1 * mean(&a)
    });
    assert!(brighter, "some frame of the night is cloudy");
}

#[test]
fn faults_produce_the_documented_errors() {
    let c = SimConfig {
        frames: Some(10),
        faults: FaultPlan::parse("timeout@1,skip@2:3,error@3,gone@5:2").unwrap(),
        ..cfg(SensorPreset::Tiny, 1)
    };
    let mut sim = SimSky::new(c.clone()).unwrap();
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for _ in 0..11 {
        got.push(match sim.next_frame(&mut buf) {
            Ok(meta) => {
                assert_eq!(buf, frame(&c, c.index_of(&meta).unwrap()).0);
                format!("frame {}", meta.driver_seq)
            }
            Err(SourceError::Timeout { .. }) => "timeout".into(),
            Err(SourceError::CorruptBuffer { driver_seq }) => format!("corrupt {driver_seq}"),
            Err(SourceError::DeviceGone { .. }) => "gone".into(),
            Err(SourceError::Ended) => "ended".into(),
            Err(e) => panic!("unexpected {e}"),
        });
    }
    let want = [
        "frame 0",
        "timeout",
        "frame 5",
        "corrupt 6",
        "frame 7",
        "gone",
        "gone",
        "frame 10",
        "frame 11",
        "frame 12",
        "ended",
    ];
    assert_eq!(got, want);
}

#[test]
fn speed_zero_never_drops_even_for_a_slow_consumer() {
    let c = SimConfig {
        frames: Some(12),
        ..cfg(SensorPreset::Tiny, 2)
    };
    let mut sim = SimSky::new(c).unwrap();
    let mut buf = Vec::new();
    for want in 0..12u32 {
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(sim.next_frame(&mut buf).unwrap().driver_seq, want);
    }
    assert_eq!(sim.dropped(), 0);
}

#[test]
fn paced_frames_keep_to_the_virtual_clock() {
    // 1 s frames at 100x: one frame per 10 ms of real time.
    let c = SimConfig {
        exposure_us: 1_000_000,
        frame_gap_us: 0,
        speed: 100.0,
        ..cfg(SensorPreset::Tiny, 3)
    };
    let started = Instant::now();
    let mut sim = SimSky::new(c).unwrap();
    let mut buf = Vec::new();
    for want in 0..5u32 {
        assert_eq!(sim.next_frame(&mut buf).unwrap().driver_seq, want);
    }
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn a_slow_consumer_loses_frames_like_a_driver() {
    // 1 ms frames in real time; the consumer takes 25 ms per frame.
    let c = SimConfig {
        exposure_us: 1000,
        frame_gap_us: 0,
        speed: 1.0,
        ..cfg(SensorPreset::Tiny, 4)
    };
    let mut sim = SimSky::new(c.clone()).unwrap();
    let mut buf = Vec::new();
    let mut seqs = Vec::new();
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(25));
        let meta = sim.next_frame(&mut buf).unwrap();
        let index = c.index_of(&meta).unwrap();
        assert_eq!(u64::from(meta.driver_seq), index);
        assert_eq!(buf, frame(&c, index).0, "a delivered frame is intact");
        seqs.push(meta.driver_seq);
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "in order: {seqs:?}");
    assert!(
        seqs.windows(2).any(|w| w[1] > w[0] + 1),
        "sequence gaps: {seqs:?}"
    );
    assert!(sim.dropped() > 0);
}

#[test]
fn dropping_stops_the_camera_promptly() {
    // A one-minute real-time exposure is in progress when the camera is dropped.
    let c = SimConfig {
        exposure_us: 60_000_000,
        speed: 1.0,
        ..cfg(SensorPreset::Small, 5)
    };
    let sim = SimSky::new(c).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    drop(sim);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn invalid_configs_are_refused() {
    let bad_speed = SimConfig {
        speed: -1.0,
        ..SimConfig::default()
    };
    assert!(matches!(
        SimSky::new(bad_speed),
        Err(SimError::Speed { .. })
    ));
    let nan = SimConfig {
        speed: f64::NAN,
        ..SimConfig::default()
    };
    assert!(matches!(SimSky::new(nan), Err(SimError::Speed { .. })));
    let zero = SimConfig {
        exposure_us: 0,
        ..SimConfig::default()
    };
    assert!(matches!(
        SimSky::new(zero),
        Err(SimError::Exposure { exposure_us: 0 })
    ));
}

#[test]
fn labels_tell_each_event_and_the_frames_it_crosses() {
    let c = SimConfig {
        rates: Rates {
            meteors_per_hour: 120.0,
            satellites_per_hour: 20.0,
            planes_per_hour: 6.0,
            others_per_hour: 0.0,
        },
        ..cfg(SensorPreset::Imx477, 5)
    };
    let labels = SimSky::labels(&c, 0..1440); // two hours
    let of = |class: &str| {
        labels
            .iter()
            .filter(|l| l.class == class)
            .collect::<Vec<_>>()
    };
    let (meteors, satellites, planes) = (of("meteor"), of("satellite"), of("plane"));
    assert!(
        (160..=320).contains(&meteors.len()),
        "{} meteors",
        meteors.len()
    );
    assert!(
        satellites.len() >= 20 && planes.len() >= 4,
        "{} {}",
        satellites.len(),
        planes.len()
    );
    // Meteors last under a second: one frame, or two when they straddle a boundary.
    assert!(meteors.iter().all(|m| (1..=2).contains(&m.frames.len())));
    let straddling = meteors.iter().filter(|m| m.frames.len() == 2).count();
    assert!(straddling > 0, "some meteors cross into the next exposure");
    // Satellites and planes take tens of seconds: many consecutive frames.
    for l in satellites.iter().chain(&planes) {
        assert!(l.frames.len() >= 5, "{l:?}");
        assert!(
            l.frames.windows(2).all(|p| p[1].index == p[0].index + 1),
            "{l:?}"
        );
    }
    // Labels agree with what is drawn, frame by frame, and their times are the frames'.
    for l in labels.iter().take(40) {
        for f in &l.frames {
            assert!(
                SimSky::streaks(&c, f.index).contains(&(f.from, f.to)),
                "{l:?}"
            );
            assert_eq!(f.start_utc_ns, c.frame_meta(f.index).time_utc_ns);
        }
    }
    assert!(labels.iter().all(|l| l.snr > 0.0));
    // A straddling meteor's two pieces join: the first ends where the second starts,
    // less the flight during the dead time between the exposures.
    let m = meteors.iter().find(|m| m.frames.len() == 2).unwrap();
    let (a, b) = (&m.frames[0], &m.frames[1]);
    let gap = (b.from.0 - a.to.0).hypot(b.from.1 - a.to.1);
    let len =
        (a.to.0 - a.from.0).hypot(a.to.1 - a.from.1) + (b.to.0 - b.from.0).hypot(b.to.1 - b.from.1);
    assert!(gap < len * 0.2, "gap {gap} against {len}");
}

#[test]
fn a_plane_shows_red_and_green_lights_a_wingspan_apart() {
    let c = SimConfig {
        rates: Rates {
            meteors_per_hour: 0.0,
            satellites_per_hour: 0.0,
            planes_per_hour: 30.0,
            others_per_hour: 0.0,
        },
        ..cfg(SensorPreset::Imx477, 9)
    };
    let labels = SimSky::labels(&c, 0..400);
    let plane = labels
        .iter()
        .find(|l| l.class == "plane" && l.frames.len() > 3)
        .unwrap();
    let index = plane.frames[2].index;
    let streaks = SimSky::streaks(&c, index);
    // Two long parallel lines (the navigation lights) and a strobe flash per second.
    let long: Vec<_> = streaks
        .iter()
        .filter(|(a, b)| (b.0 - a.0).hypot(b.1 - a.1) > 40.0)
        .collect();
    assert!(long.len() >= 2, "{streaks:?}");
    let apart = (long[0].0 .0 - long[1].0 .0).hypot(long[0].0 .1 - long[1].0 .1);
    assert!((6.0..=12.5).contains(&apart), "{apart}");
    assert!(
        streaks.len() >= 2 + 4,
        "strobes every second in a 5 s exposure: {streaks:?}"
    );
}

#[test]
fn an_insect_near_the_lens_is_a_curved_blurred_path_labelled_other() {
    let c = SimConfig {
        rates: Rates {
            meteors_per_hour: 0.0,
            satellites_per_hour: 0.0,
            planes_per_hour: 0.0,
            others_per_hour: 60.0,
        },
        ..cfg(SensorPreset::Small, 4)
    };
    let labels = SimSky::labels(&c, 0..200);
    let others: Vec<_> = labels.iter().filter(|l| l.class == "other").collect();
    assert!(others.len() >= 5, "{} in 200 frames at 60/h", others.len());
    assert!(
        others.iter().all(|l| l.frames.len() <= 2),
        "0.5-3 s: a frame or two"
    );
    // Its pieces in a frame do not lie on one line (it bends), and its light is spread
    // wider than a star's: the brightest pixel holds a smaller share of it.
    let l = others.iter().find(|l| l.snr > 10.0).expect("a visible one");
    let index = l.frames[0].index;
    let pieces = SimSky::streaks(&c, index);
    assert!(pieces.len() >= 3, "{pieces:?}");
    let dir = |p: &((f64, f64), (f64, f64))| (p.1 .1 - p.0 .1).atan2(p.1 .0 - p.0 .0);
    let turn = (dir(&pieces[0]) - dir(&pieces[pieces.len() - 1])).abs();
    assert!(turn > 0.05, "the path bends: {turn} rad");
    let with = image(&c, index);
    let without = image(
        &SimConfig {
            rates: Rates {
                others_per_hour: 0.0,
                ..c.rates
            },
            ..c.clone()
        },
        index,
    );
    let excess: Vec<f64> = with
        .data
        .iter()
        .zip(&without.data)
        .map(|(&a, &b)| f64::from(a) - f64::from(b))
        .collect();
    let lit = excess.iter().filter(|&&e| e > 20.0).count();
    assert!(lit > 100, "a broad path: {lit} pixels lit");
}
