//! Time as nightcap shows and reads it, without a date library: UTC timestamps as text,
//! and parsing of the times and durations users type (`--from`, `--every 5m`).
//!
//! Owns the conversion of [`UtcNanos`] (nanoseconds since the Unix epoch) into the civil
//! calendar (proleptic Gregorian, UTC, no leap seconds) and the three spellings nightcap
//! writes: ISO 8601 with milliseconds (FITS `DATE-OBS`), the compact `YYYYmmdd-HHMMSS`
//! file-name stamp of the original program, and the EXIF `YYYY:MM:DD HH:MM:SS` form.
//! Times before 1970 are converted correctly (floor division), never clamped; every
//! `i64` is a valid input, so none of these functions can fail.

use crate::UtcNanos;

/// A UTC instant broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcParts {
    /// Year (proleptic Gregorian, may be negative).
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    /// 0..=23
    pub hour: u32,
    /// 0..=59
    pub minute: u32,
    /// 0..=59
    pub second: u32,
    /// Milliseconds, truncated (never rounded up into the next second).
    pub millis: u32,
}

const NS_PER_SEC: i64 = 1_000_000_000;
const NS: i64 = NS_PER_SEC;
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

/// ISO 8601 UTC with microseconds and a `Z`: `2026-11-24T02:15:00.123456Z` (frame
/// listings, where a camera's timing matters to the microsecond).
pub fn utc_iso_micros(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    let micros = ns.rem_euclid(1_000_000_000) / 1000;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, micros
    )
}

/// ISO 8601 basic format in UTC, `YYYYmmddTHHMMSSZ`: `20261124T021500Z` (the journal's
/// segment-name stamp). Years are clamped to 0..=9999 so the stamp keeps its length.
pub fn utc_iso_basic(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        p.year.clamp(0, 9999),
        p.month,
        p.day,
        p.hour,
        p.minute,
        p.second
    )
}

/// The file-name stamp `YYYYmmdd-HHMMSS` (UTC): `20261124-021500`, for stacks named in
/// UTC and exported frames. Sorts lexically in time order (for years 1000..=9999).
pub fn utc_dash_stamp(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// Seconds east of UTC of the system's local time zone (`TZ`, else `/etc/localtime`) at
/// the instant `ns`; 0 when the C library cannot tell.
pub fn local_offset_s(ns: UtcNanos) -> i32 {
    let t = ns.div_euclid(NS_PER_SEC) as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r only writes; `t` is a valid time_t
    // read for the duration of the call; localtime_r is the reentrant form (no shared
    // static buffer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call (see above).
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        0
    } else {
        tm.tm_gmtoff as i32
    }
}

/// Whether the kernel considers the system clock synchronised (to NTP, PTP or an RTC
/// that was): `None` when it cannot tell. A Raspberry Pi boots with the time it had at
/// shutdown until NTP sets it, so frames taken before then carry wrong times.
pub fn clock_synchronised() -> Option<bool> {
    // SAFETY: `timex` is plain data; with `modes` 0 adjtimex only reads the kernel's
    // state into it.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid and exclusively ours for the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    Some(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0)
}

/// The original program's live-stack stamp, `YYYYmmddHHMMSS` (strftime's
/// `%Y%m%d%H%M%S`), in the system's local time or, with `utc`, in UTC:
/// `20260812213000`.
pub fn original_stamp(ns: UtcNanos, utc: bool) -> String {
    let offset = if utc { 0 } else { local_offset_s(ns) };
    let p = utc_parts(ns + i64::from(offset) * NS_PER_SEC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// `+02:00`-style text of an offset in seconds east of UTC.
pub fn offset_text(offset_s: i32) -> String {
    let sign = if offset_s < 0 { '-' } else { '+' };
    let m = offset_s.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The EXIF date-time form, `YYYY:MM:DD HH:MM:SS` (19 characters for years 1000..=9999).
pub fn utc_exif(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// `2026-11-24 02:15:00` (for tables).
pub fn utc_short(ns: UtcNanos) -> String {
    let p = utc_parts(ns);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// The system's realtime clock now, UTC nanoseconds (0 before 1970, saturating far in
/// the future): the one place nightcap reads the wall clock.
pub fn now_utc_ns() -> UtcNanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Days in month `m` (1..=12) of year `y` of the proleptic Gregorian calendar.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
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
    /// Not a duration.
    #[error("'{0}' is not a duration: use a number with a unit, e.g. 30s, 5m, 1h30m, 500ms")]
    Duration(String),
    /// Not a UTC time.
    #[error("'{0}' is not a UTC time: use 2026-11-24T02:15:00 (or with a space, seconds optional, a trailing Z allowed)")]
    Time(String),
    /// Not a time or date as `--from`/`--to` take them.
    #[error("'{0}' is not a time: use 21:40 (local clock time on the journal's night), 2026-08-12T21:40 (local), 2026-08-12T19:40Z (UTC) or 2026-08-12T21:40+02:00")]
    Moment(String),
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

/// A time typed for `--from`/`--to`: an instant, or a clock time to be placed on the
/// night of a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    /// A full date and time: UTC with `Z`, at the given offset (`+02:00`), or else in the
    /// system's local time zone.
    At(UtcNanos),
    /// A local clock time (`21:40`, `02:15:30`): seconds after local midnight.
    Clock {
        /// Seconds after local midnight.
        seconds: u32,
    },
}

impl TimeArg {
    /// The instant: a clock time becomes the first moment at or after `night_start_ns`
    /// (the journal's first frame) when the local clock reads it, so on a night from 21:00
    /// to 05:00 `02:00` is the morning after.
    pub fn resolve(self, night_start_ns: UtcNanos) -> UtcNanos {
        self.resolve_in(night_start_ns, &local_offset_s)
    }

    /// [`resolve`](Self::resolve) in the zone whose offset at an instant is `offset`.
    fn resolve_in(self, night_start_ns: UtcNanos, offset: &dyn Fn(i64) -> i32) -> UtcNanos {
        match self {
            TimeArg::At(ns) => ns,
            TimeArg::Clock { seconds } => {
                let local = night_start_ns + i64::from(offset(night_start_ns)) * NS;
                let midnight = local.div_euclid(SECS_PER_DAY * NS) * SECS_PER_DAY * NS;
                let at = local_to_utc_in(midnight + i64::from(seconds) * NS, offset);
                if at >= night_start_ns {
                    at
                } else {
                    local_to_utc_in(midnight + (SECS_PER_DAY + i64::from(seconds)) * NS, offset)
                }
            }
        }
    }
}

/// The UTC instant whose wall-clock reading in the zone `offset` is `local_ns`: the
/// zone's offset at the answer, found in two steps (exact except inside a DST change's
/// skipped or repeated hour).
fn local_to_utc_in(local_ns: i64, offset: &dyn Fn(i64) -> i32) -> UtcNanos {
    let first = local_ns - i64::from(offset(local_ns)) * NS;
    local_ns - i64::from(offset(first)) * NS
}

/// The UTC instant whose local wall-clock reading is `local_ns`.
fn local_to_utc(local_ns: i64) -> UtcNanos {
    local_to_utc_in(local_ns, &local_offset_s)
}

/// Parses `--from`/`--to`: `21:40` or `21:40:30` (local clock time on the journal's
/// night), `2026-08-12T21:40` (local), `2026-08-12T19:40Z` (UTC),
/// `2026-08-12T21:40+02:00` (that offset; `+0200` too).
pub fn parse_time_arg(text: &str) -> Result<TimeArg, TimeParseError> {
    let err = || TimeParseError::Moment(text.to_string());
    let t = text.trim();
    if !t.contains('-') {
        let mut parts = t.split(':');
        let field = |p: Option<&str>| -> Result<u32, TimeParseError> {
            p.filter(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|p| p.parse().ok())
                .ok_or_else(err)
        };
        let h = field(parts.next())?;
        let m = field(parts.next())?;
        let sec = match parts.next() {
            Some(p) => field(Some(p))?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
            return Err(err());
        }
        return Ok(TimeArg::Clock {
            seconds: h * 3600 + m * 60 + sec,
        });
    }
    if t.ends_with(['Z', 'z']) {
        return parse_utc(&t[..t.len() - 1])
            .map(TimeArg::At)
            .map_err(|_| err());
    }
    // An offset after the time part: the last '+' or '-' after the 'T' (or space).
    let time_at = t.find(['T', ' ']).unwrap_or(t.len());
    if let Some(sign_at) = t[time_at..].rfind(['+', '-']).map(|i| time_at + i) {
        let (base, off) = t.split_at(sign_at);
        let sign: i64 = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let (hh, mm): (i64, i64) = (
            digits[..2].parse().map_err(|_| err())?,
            digits[2..].parse().map_err(|_| err())?,
        );
        if hh > 14 || mm > 59 {
            return Err(err());
        }
        let naive = parse_utc(base).map_err(|_| err())?;
        return Ok(TimeArg::At(naive - sign * (hh * 3600 + mm * 60) * NS));
    }
    let naive = parse_utc(t).map_err(|_| err())?;
    Ok(TimeArg::At(local_to_utc(naive)))
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

    const S: i64 = NS_PER_SEC;

    #[test]
    fn times_typed_for_from_and_to() {
        let utc = parse_utc("2026-08-12T19:40").unwrap();
        assert_eq!(parse_time_arg("2026-08-12T19:40Z"), Ok(TimeArg::At(utc)));
        assert_eq!(
            parse_time_arg("2026-08-12T21:40+02:00"),
            Ok(TimeArg::At(utc))
        );
        assert_eq!(
            parse_time_arg("2026-08-12T15:10-0430"),
            Ok(TimeArg::At(utc))
        );
        assert_eq!(
            parse_time_arg("21:40"),
            Ok(TimeArg::Clock {
                seconds: 21 * 3600 + 40 * 60
            })
        );
        assert_eq!(
            parse_time_arg("2:05:09"),
            Ok(TimeArg::Clock { seconds: 7509 })
        );
        for bad in [
            "24:00",
            "21:60",
            "21",
            "soon",
            "2026-08-12T21:40+2",
            "2026-13-01T00:00",
        ] {
            assert!(parse_time_arg(bad).is_err(), "{bad}");
        }
        // A naive date-time is local: the same instant as UTC moved by the zone.
        let TimeArg::At(local) = parse_time_arg("2026-08-12T21:40").unwrap() else {
            panic!("an instant")
        };
        assert_eq!(
            local + i64::from(local_offset_s(local)) * S,
            parse_utc("2026-08-12T21:40").unwrap()
        );
    }

    #[test]
    fn clock_times_fall_on_the_night_of_the_journal() {
        let start = parse_utc("2026-08-12T21:00").unwrap();
        let clock = |h: u32, m: u32| TimeArg::Clock {
            seconds: h * 3600 + m * 60,
        };
        let utc = |_| 0;
        assert_eq!(
            clock(21, 40).resolve_in(start, &utc),
            parse_utc("2026-08-12T21:40").unwrap()
        );
        assert_eq!(
            clock(2, 0).resolve_in(start, &utc),
            parse_utc("2026-08-13T02:00").unwrap()
        );
        assert_eq!(clock(21, 0).resolve_in(start, &utc), start);
        // Two hours east: the night starts at 23:00 local; 23:30 is that evening, 21:40
        // (before the start) the next evening, 02:00 the morning after.
        let east = |_| 7200;
        assert_eq!(
            clock(23, 30).resolve_in(start, &east),
            parse_utc("2026-08-12T21:30").unwrap()
        );
        assert_eq!(
            clock(21, 40).resolve_in(start, &east),
            parse_utc("2026-08-13T19:40").unwrap()
        );
        assert_eq!(
            clock(2, 0).resolve_in(start, &east),
            parse_utc("2026-08-13T00:00").unwrap()
        );
    }

    #[test]
    fn original_stamps_follow_the_zone() {
        // 2026-08-12 19:30:00 UTC.
        let t = 1_786_563_000 * S;
        assert_eq!(original_stamp(t, true), "20260812193000");
        // The test process's zone is whatever the machine has: the stamp is UTC moved
        // by that zone's offset, and the offset is a whole number of minutes.
        let off = local_offset_s(t);
        assert_eq!(off % 60, 0);
        assert_eq!(
            original_stamp(t, false),
            original_stamp(t + i64::from(off) * S, true)
        );
        assert_eq!(offset_text(7200), "+02:00");
        assert_eq!(offset_text(-16200), "-04:30");
        assert_eq!(offset_text(0), "+00:00");
    }

    #[test]
    fn epoch() {
        assert_eq!(utc_iso(0), "1970-01-01T00:00:00.000");
        assert_eq!(utc_iso_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            utc_iso_micros(1_795_999_500_123_456_789),
            "2026-11-30T00:45:00.123456Z"
        );
        assert_eq!(utc_iso_micros(-1_000), "1969-12-31T23:59:59.999999Z");
        assert_eq!(utc_dash_stamp(0), "19700101-000000");
        assert_eq!(utc_exif(0), "1970:01:01 00:00:00");
    }

    #[test]
    fn known_instants() {
        // 2026-11-24T02:15:00Z = 1795486500 s (date -u -d @1795486500).
        let t = 1_795_486_500 * S + 123_456_789;
        assert_eq!(utc_iso(t), "2026-11-24T02:15:00.123");
        assert_eq!(utc_dash_stamp(t), "20261124-021500");
        // 2000-02-29 (leap day of a century leap year) 12:34:56 = 951827696 s.
        assert_eq!(utc_iso(951_827_696 * S), "2000-02-29T12:34:56.000");
        // The day after 2000-02-28 23:59:59 is the leap day, and 2100 is not a leap year.
        assert_eq!(utc_iso(951_782_399 * S + S), "2000-02-29T00:00:00.000");
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        // 2024-12-31 is day 366 of a leap year: 1735603200 s.
        assert_eq!(utc_dash_stamp(1_735_603_200 * S), "20241231-000000");
    }

    #[test]
    fn before_1970_uses_floor_division() {
        assert_eq!(utc_iso(-1), "1969-12-31T23:59:59.999");
        assert_eq!(utc_iso(-S), "1969-12-31T23:59:59.000");
        assert_eq!(utc_dash_stamp(-86_400 * S), "19691231-000000");
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

#[cfg(test)]
mod parse_tests {
    use super::*;
    const NS: i64 = super::NS;

    #[test]
    fn formats() {
        let t = 1_795_999_500 * NS + 123_000_000;
        assert_eq!(utc_iso(t), "2026-11-30T00:45:00.123");
        assert_eq!(utc_dash_stamp(t), "20261130-004500");
        assert_eq!(utc_short(t), "2026-11-30 00:45:00");
        assert_eq!(utc_iso(951_782_400 * NS), "2000-02-29T00:00:00.000");
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
