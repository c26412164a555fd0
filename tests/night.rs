//! Dusk to dawn as the user meets it: `nightcap night` prints the window that
//! `capture --night` uses, in local time with its offset, and refuses a bad place or date.

mod support;

use support::{nightcap, printed};

fn night(tz: &str, args: &[&str]) -> (i32, String) {
    let o = nightcap()
        .env("TZ", tz)
        .arg("night")
        .args(args)
        .output()
        .expect("binary runs");
    (o.status.code().unwrap_or(-1), printed(&o))
}

#[test]
fn tonight_in_belgrade_reads_in_local_time_with_its_offset() {
    // USNO: sunset 15:00 UT, sunrise 06:13 UT the next day (Belgrade, 2026-12-21/22).
    let (code, text) = night("Europe/Belgrade", &["44.82,20.46", "2026-12-21"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("dark from 2026-12-21 17:10 +01:00 to 2026-12-22 06:02 +01:00"),
        "{text}"
    );
    assert!(
        text.contains("sunset 2026-12-21 15:59 +01:00, sunrise 2026-12-22 07:13 +01:00"),
        "{text}"
    );
    let (_, utc) = night(
        "Europe/Belgrade",
        &[
            "44.82,20.46",
            "2026-12-21",
            "--utc",
            "--dark-below",
            "astronomical",
        ],
    );
    assert!(
        utc.contains("(sun below -18°): dark from 2026-12-21 16:4"),
        "{utc}"
    );
    assert!(utc.contains(" UTC"), "{utc}");
}

#[test]
fn a_summer_night_far_north_has_no_dark_window_and_says_so() {
    let (code, text) = night(
        "UTC",
        &["64.15,-21.94", "2026-06-21", "--dark-below", "civil"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("the sun stays above -6° all night: no dark window"),
        "{text}"
    );
}

#[test]
fn a_bad_place_date_or_altitude_is_a_bad_command_line() {
    for args in [
        &["91,0"][..],
        &["44.8"][..],
        &["44.82,20.46", "2026-02-30"][..],
        &["44.82,20.46", "--dark-below", "5"][..],
    ] {
        let (code, text) = night("UTC", args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("nightcap: "), "{text}");
    }
}
