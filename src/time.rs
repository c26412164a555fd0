//! Time as nightcap shows and reads it: UTC nanoseconds to text and back, and durations
//! such as `30s`, `5m`, `1h30m`, without a calendar crate.
//!
//! All times are UTC. Formatting never panics (years are clamped to 0..=9999); parsing
//! returns a typed error naming the accepted forms.

use crate::journal::format::civil_from_days;

const NS: i64 = 1_000_000_000;

/// `2026-11-24T02:15:00.000Z`
pub fn utc_iso(ns: i64) -> String {
    let (date, (h, m, s), frac) = split(ns);
    format!("{date}T{h:02}:{m:02}:{s:02}.{:03}Z", frac / 1_000_000)
}

/// `2026-11-24 02:15:00` (for tables)
pub fn utc_short(ns: i64) -> String {
    let (date, (h, m, s), _) = split(ns);
    format!("{date} {h:02}:{m:02}:{s:02}")
}

/// `20261124-021500`: the original program's file-name stamp.
pub fn utc_compact(ns: i64) -> String {
    let (date, (h, m, s), _) = split(ns);
    format!("{}-{h:02}{m:02}{s:02}", date.replace('-', ""))
}

fn split(ns: i64) -> (String, (i64, i64, i64), i64) {
    let secs = ns.div_euclid(NS);
    let frac = ns.rem_euclid(NS);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    (
        format!("{:04}-{mo:02}-{d:02}", y.clamp(0, 9999)),
        (t / 3600, (t / 60) % 60, t % 60),
        frac,
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Why a time or duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeParseError {
    #[error("'{0}' is not a duration: use a number with a unit, e.g. 30s, 5m, 1h30m, 500ms")]
    Duration(String),
    #[error("'{0}' is not a UTC time: use 2026-11-24T02:15:00 (or with a space, seconds optional, a trailing Z allowed)")]
    Time(String),
}

/// Parses `500ms`, `30s`, `5m`, `1h30m`, `2h`, `1d` (a bare number is seconds) into ns.
pub fn parse_duration(text: &str) -> Result<i64, TimeParseError> {
    let err = || TimeParseError::Duration(text.to_string());
    let t = text.trim();
    if t.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return seconds_to_ns(secs).ok_or_else(err);
    }
    let mut total: i64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (num, tail) = rest.split_at(num_end);
        let value: f64 = num.parse().map_err(|_| err())?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let scale = match unit {
            "ms" => 1e6,
            "s" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            _ => return Err(err()),
        };
        let part = value * scale;
        if !part.is_finite() || part > 1e18 {
            return Err(err());
        }
        total = total.checked_add(part.round() as i64).ok_or_else(err)?;
        rest = next;
    }
    Ok(total)
}

fn seconds_to_ns(secs: f64) -> Option<i64> {
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| (secs * 1e9).round() as i64)
}

/// Parses a UTC time `YYYY-MM-DDTHH:MM[:SS[.fff]][Z]` (a space may replace the `T`), or a
/// bare date `YYYY-MM-DD` (midnight), into ns.
pub fn parse_utc(text: &str) -> Result<i64, TimeParseError> {
    let err = || TimeParseError::Time(text.to_string());
    let t = text.trim().trim_end_matches('Z');
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00"),
    };
    let mut d = date.split('-');
    let (y, mo, da) = (d.next(), d.next(), d.next());
    let (Some(y), Some(mo), Some(da), None) = (y, mo, da, d.next()) else {
        return Err(err());
    };
    let y: i64 = y.parse().map_err(|_| err())?;
    let mo: u32 = mo.parse().map_err(|_| err())?;
    let da: u32 = da.parse().map_err(|_| err())?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || !(1970..=9999).contains(&y) {
        return Err(err());
    }
    let mut parts = time.split(':');
    let h: i64 = parts.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let mi: i64 = parts.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let s: f64 = match parts.next() {
        Some(s) => s.parse().map_err(|_| err())?,
        None => 0.0,
    };
    if parts.next().is_some()
        || !(0..24).contains(&h)
        || !(0..60).contains(&mi)
        || !(0.0..61.0).contains(&s)
    {
        return Err(err());
    }
    let days = days_from_civil(y, mo, da);
    if civil_from_days(days) != (y, mo, da) {
        return Err(err()); // e.g. February 30
    }
    Ok((days * 86_400 + h * 3600 + mi * 60) * NS + (s * 1e9).round() as i64)
}

/// `1h 02m 03s`-style text for a duration in ns.
pub fn human_duration(ns: i64) -> String {
    let s = ns / NS;
    match s {
        s if s >= 3600 => format!("{}h {:02}m {:02}s", s / 3600, (s / 60) % 60, s % 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{:.1}s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(utc_iso(0), "1970-01-01T00:00:00.000Z");
        let t = 1_795_999_500 * NS + 123_000_000;
        assert_eq!(utc_iso(t), "2026-11-30T00:45:00.123Z");
        assert_eq!(utc_compact(t), "20261130-004500");
        assert_eq!(utc_short(t), "2026-11-30 00:45:00");
        assert_eq!(utc_iso(951_782_400 * NS), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parse_and_format_agree() {
        for t in [0, 951_782_400 * NS, 1_795_999_500 * NS + 250_000_000] {
            assert_eq!(parse_utc(&utc_iso(t)), Ok(t));
        }
        assert_eq!(parse_utc("2026-11-30 00:45"), Ok(1_795_999_500 * NS));
        assert_eq!(parse_utc("2026-11-30"), Ok(1_795_996_800 * NS));
        for bad in [
            "2026-02-30T00:00",
            "2026-13-01",
            "yesterday",
            "2026-11-30T25:00",
            "",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(30 * NS));
        assert_eq!(parse_duration("5m"), Ok(300 * NS));
        assert_eq!(parse_duration("1h30m"), Ok(5400 * NS));
        assert_eq!(parse_duration("500ms"), Ok(NS / 2));
        assert_eq!(parse_duration("60"), Ok(60 * NS));
        assert_eq!(parse_duration("2.5s"), Ok(2_500_000_000));
        for bad in ["", "5x", "m", "-5s", "1e30s", "s5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human_duration(3723 * NS), "1h 02m 03s");
    }
}
