//! Where the sun is, and when the night is dark enough to capture.
//!
//! Owns the sun's position for a place and instant and the dusk-to-dawn window built on
//! it. The position is the standard low-precision solar formula (Meeus, *Astronomical
//! Algorithms*, ch. 25, as NOAA's solar calculator uses it): good to about 0.01° in
//! altitude for years 1900–2100, which moves a rise, set or twilight time by seconds away
//! from the poles. Universal Time stands in for Terrestrial Time (the 69 s between them
//! move the sun by 0.0008°).
//!
//! Promises:
//! - [`position`] is the true (geometric) position of the sun's centre; [`apparent_altitude`]
//!   adds standard atmospheric refraction.
//! - [`night`] answers for any place and date, also where the sun never sets or never
//!   rises far enough: it says so ([`Night::NoDarkness`], [`Night::AllDark`]) rather
//!   than returning a time that does not exist.
//! - Crossing times are found by bisection on the altitude to 1 s, so they are
//!   continuous in place and date (no table lookups or branch cuts).
//!
//! Checked against the NREL solar position paper's worked example and U.S. Naval
//! Observatory rise, set and twilight tables (see the tests).

use crate::time::days_from_civil;
use crate::UtcNanos;

const NS: i64 = 1_000_000_000;
const DAY_NS: i64 = 86_400 * NS;

/// Altitude of the sun's centre at sunrise and sunset (upper limb on the horizon with
/// standard refraction: −0.833°).
pub const SUNRISE_ALTITUDE: f64 = -0.833;
/// Civil twilight ends with the sun's centre 6° below the horizon.
pub const CIVIL: f64 = -6.0;
/// Nautical twilight ends at −12°: the default for capture (a sky dark enough for a
/// 5 s exposure of stars and meteors).
pub const NAUTICAL: f64 = -12.0;
/// Astronomical twilight ends at −18°: the sky as dark as it gets.
pub const ASTRONOMICAL: f64 = -18.0;

/// A place on Earth: latitude north and longitude east, degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Degrees north (−90..=90).
    pub lat: f64,
    /// Degrees east (−180..=180).
    pub lon: f64,
}

/// Why a place could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a place: use LAT,LON in degrees, north and east positive (e.g. 51.48,-0.0015 for Greenwich)")]
pub struct PlaceParseError(pub String);

impl std::str::FromStr for Place {
    type Err = PlaceParseError;

    /// `51.48,-0.0015`: latitude then longitude, decimal degrees.
    fn from_str(text: &str) -> Result<Place, PlaceParseError> {
        let err = || PlaceParseError(text.to_string());
        let (a, b) = text.split_once(',').ok_or_else(err)?;
        let lat: f64 = a.trim().parse().map_err(|_| err())?;
        let lon: f64 = b.trim().parse().map_err(|_| err())?;
        if !(lat.is_finite() && lon.is_finite()) || lat.abs() > 90.0 || lon.abs() > 180.0 {
            return Err(err());
        }
        Ok(Place { lat, lon })
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)
    }
}

/// The sun seen from a place at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SunPosition {
    /// Altitude of the sun's centre above the horizon, degrees, without refraction.
    pub altitude: f64,
    /// Azimuth, degrees east of north (0..360).
    pub azimuth: f64,
}

/// The sun's geometric position seen from `place` at `t` (UTC ns).
pub fn position(place: Place, t: UtcNanos) -> SunPosition {
    let jd: f64 = t as f64 / 1e9 / 86_400.0 + 2_440_587.5;
    let days: f64 = jd - 2_451_545.0;
    let c: f64 = days / 36_525.0; // Julian centuries since J2000.0
    let l0 = (280.46646 + c * (36_000.769_83 + 0.000_303_2 * c)).rem_euclid(360.0);
    let m = 357.52911 + c * (35_999.050_29 - 0.000_153_7 * c);
    let (mr, m2, m3) = (
        m.to_radians(),
        (2.0 * m).to_radians(),
        (3.0 * m).to_radians(),
    );
    let centre = mr.sin() * (1.914_602 - c * (0.004_817 + 0.000_014 * c))
        + m2.sin() * (0.019_993 - 0.000_101 * c)
        + m3.sin() * 0.000_289;
    let omega = (125.04 - 1934.136 * c).to_radians();
    let lambda = (l0 + centre - 0.005_69 - 0.004_78 * omega.sin()).to_radians();
    let eps0 =
        23.0 + (26.0 + (21.448 - c * (46.815 + c * (0.000_59 - c * 0.001_813))) / 60.0) / 60.0;
    let eps = (eps0 + 0.002_56 * omega.cos()).to_radians();
    let decl = (eps.sin() * lambda.sin()).asin();
    let ra = (eps.cos() * lambda.sin()).atan2(lambda.cos());
    let gmst = 280.460_618_37 + 360.985_647_366_29 * days + 0.000_387_933 * c * c
        - c * c * c / 38_710_000.0;
    let hour = (gmst + place.lon).to_radians() - ra;
    let lat = place.lat.to_radians();
    let alt = (lat.sin() * decl.sin() + lat.cos() * decl.cos() * hour.cos()).asin();
    let az = hour
        .sin()
        .atan2(hour.cos() * lat.sin() - decl.tan() * lat.cos())
        .to_degrees()
        + 180.0;
    SunPosition {
        altitude: alt.to_degrees(),
        azimuth: az.rem_euclid(360.0),
    }
}

/// `altitude` (geometric, degrees) as seen through a standard atmosphere (1010 hPa,
/// 10 °C): refraction by Sæmundsson's formula, which lifts the horizon by 0.48°.
pub fn apparent_altitude(altitude: f64) -> f64 {
    if altitude < -1.0 {
        return altitude;
    }
    let r_arcmin = 1.02 / (altitude + 10.3 / (altitude + 5.11)).to_radians().tan();
    altitude + r_arcmin / 60.0
}

/// The dark part of one night at a place: when the sun's centre is below an altitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Night {
    /// Dark from `dusk` to `dawn` (UTC ns).
    Dark {
        /// When the sun sinks below the altitude in the evening.
        dusk: UtcNanos,
        /// When it rises above it the next morning.
        dawn: UtcNanos,
    },
    /// The sun stays above the altitude all night (a summer night far north or south).
    NoDarkness,
    /// The sun stays below it from one noon to the next (a polar winter).
    AllDark,
}

/// The first instant in `[from, to]` where the sun's altitude crosses `altitude`, going
/// down (`descending`) or up; to 10 ms. Sampled every 10 minutes, then bisected.
pub fn crossing(
    place: Place,
    altitude: f64,
    from: UtcNanos,
    to: UtcNanos,
    descending: bool,
) -> Option<UtcNanos> {
    let step = 600 * NS;
    let above = |t: UtcNanos| position(place, t).altitude > altitude;
    let mut a = from;
    let mut a_above = above(a);
    while a < to {
        let b = (a + step).min(to);
        let b_above = above(b);
        if a_above == descending && b_above != descending {
            let (mut lo, mut hi) = (a, b);
            while hi - lo > NS / 100 {
                let mid = lo + (hi - lo) / 2;
                if above(mid) == descending {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return Some(hi);
        }
        a = b;
        a_above = b_above;
    }
    None
}

/// Local solar noon at `place` on the UTC calendar day `days` (days since 1970), roughly:
/// 12:00 UTC less the longitude's share of a day.
fn solar_noon_near(place: Place, days: i64) -> UtcNanos {
    days * DAY_NS + DAY_NS / 2 - (place.lon / 360.0 * DAY_NS as f64) as i64
}

/// The night that begins on the evening of `(year, month, day)` at `place` (the
/// place's own calendar: from its solar noon that day to the next), dark while the
/// sun's centre is below `altitude` degrees.
pub fn night(place: Place, year: i64, month: u32, day: u32, altitude: f64) -> Night {
    let noon = solar_noon_near(place, days_from_civil(year, month, day));
    night_after(place, noon, altitude)
}

/// The night following the solar noon at `noon` (to the next noon).
fn night_after(place: Place, noon: UtcNanos, altitude: f64) -> Night {
    let next_noon = noon + DAY_NS;
    match crossing(place, altitude, noon, next_noon, true) {
        Some(dusk) => match crossing(place, altitude, dusk, next_noon + DAY_NS / 4, false) {
            Some(dawn) => Night::Dark { dusk, dawn },
            // Dusk but no dawn before the next afternoon: polar night beginning.
            None => Night::Dark {
                dusk,
                dawn: next_noon,
            },
        },
        None if position(place, noon).altitude < altitude
            && position(place, noon + DAY_NS / 2).altitude < altitude =>
        {
            Night::AllDark
        }
        None => Night::NoDarkness,
    }
}

/// What the sky is doing at `now` for a capture that runs while the sun is below
/// `altitude`: inside a dark window (until its dawn), or waiting for the next dusk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Dark now, until `dawn`.
    DarkUntil(UtcNanos),
    /// Light now; the next dark window starts at `dusk`.
    LightUntil(UtcNanos),
    /// No dark window within the next year's worth of searching (a polar summer at a
    /// strict altitude): nothing to wait for in a sensible time.
    NeverDark,
}

/// Where `now` falls in the dusk-to-dawn schedule at `place` and `altitude`.
pub fn schedule(place: Place, altitude: f64, now: UtcNanos) -> Schedule {
    if position(place, now).altitude < altitude {
        // Dark now: the next crossing upwards, however far (a polar night ends).
        let mut from = now;
        for _ in 0..200 {
            let to = from + 2 * DAY_NS;
            if let Some(dawn) = crossing(place, altitude, from, to, false) {
                return Schedule::DarkUntil(dawn);
            }
            from = to;
        }
        return Schedule::DarkUntil(from);
    }
    let mut from = now;
    for _ in 0..200 {
        let to = from + 2 * DAY_NS;
        if let Some(dusk) = crossing(place, altitude, from, to, true) {
            return Schedule::LightUntil(dusk);
        }
        from = to;
    }
    Schedule::NeverDark
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_utc;

    fn at(text: &str) -> UtcNanos {
        parse_utc(text).unwrap()
    }

    fn minutes(a: UtcNanos, b: UtcNanos) -> f64 {
        (a - b) as f64 / 60e9
    }

    /// Reda & Andreas, "Solar Position Algorithm for Solar Radiation Applications"
    /// (NREL/TP-560-34302, 2004/2008), the worked example of table A4.1 and the SPA
    /// program's printout: Golden, Colorado (39.742476 N, 105.1786 W), 17 October 2003
    /// 12:30:30 at UTC−7: topocentric zenith 50.11162°, azimuth 194.34024°; sunrise
    /// 06:12:43 local time. (Its printed sunset, 17:20:19, is when the sun's centre is at
    /// −1.11°, not the −0.833° of its own definition; the rise and set times below are
    /// checked against the Naval Observatory instead.)
    #[test]
    fn the_nrel_worked_example() {
        let golden = Place {
            lat: 39.742476,
            lon: -105.1786,
        };
        let p = position(golden, at("2003-10-17T19:30:30"));
        let zenith = 90.0 - apparent_altitude(p.altitude);
        assert!((zenith - 50.11162).abs() < 0.02, "zenith {zenith}");
        assert!(
            (p.azimuth - 194.34024).abs() < 0.02,
            "azimuth {}",
            p.azimuth
        );
        let day = at("2003-10-17T00:00:00");
        let rise = crossing(golden, SUNRISE_ALTITUDE, day, day + DAY_NS, false).unwrap();
        assert!(
            minutes(rise, at("2003-10-17T13:12:43")).abs() < 0.5,
            "rise {rise}"
        );
    }

    /// U.S. Naval Observatory, Astronomical Applications Department, "Complete Sun and
    /// Moon Data for One Day" (https://aa.usno.navy.mil/api/rstt/oneday?date=DATE&coords=LAT,LON&tz=0),
    /// times in UT rounded to the minute: (place, date, begin civil twilight, sunrise,
    /// sunset, end civil twilight); an event that does not happen that day is None.
    #[allow(clippy::type_complexity)]
    const USNO: &[(f64, f64, &str, [Option<&str>; 4])] = &[
        // Belgrade
        (
            44.82,
            20.46,
            "2026-01-01",
            [Some("05:42"), Some("06:16"), Some("15:08"), Some("15:41")],
        ),
        (
            44.82,
            20.46,
            "2026-06-21",
            [Some("02:15"), Some("02:52"), Some("18:28"), Some("19:05")],
        ),
        (
            44.82,
            20.46,
            "2026-12-21",
            [Some("05:39"), Some("06:12"), Some("15:00"), Some("15:34")],
        ),
        // Tromsø: the sun does not rise on 1 January, but civil twilight comes and goes.
        (
            69.65,
            18.96,
            "2026-01-01",
            [Some("08:27"), None, None, Some("13:09")],
        ),
        (
            69.65,
            18.96,
            "2026-03-20",
            [Some("03:44"), Some("04:44"), Some("17:01"), Some("18:02")],
        ),
        // Reykjavik
        (
            64.15,
            -21.94,
            "2026-01-01",
            [Some("10:03"), Some("11:19"), Some("15:44"), Some("17:00")],
        ),
        (
            64.15,
            -21.94,
            "2026-10-15",
            [Some("07:29"), Some("08:18"), Some("18:08"), Some("18:56")],
        ),
        // Sydney (the UT day holds that evening's set, then the next morning's rise)
        (
            -33.87,
            151.21,
            "2026-06-21",
            [Some("20:32"), Some("21:00"), Some("06:54"), Some("07:22")],
        ),
        (
            -33.87,
            151.21,
            "2026-12-21",
            [Some("18:12"), Some("18:41"), Some("09:05"), Some("09:35")],
        ),
    ];

    #[test]
    fn rise_set_and_civil_twilight_match_the_naval_observatory_to_the_minute() {
        let mut worst: f64 = 0.0;
        for &(lat, lon, date, events) in USNO {
            let place = Place { lat, lon };
            let day = at(&format!("{date}T00:00:00"));
            let kinds = [
                (CIVIL, false),
                (SUNRISE_ALTITUDE, false),
                (SUNRISE_ALTITUDE, true),
                (CIVIL, true),
            ];
            for (&(alt, down), want) in kinds.iter().zip(events) {
                let got = crossing(place, alt, day, day + DAY_NS, down);
                match (got, want) {
                    (Some(t), Some(w)) => {
                        let off = minutes(t, at(&format!("{date}T{w}:00")));
                        // USNO rounds to the minute: within 0.5 min of it, plus our error.
                        assert!(off.abs() < 1.0, "{place} {date} {alt}° {w}: {off:+.2} min");
                        worst = worst.max(off.abs());
                    }
                    (None, None) => {}
                    (got, want) => panic!("{place} {date} {alt}°: {got:?} vs USNO {want:?}"),
                }
            }
        }
        eprintln!("worst offset from the Naval Observatory: {worst:.2} min");
        assert!(worst < 1.0, "worst {worst} min");
    }

    #[test]
    fn nights_know_when_it_never_gets_dark_and_when_it_never_gets_light() {
        // Reykjavik at midsummer: USNO says the sun stays above the civil twilight limit.
        let reykjavik = Place {
            lat: 64.15,
            lon: -21.94,
        };
        assert_eq!(night(reykjavik, 2026, 6, 21, CIVIL), Night::NoDarkness);
        // Tromsø at new year: the sun stays below the horizon, never below -18° at noon?
        // It reaches about -3.5° at noon, so below -0.833 all day: all dark at that level.
        let tromso = Place {
            lat: 69.65,
            lon: 18.96,
        };
        assert_eq!(night(tromso, 2026, 1, 1, SUNRISE_ALTITUDE), Night::AllDark);
        // Belgrade in winter: dark (nautical) from about 16:10 to 05:05 UT.
        let belgrade = Place {
            lat: 44.82,
            lon: 20.46,
        };
        match night(belgrade, 2026, 12, 21, NAUTICAL) {
            Night::Dark { dusk, dawn } => {
                assert!(dusk > at("2026-12-21T15:34:00") && dusk < at("2026-12-21T16:30:00"));
                assert!(dawn > at("2026-12-22T04:40:00") && dawn < at("2026-12-22T05:39:00"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_schedule_waits_for_dusk_and_runs_to_dawn() {
        let belgrade = Place {
            lat: 44.82,
            lon: 20.46,
        };
        let Night::Dark { dusk, dawn } = night(belgrade, 2026, 12, 21, NAUTICAL) else {
            panic!("dark")
        };
        let near = |a: UtcNanos, b: UtcNanos| (a - b).abs() < NS;
        match schedule(belgrade, NAUTICAL, at("2026-12-21T12:00:00")) {
            Schedule::LightUntil(t) => assert!(near(t, dusk), "{t} vs {dusk}"),
            other => panic!("{other:?}"),
        }
        match schedule(belgrade, NAUTICAL, dusk + 60 * NS) {
            Schedule::DarkUntil(t) => assert!(near(t, dawn), "{t} vs {dawn}"),
            other => panic!("{other:?}"),
        }
        match schedule(belgrade, NAUTICAL, dawn + 60 * NS) {
            Schedule::LightUntil(next) => {
                assert!(
                    (next - dusk - DAY_NS).abs() < 5 * 60 * NS,
                    "next dusk a day later"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn places_parse_as_people_write_them() {
        let p: Place = "51.48, -0.0015".parse().unwrap();
        assert_eq!((p.lat, p.lon), (51.48, -0.0015));
        for bad in ["51.48", "91,0", "0,181", "a,b", "NaN,0", ""] {
            assert!(bad.parse::<Place>().is_err(), "{bad}");
        }
    }
}
