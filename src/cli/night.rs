//! `nightcap night LAT,LON [DATE]`: the dusk-to-dawn window `capture --night` would
//! use, in local time (the system's zone) or UTC.

use std::process::ExitCode;

use nightcap_frame::sun::{self, Night, Place};
use nightcap_frame::time::{self, local_offset_s, offset_text, utc_parts};
use nightcap_frame::UtcNanos;

use super::errors::UsageError;
use super::ui::outln;

/// Print the night's dark window at a place: when the sun sinks below the chosen
/// altitude in the evening and rises above it the next morning, with sunset and sunrise.
#[derive(Debug, clap::Args)]
pub struct NightArgs {
    /// Where: latitude,longitude in degrees, north and east positive (51.48,-0.0015).
    #[arg(value_parser = parse_place, allow_hyphen_values = true)]
    pub place: Place,
    /// The night that begins on the evening of this date (YYYY-MM-DD); default: today
    /// (local).
    pub date: Option<String>,
    /// How dark: the sun's altitude below which the night counts as dark: `civil` (−6°),
    /// `nautical` (−12°), `astronomical` (−18°) or degrees (`-15`).
    #[arg(long, default_value = "nautical", value_parser = parse_altitude, allow_hyphen_values = true)]
    pub dark_below: f64,
    /// Times in UTC instead of local time.
    #[arg(long)]
    pub utc: bool,
    /// Print JSON (UTC ISO 8601 times).
    #[arg(long)]
    pub json: bool,
}

/// Parses a place for clap.
pub fn parse_place(text: &str) -> Result<Place, String> {
    text.parse::<Place>().map_err(|e| e.to_string())
}

/// `civil`, `nautical`, `astronomical` or a number of degrees between −30 and 0.
pub fn parse_altitude(text: &str) -> Result<f64, String> {
    match text.trim() {
        "civil" => Ok(sun::CIVIL),
        "nautical" => Ok(sun::NAUTICAL),
        "astronomical" => Ok(sun::ASTRONOMICAL),
        t => match t.parse::<f64>() {
            Ok(d) if (-30.0..=0.0).contains(&d) => Ok(d),
            _ => Err(format!(
                "'{text}' is not a sun altitude: use civil (-6), nautical (-12), astronomical (-18) or degrees between -30 and 0"
            )),
        },
    }
}

/// `YYYY-MM-DD` as (year, month, day).
fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let mut it = text.trim().split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=time::days_in_month(y, m)).contains(&d)
    {
        return None;
    }
    Some((y, m, d))
}

/// `21:40 (+01:00)`-style clock time of `ns`, local or UTC, with the date when it is not
/// `on_day`.
pub fn clock(ns: UtcNanos, utc: bool) -> String {
    let off = if utc { 0 } else { local_offset_s(ns) };
    let p = utc_parts(ns + i64::from(off) * 1_000_000_000);
    let zone = if utc {
        "UTC".to_string()
    } else {
        offset_text(off)
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} {zone}",
        p.year, p.month, p.day, p.hour, p.minute
    )
}

pub fn run(args: NightArgs) -> anyhow::Result<ExitCode> {
    let (y, m, d) = match &args.date {
        Some(text) => parse_date(text).ok_or_else(|| {
            UsageError(format!(
                "'{text}' is not a date: use YYYY-MM-DD (the night that begins that evening)"
            ))
        })?,
        None => {
            let now = time::now_utc_ns();
            let p = utc_parts(now + i64::from(local_offset_s(now)) * 1_000_000_000);
            (p.year, p.month, p.day)
        }
    };
    let place = args.place;
    let dark = sun::night(place, y, m, d, args.dark_below);
    let rise_set = sun::night(place, y, m, d, sun::SUNRISE_ALTITUDE);
    if args.json {
        let window = |n: Night| match n {
            Night::Dark { dusk, dawn } => serde_json::json!({
                "state": "dark", "start_utc": time::utc_iso(dusk), "end_utc": time::utc_iso(dawn),
                "hours": (dawn - dusk) as f64 / 3.6e12,
            }),
            Night::NoDarkness => serde_json::json!({ "state": "no-darkness" }),
            Night::AllDark => serde_json::json!({ "state": "all-dark" }),
        };
        let v = serde_json::json!({
            "place": { "lat": place.lat, "lon": place.lon },
            "date": format!("{y:04}-{m:02}-{d:02}"),
            "dark_below_deg": args.dark_below,
            "dark": window(dark),
            "sunset_to_sunrise": window(rise_set),
        });
        outln(serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let head = format!(
        "night of {y:04}-{m:02}-{d:02} at {place} (sun below {}°)",
        args.dark_below
    );
    let line = match dark {
        Night::Dark { dusk, dawn } => format!(
            "{head}: dark from {} to {} ({})",
            clock(dusk, args.utc),
            clock(dawn, args.utc),
            time::human_duration(dawn - dusk)
        ),
        Night::NoDarkness => format!(
            "{head}: the sun stays above {}° all night: no dark window{}",
            args.dark_below,
            if args.dark_below < sun::CIVIL {
                " (a lighter limit such as --dark-below civil may have one)"
            } else {
                ""
            }
        ),
        Night::AllDark => format!(
            "{head}: the sun stays below {}° all day and night",
            args.dark_below
        ),
    };
    outln(line)?;
    match rise_set {
        Night::Dark { dusk, dawn } => outln(format!(
            "sunset {}, sunrise {}",
            clock(dusk, args.utc),
            clock(dawn, args.utc)
        ))?,
        Night::NoDarkness => outln("the sun does not set")?,
        Night::AllDark => outln("the sun does not rise")?,
    }
    Ok(ExitCode::SUCCESS)
}
