//! Captions, keogram hour ticks and the live stacks' byte budget, as a user meets them:
//! the pixels of the JPEGs written, the files left in the live folder.

mod support;

use std::path::Path;

use support::nightcap;

fn run_in(dir: &Path, tz: &str, args: &[&str]) -> String {
    let o = nightcap()
        .current_dir(dir)
        .env("TZ", tz)
        .args(args)
        .output()
        .expect("binary runs");
    let text = support::printed(&o);
    assert!(o.status.success(), "{args:?}: {text}");
    text
}

fn capture(dir: &Path, frames: &str, extra: &[&str]) {
    let mut args = vec![
        "capture",
        "--source",
        "sim",
        "--sim-speed",
        "0",
        "--frames",
        frames,
        "--reserve",
        "0",
        "--journal",
        "j",
    ];
    args.extend_from_slice(extra);
    run_in(dir, "UTC", &args);
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).expect("a readable image").to_rgb8()
}

#[test]
fn live_stacks_stay_within_their_budget_and_nothing_else_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(live.join("notes.jpg"), vec![1u8; 500_000]).unwrap();
    std::fs::write(live.join("img20200101000000.txt"), "mine").unwrap();
    // 150 frames of 5 s: 13 live stacks of about 100 KB; a budget of 300 KB keeps 3.
    capture(
        dir.path(),
        "150",
        &[
            "--sim-sensor",
            "webcam",
            "--size",
            "640x480",
            "-d",
            "60",
            "-f",
            "live/img",
            "--live-budget",
            "300K",
        ],
    );
    let mut stacks: Vec<(String, u64)> = std::fs::read_dir(&live)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .filter(|(n, _)| n.starts_with("img2026") && n.ends_with(".jpg"))
        .collect();
    stacks.sort();
    let total: u64 = stacks.iter().map(|s| s.1).sum();
    let newest = stacks.last().expect("the newest stack is kept").clone();
    assert!(total <= 300_000 + newest.1, "{stacks:?}");
    assert!(stacks.len() >= 2 && stacks.len() < 13, "{stacks:?}");
    assert_eq!(newest.0, "img20260812214200.jpg", "the last window is kept");
    assert_eq!(
        std::fs::read(live.join("notes.jpg")).unwrap().len(),
        500_000
    );
    assert!(live.join("img20200101000000.txt").exists());
    // The video list names only stacks that are still there.
    let list = std::fs::read_to_string(live.join("imgstacks.ffconcat")).unwrap();
    for line in list.lines().filter_map(|l| l.strip_prefix("file '")) {
        let name = line.trim_end_matches('\'');
        assert!(live.join(name).exists(), "{name} listed but deleted");
    }
}

#[test]
fn a_caption_changes_only_its_corner_and_keograms_get_hour_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 21:30 to 22:37 UTC: the keogram crosses 22:00.
    capture(d, "800", &["-d", "0", "--sim-sensor", "small"]);
    run_in(
        d,
        "UTC",
        &["stack", "j", "--every", "all", "--out", "plain"],
    );
    run_in(
        d,
        "UTC",
        &[
            "stack",
            "j",
            "--every",
            "all",
            "--out",
            "captioned",
            "--caption",
            "garden-pi",
        ],
    );
    let name = |sub: &str| {
        let dir = d.join(sub);
        let f = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "jpg"))
            .unwrap();
        f
    };
    let (a, b) = (rgb(&name("plain")), rgb(&name("captioned")));
    let (w, h) = a.dimensions();
    let mut corner_changed = 0;
    for y in 0..h {
        for x in 0..w {
            let same = a.get_pixel(x, y) == b.get_pixel(x, y);
            // The caption's corner: the bottom half, the left two thirds (a 320 px wide
            // image: three lines of about 12 px text).
            if x >= w * 2 / 3 || y < h / 2 {
                assert!(same, "pixel {x},{y} away from the caption changed");
            } else if !same {
                corner_changed += 1;
            }
        }
    }
    assert!(corner_changed > 200, "{corner_changed} pixels of caption");
    // Keogram: a tick at the column of 22:00 UTC (TZ=UTC), bright at the top edge.
    run_in(d, "UTC", &["keogram", "j", "--out", "k.jpg"]);
    let k = rgb(&d.join("k.jpg"));
    let tick_x = (30 * 60 / 5) as u32; // 22:00 is 30 minutes after 21:30: frame 359 or 360
    let top_brightness = |x: u32| {
        k.get_pixel(x, 1)
            .0
            .iter()
            .map(|&v| u32::from(v))
            .sum::<u32>()
    };
    let tick = (tick_x - 3..=tick_x + 3).map(top_brightness).max().unwrap();
    assert!(tick > 600, "tick brightness {tick}");
    assert!(top_brightness(100) < 300, "no tick at 21:38");
    // Display marks never touch data files: a PNG keogram is the same with --caption.
    run_in(d, "UTC", &["keogram", "j", "--out", "k1.png"]);
    run_in(d, "UTC", &["keogram", "j", "--out", "k2.png", "--caption"]);
    assert_eq!(
        std::fs::read(d.join("k1.png")).unwrap(),
        std::fs::read(d.join("k2.png")).unwrap()
    );
}
