//! `trails --fill-gaps` on a simulated night with long dead time (a 5 s exposure every
//! four minutes, so each star leaves a dash and a long gap), measured against the simulated
//! sky's truth: where every bright star was while the shutter was closed.

mod support;

use std::path::Path;
use std::time::Instant;

use nightcap_frame::pixels::Image16;
use nightcap_journal::{JournalWriter, WriterConfig};
use nightcap_source::sim::{SensorPreset, SimConfig, SimSky};
use nightcap_stack::output::fits::read_fits;
use support::{printed, run};

const FRAMES: u64 = 10;

fn config() -> SimConfig {
    SimConfig {
        sensor: SensorPreset::Ov5647,
        seed: 3,
        speed: 0.0,
        exposure_us: 5_000_000,
        // A frame every four minutes: 235 s of every 240 s the shutter is closed.
        frame_gap_us: 235_000_000,
        ..SimConfig::default()
    }
}

fn night(dir: &Path) {
    let cfg = config();
    let mut w = WriterConfig::new(dir);
    w.budget.reserve_bytes = 0;
    let mut writer = JournalWriter::open(w, cfg.sensor.format()).unwrap();
    let mut buf = Vec::new();
    for i in 0..FRAMES {
        let meta = SimSky::render(&cfg, i, &mut buf);
        writer.append_frame(&meta, &buf).unwrap();
    }
    writer.close().unwrap();
}

/// The brightest sample within two pixels of (`x`, `y`) (a drawn arc steps through
/// samples of its star's colour, which in a mosaic are two pixels apart).
fn near(img: &Image16, x: f64, y: f64) -> u16 {
    let (w, h) = (img.width as i64, img.height as i64);
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    let mut m = 0;
    for yy in cy - 2..=cy + 2 {
        for xx in cx - 2..=cx + 2 {
            if (0..w).contains(&xx) && (0..h).contains(&yy) {
                m = m.max(img.data[(yy * w + xx) as usize]);
            }
        }
    }
    m
}

/// The sky around (`x`, `y`): the median of samples on a square 12 pixels out (the sim's
/// sky is brighter towards the horizon, so the frame's median will not do).
fn local_sky(img: &Image16, x: f64, y: f64) -> f64 {
    let (w, h) = (img.width as i64, img.height as i64);
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    let mut v: Vec<u16> = (-12..=12)
        .step_by(2)
        .flat_map(|d| [(d, -12), (d, 12), (-12, d), (12, d)])
        .map(|(dx, dy)| ((cx + dx).clamp(0, w - 1), (cy + dy).clamp(0, h - 1)))
        .map(|(xx, yy)| img.data[(yy * w + xx) as usize])
        .collect();
    v.sort_unstable();
    f64::from(v[v.len() / 2])
}

#[test]
fn fill_gaps_draws_each_bright_stars_missing_arc_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    night(&j);
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_owned();
    let mut took = Vec::new();
    for (out, extra) in [("plain.fits", None), ("filled.fits", Some("--fill-gaps"))] {
        let mut args = vec!["-q", "trails", j.to_str().unwrap()];
        args.extend(extra);
        let o = p(out);
        args.extend(["--out", &o]);
        let t = Instant::now();
        let r = run(&args);
        took.push(t.elapsed().as_secs_f64());
        assert!(r.status.success(), "{args:?}: {}", printed(&r));
    }
    let plain = read_fits(Path::new(&p("plain.fits"))).unwrap().image;
    let filled = read_fits(Path::new(&p("filled.fits"))).unwrap().image;
    let (w, h) = (f64::from(plain.width), f64::from(plain.height));
    let cfg = config();
    let (e, period) = (5.0, 240.0);
    // The 60 brightest stars that stay well inside the frame all night and move at least
    // 24 pixels between frames (far enough from the pole for their gaps to show).
    let mut bright: Vec<usize> = (0..SimSky::star_positions(&cfg, 0, 0.0).len()).collect();
    let paths: Vec<Vec<(f64, f64, f64)>> = (0..FRAMES)
        .map(|i| {
            (0..=12)
                .flat_map(|k| {
                    let t = period * f64::from(k) / 12.0;
                    SimSky::star_positions(&cfg, i, t)
                })
                .collect()
        })
        .collect();
    let stars = paths[0].len() / 13;
    let inside = |s: usize| {
        paths.iter().all(|frame| {
            (0..13).all(|k| {
                let (x, y, _) = frame[k * stars + s];
                (8.0..w - 8.0).contains(&x) && (8.0..h - 8.0).contains(&y)
            })
        })
    };
    let moves = |s: usize| {
        let (a, b) = (paths[0][s], paths[0][12 * stars + s]);
        (a.0 - b.0).hypot(a.1 - b.1) >= 24.0
    };
    bright.retain(|&s| inside(s) && moves(s));
    bright.sort_by(|&a, &b| paths[0][a].2.total_cmp(&paths[0][b].2));
    bright.truncate(60);
    assert_eq!(bright.len(), 60);

    // The noise of the composite, for which dashes are clear enough to measure by.
    let mut diffs: Vec<u16> = plain
        .data
        .chunks_exact(plain.width as usize)
        .step_by(31)
        .flat_map(|r| r.windows(3).step_by(5).map(|p| p[2].abs_diff(p[0])))
        .collect();
    diffs.sort_unstable();
    let noise = (1.4826 * f64::from(diffs[diffs.len() / 2]) / 2f64.sqrt()).max(1.0);

    // Points of the gaps: the middle half of each gap, 4 points, away from the ends where
    // the star's own light reaches. A point is lit when it is at least half as bright
    // above the sky as the dimmer of the star's two dashes around the gap.
    let (mut points, mut dark, mut filled_dark) = (0u32, 0u32, 0u32);
    for i in 0..FRAMES - 1 {
        let dash = |index: u64| SimSky::star_positions(&cfg, index, e / 2.0);
        let (d0, d1) = (dash(i), dash(i + 1));
        let gap: Vec<Vec<(f64, f64, f64)>> = (2..6)
            .map(|k| SimSky::star_positions(&cfg, i, e + (period - e) * (f64::from(k) + 0.5) / 8.0))
            .collect();
        for &s in &bright {
            let peak = |d: &[(f64, f64, f64)]| {
                f64::from(near(&plain, d[s].0, d[s].1)) - local_sky(&plain, d[s].0, d[s].1)
            };
            let level = peak(&d0).min(peak(&d1));
            if level < 20.0 * noise {
                continue;
            }
            for pos in &gap {
                let (x, y, _) = pos[s];
                let around = local_sky(&plain, x, y);
                let lit = |img: &Image16| f64::from(near(img, x, y)) - around >= 0.5 * level;
                points += 1;
                // Points plain trails leave dark are the missing arc; points already lit
                // (another star's trail or a plane crossing there) are not counted.
                if !lit(&plain) {
                    dark += 1;
                    filled_dark += u32::from(lit(&filled));
                }
            }
        }
    }
    let share = |n: u32, of: u32| f64::from(n) / f64::from(of.max(1));
    println!(
        "gap points: plain leaves {dark} of {points} dark ({:.1} %), fill-gaps lights {:.1} % of those; time plain {:.2} s, filled {:.2} s ({:.2}x)",
        100.0 * share(dark, points),
        100.0 * share(filled_dark, dark),
        took[0],
        took[1],
        took[1] / took[0]
    );
    assert!(share(dark, points) > 0.6, "the night has gaps to fill");
    assert!(share(filled_dark, dark) > 0.85, "arcs filled");

    // Nothing but star paths changed: every changed sample is within 6 pixels (as far as
    // a bright star's light reaches) of where
    // some star was during the night (shutter open or closed); hot pixels and the sky
    // are as in plain trails.
    let (wi, hi) = (plain.width as usize, plain.height as usize);
    let mut near_path = vec![false; wi * hi];
    for frame in &paths {
        for s in 0..stars {
            for k in 0..12 {
                let (x0, y0, _) = frame[k * stars + s];
                let (x1, y1, _) = frame[(k + 1) * stars + s];
                let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
                for q in 0..=steps {
                    let f = q as f64 / steps as f64;
                    let (x, y) = (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f);
                    for yy in (y.round() as i64 - 6)..=(y.round() as i64 + 6) {
                        for xx in (x.round() as i64 - 6)..=(x.round() as i64 + 6) {
                            if (0..wi as i64).contains(&xx) && (0..hi as i64).contains(&yy) {
                                near_path[yy as usize * wi + xx as usize] = true;
                            }
                        }
                    }
                }
            }
        }
    }
    // A meteor, satellite or plane lit in two frames may be joined like a star: their
    // streaks, and as far as a star moves between frames around them, are left out.
    let mut mark = |x0: f64, y0: f64, x1: f64, y1: f64, r: i64| {
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for q in 0..=steps {
            let f = q as f64 / steps as f64;
            let (x, y) = (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f);
            for yy in (y.round() as i64 - r)..=(y.round() as i64 + r) {
                for xx in (x.round() as i64 - r)..=(x.round() as i64 + r) {
                    if (0..wi as i64).contains(&xx) && (0..hi as i64).contains(&yy) {
                        near_path[yy as usize * wi + xx as usize] = true;
                    }
                }
            }
        }
    };
    for i in 0..FRAMES {
        for ((x0, y0), (x1, y1)) in SimSky::streaks(&cfg, i) {
            mark(x0, y0, x1, y1, 48);
        }
    }
    let mut changed = 0;
    for (i, (&a, &b)) in plain.data.iter().zip(&filled.data).enumerate() {
        assert!(b >= a, "sample {i} got darker");
        if a != b {
            changed += 1;
            assert!(
                near_path[i],
                "sample {},{} changed away from every star path",
                i % wi,
                i / wi
            );
        }
    }
    assert!(changed > 0);
    for (x, y) in SimSky::hot_pixels(&cfg) {
        if !near_path[y * wi + x] {
            assert_eq!(plain.data[y * wi + x], filled.data[y * wi + x]);
        }
    }
}
