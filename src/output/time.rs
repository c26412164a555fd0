//! UTC timestamps as text, without a date library.
//!
//! Owns the conversion of [`UtcNanos`] (nanoseconds since the Unix epoch) into the civil
//! calendar (proleptic Gregorian, UTC, no leap seconds) and the three spellings nightcap
//! writes: ISO 8601 with milliseconds (FITS `DATE-OBS`), the compact `YYYYmmdd-HHMMSS`
//! file-name stamp of the original program, and the EXIF `YYYY:MM:DD HH:MM:SS` form.
//! Times before 1970 are converted correctly (floor division), never clamped; every
//! `i64` is a valid input, so none of these functions can fail.

use crate::frame::UtcNanos;

/// A UTC instant broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcParts {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Milliseconds, truncated (never rounded up into the next second).
    pub millis: u32,
}

const NS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Year, month, day of the day `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, valid for the whole `i64` nanosecond range).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Splits `ns` into calendar fields (UTC).
pub fn utc_parts(ns: UtcNanos) -> UtcParts {
    let secs = ns.div_euclid(NS_PER_SEC);
    let sub_ns = ns.rem_euclid(NS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
    let (year, month, day) = civil_from_days(days);
    UtcParts {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: sod / 60 % 60,
        second: sod % 60,
        millis: (sub_ns / 1_000_000) as u32,
    }
}

/// ISO 8601 UTC with milliseconds and no zone suffix, as FITS wants it:
/// `2026-11-24T02:15:00.000`.
pub fn utc_iso(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis
    )
}

/// The original program's file-name stamp, `YYYYmmdd-HHMMSS` (UTC): `20261124-021500`.
/// Sorts lexically in time order (for years 1000..=9999).
pub fn utc_compact(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// The EXIF date-time form, `YYYY:MM:DD HH:MM:SS` (19 characters for years 1000..=9999).
pub fn utc_exif(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NS_PER_SEC;

    #[test]
    fn epoch() {
        assert_eq!(utc_iso(0), "1970-01-01T00:00:00.000");
        assert_eq!(utc_compact(0), "19700101-000000");
        assert_eq!(utc_exif(0), "1970:01:01 00:00:00");
    }

    #[test]
    fn known_instants() {
        // 2026-11-24T02:15:00Z = 1795486500 s (date -u -d @1795486500).
        let t = 1_795_486_500 * S + 123_456_789;
        assert_eq!(utc_iso(t), "2026-11-24T02:15:00.123");
        assert_eq!(utc_compact(t), "20261124-021500");
        // 2000-02-29 (leap day of a century leap year) 12:34:56 = 951827696 s.
        assert_eq!(utc_iso(951_827_696 * S), "2000-02-29T12:34:56.000");
        // The day after 2000-02-28 23:59:59 is the leap day, and 2100 is not a leap year.
        assert_eq!(utc_iso(951_782_399 * S + S), "2000-02-29T00:00:00.000");
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        // 2024-12-31 is day 366 of a leap year: 1735603200 s.
        assert_eq!(utc_compact(1_735_603_200 * S), "20241231-000000");
    }

    #[test]
    fn before_1970_uses_floor_division() {
        assert_eq!(utc_iso(-1), "1969-12-31T23:59:59.999");
        assert_eq!(utc_iso(-S), "1969-12-31T23:59:59.000");
        assert_eq!(utc_compact(-86_400 * S), "19691231-000000");
    }

    #[test]
    fn extremes_do_not_panic() {
        assert_eq!(utc_iso(i64::MAX), "2262-04-11T23:47:16.854");
        assert_eq!(utc_iso(i64::MIN), "1677-09-21T00:12:43.145");
    }

    #[test]
    fn days_round_trip_through_every_day_of_four_centuries() {
        // Every day from 1900 to 2300 must advance the calendar by exactly one day.
        let mut prev = civil_from_days(-25_567); // 1900-01-01
        assert_eq!(prev, (1900, 1, 1));
        for d in -25_566..120_000 {
            let cur = civil_from_days(d);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
    }
}
