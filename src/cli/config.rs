//! `--config FILE`: capture settings from a TOML file (for the systemd service), merged
//! under the command line.
//!
//! The file holds a `[capture]` table whose keys are the long names of the capture flags
//! with `_` for `-` (`ring_size = "20G"`, `exposure = 5000`, `for = "8h"`). Values take the
//! same forms as on the command line: sizes and durations as strings (`"256M"`, `"15m"`),
//! or plain numbers (bytes, seconds); paths are relative to the working directory, as
//! flags are.
//!
//! Promises:
//! - precedence is command line > file > built-in default: a file value replaces a
//!   setting only when clap reports that setting did not come from the command line
//!   ([`clap::ArgMatches::value_source`]);
//! - an unknown table or key, a value of the wrong type or a value that does not parse is
//!   an error naming the file, the line and the key (`capture.ring_size`), on one line;
//!   nothing is silently ignored.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::{Deserialize, Deserializer};

use super::args::{parse_bytes, parse_fourcc, parse_size, parse_source, SourceSpec};
use super::capture::CaptureArgs;
use crate::capture::pipeline::CameraLost;
use nightcap_frame::sun::Place;
use nightcap_frame::time::{parse_duration, parse_utc};
use nightcap_source::sim::Rates;
use nightcap_stack::tone::Drc;

/// The whole file. Tables for other commands can be added beside `capture`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub capture: Option<CaptureSettings>,
}

/// Declares the capture settings of the file once: from the one list come the
/// [`CaptureSettings`] the file is read into, the key list [`CAPTURE_KEYS`] and
/// [`apply_capture`]. Each row: the [`CaptureArgs`] field (which is also its clap id), the
/// key (the flag's long name with `_` for `-`), the type, the function reading the
/// value, and `value` for flags with a default or `opt` for optional ones. A test checks
/// the list against the capture command's flags, so a new flag cannot be left out.
macro_rules! capture_settings {
    ($(($field:ident, $key:literal, $ty:ty, $read:literal, $how:ident)),* $(,)?) => {
        /// Every capture flag (except testing aids), each optional: absent means "not set
        /// here".
        #[derive(Debug, Default, Clone, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct CaptureSettings {
            $(
                #[serde(rename = $key, default, deserialize_with = $read)]
                pub $field: Option<$ty>,
            )*
        }

        /// Keys of `[capture]`, in the order of `nightcap capture --help`.
        pub const CAPTURE_KEYS: &[&str] = &[$($key),*];

        /// The [`CaptureArgs`] field (clap id) of each key of [`CAPTURE_KEYS`].
        #[cfg(test)]
        const CAPTURE_FIELDS: &[&str] = &[$(stringify!($field)),*];

        /// Applies the file's settings to `args` wherever `matches` (the capture
        /// subcommand's) says the value did not come from the command line. Returns the
        /// keys applied.
        pub fn apply_capture(
            file: &CaptureSettings,
            args: &mut CaptureArgs,
            matches: &ArgMatches,
        ) -> Vec<&'static str> {
            let mut applied = Vec::new();
            $(
                let from_cli =
                    matches.value_source(stringify!($field)) == Some(ValueSource::CommandLine);
                if file.$field.is_some() && !from_cli {
                    applied.push($key);
                    capture_settings!(@set $how, args.$field, file.$field);
                }
            )*
            applied
        }
    };
    (@set value, $dst:expr, $src:expr) => {
        $dst = $src.clone().expect("checked present")
    };
    (@set opt, $dst:expr, $src:expr) => {
        $dst = $src.clone()
    };
}

capture_settings! {
    (source, "source", SourceSpec, "source", value),
    (exposure, "exposure", u32, "plain", value),
    (live_every_s, "duration", u32, "plain", value),
    (fileprefix, "fileprefix", String, "plain", value),
    (live_budget, "live_budget", u64, "size", value),
    (caption, "caption", String, "plain", opt),
    (utc, "utc", bool, "plain", value),
    (hot_pixels, "hot_pixels", bool, "plain", value),
    (dark, "dark", PathBuf, "plain", opt),
    (detect, "detect", PathBuf, "plain", opt),
    (drc, "drc", String, "drc", value),
    (gain, "gain", f64, "plain", opt),
    (pixel_format, "pixel_format", [u8; 4], "fourcc", opt),
    (size, "size", (u32, u32), "frame_size", opt),
    (camera_lost, "camera_lost", String, "camera_lost", value),
    (journal, "journal", PathBuf, "plain", value),
    (ring_size, "ring_size", u64, "size", opt),
    (reserve, "reserve", u64, "size", value),
    (segment_size, "segment_size", u64, "size", value),
    (segment_time, "segment_time", i64, "duration_ns", value),
    (zstd_level, "zstd_level", i32, "plain", value),
    (workers, "workers", usize, "plain", opt),
    (buffers, "buffers", usize, "plain", opt),
    (frames, "frames", u64, "plain", opt),
    (run_for, "for", i64, "duration_ns", opt),
    (json, "json", bool, "plain", value),
    (sim_sensor, "sim_sensor", String, "plain", value),
    (sim_speed, "sim_speed", f64, "plain", value),
    (seed, "seed", u64, "plain", value),
    (sim_start, "sim_start", i64, "utc", opt),
    (sim_clouds, "sim_clouds", bool, "plain", value),
    (sim_faults, "sim_faults", String, "plain", opt),
    (sim_rates, "sim_rates", Rates, "rates", opt),
    (utc_offset, "utc_offset", f64, "plain", value),
    (status, "status", String, "listen", opt),
    (night, "night", Place, "place", opt),
    (dark_below, "dark_below", f64, "altitude", value),
    (health_every, "health_every", i64, "duration_ns", value),
    (on_alarm, "on_alarm", String, "on_alarm", value),
    (min_runway, "min_runway", f64, "plain", value),
}

/// Why a config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The I/O error is shown, not chained: the hint here is more precise than a generic one.
    #[error("cannot read config file {}: {error} (check the path given to --config)", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {}{}: {problem}{}", path.display(), line_text(*line), hint_text(key))]
    Invalid {
        path: PathBuf,
        /// 1-based line of the problem, when the parser located it.
        line: Option<usize>,
        /// The offending key, `table.key` when inside a table.
        key: Option<String>,
        problem: String,
    },
}

fn line_text(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

fn hint_text(key: &Option<String>) -> String {
    match key {
        Some(k) => format!(" (fix or remove `{k}`; `nightcap capture --help` lists the settings)"),
        None => " (see scripts/nightcap.toml for an example)".to_string(),
    }
}

/// Largest config file read (a real one is a few hundred bytes).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Reads and checks a config file: a regular file (a FIFO or device would block or never
/// end) of at most [`MAX_CONFIG_BYTES`], opened without waiting.
pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let read_error = |error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(read_error(std::io::Error::other(
            "not a regular file (a FIFO, device or directory)",
        )));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(read_error(std::io::Error::other(format!(
            "larger than {MAX_CONFIG_BYTES} bytes, which no nightcap config needs"
        ))));
    }
    parse(path, &text)
}

/// Parses the text of a config file (`path` is only used in messages).
pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, key) = locate(text, e.span(), e.message());
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            problem: problem_text(e.message(), key.as_deref()),
            key,
        }
    })
}

/// The 1-based line of `span` and the key it belongs to, qualified by its `[table]`.
fn locate(
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> (Option<usize>, Option<String>) {
    let Some(start) = span.map(|s| s.start.min(text.len())) else {
        return (None, None);
    };
    let before = text.get(..start).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let bare = unknown_field(message).map(str::to_string).or_else(|| {
        // A bad value: the key is the name before the `=` that precedes it.
        let head = text.get(line_start..start)?.trim_end().strip_suffix('=')?;
        let head = head.trim_end();
        let name_start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |i| i + 1);
        Some(head[name_start..].to_string()).filter(|k| !k.is_empty())
    });
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .and_then(|l| l.trim_start_matches('[').split(']').next())
        .map(str::trim);
    let key = bare.map(|k| match table {
        Some(t) if !t.is_empty() && k != t => format!("{t}.{k}"),
        _ => k,
    });
    (Some(line_no), key)
}

/// `unknown field `x`, expected ...` → `x`.
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")?
        .split('`')
        .next()
        .filter(|k| !k.is_empty())
}

/// The parser's message, shortened for unknown keys (which otherwise list every field)
/// and made one line.
fn problem_text(message: &str, key: Option<&str>) -> String {
    if let Some(bad) = unknown_field(message) {
        let known = known_keys(key.unwrap_or(bad));
        let wanted = bad.replace('-', "_");
        return match known.iter().find(|k| **k == wanted) {
            Some(k) => format!("unknown key `{bad}`; did you mean `{k}`?"),
            None => format!("unknown key `{bad}`; known keys: {}", known.join(", ")),
        };
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The keys allowed beside `key` (top-level tables, or the capture settings).
fn known_keys(key: &str) -> &'static [&'static str] {
    if key.contains('.') {
        CAPTURE_KEYS
    } else {
        &["capture"]
    }
}

/// A value written as a string (parsed like the flag) or as a plain number.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber {
    Text(String),
    Int(i64),
    Float(f64),
}

impl TextOrNumber {
    /// The number as text, so that `parse` (the flag's own parser) reads it.
    fn into_text(self) -> String {
        match self {
            TextOrNumber::Text(t) => t,
            TextOrNumber::Int(i) => i.to_string(),
            TextOrNumber::Float(f) => f.to_string(),
        }
    }
}

fn parsed<'de, D, T, E>(d: D, parse: impl Fn(&str) -> Result<T, E>) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    E: std::fmt::Display,
{
    let text = TextOrNumber::deserialize(d)
        .map_err(|_| serde::de::Error::custom("expected a string or a number"))?
        .into_text();
    parse(&text).map(Some).map_err(serde::de::Error::custom)
}

/// A value of the setting's own type, as TOML has it.
fn plain<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn fourcc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 4]>, D::Error> {
    let text = String::deserialize(d)?;
    parse_fourcc(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn frame_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u32, u32)>, D::Error> {
    let text = String::deserialize(d)?;
    parse_size(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    parsed(d, parse_bytes)
}

fn duration_ns<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    parsed(d, parse_duration)
}

fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    parsed(d, parse_utc)
}

fn source<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SourceSpec>, D::Error> {
    let text = String::deserialize(d)?;
    parse_source(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn drc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    match Drc::from_name(&text) {
        Some(drc) => Ok(Some(drc.name().to_string())),
        None => Err(serde::de::Error::custom(format!(
            "'{text}' is not a DRC setting: use off, low, medium or high"
        ))),
    }
}

fn rates<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rates>, D::Error> {
    parsed(d, super::capture::parse_rates)
}

fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parsed(d, super::serve::parse_listen)
}

fn place<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Place>, D::Error> {
    parsed(d, super::night::parse_place)
}

/// `"nautical"` or a number of degrees (`-15` or `"-15"`).
fn altitude<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    parsed(d, super::night::parse_altitude)
}

fn on_alarm<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    match crate::status::health::OnAlarm::from_name(&text) {
        Some(_) => Ok(Some(text)),
        None => Err(serde::de::Error::custom(format!(
            "'{text}' is not an on_alarm setting: use warn or exit"
        ))),
    }
}

fn camera_lost<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    match CameraLost::from_name(&text) {
        Some(c) => Ok(Some(c.name().to_string())),
        None => Err(serde::de::Error::custom(format!(
            "'{text}' is not a camera_lost setting: use wait or stop"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, FromArgMatches};

    fn parse_text(text: &str) -> Result<ConfigFile, ConfigError> {
        parse(Path::new("/etc/nightcap/nightcap.toml"), text)
    }

    /// Parses `nightcap capture ARGS`, applies `text`, returns the merged args.
    fn merged(text: &str, args: &[&str]) -> (CaptureArgs, Vec<&'static str>) {
        let argv = ["nightcap", "capture"].iter().chain(args);
        let matches = Cli::command().get_matches_from(argv);
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let Command::Capture(mut a) = cli.command else {
            panic!("not capture")
        };
        let file = parse_text(text).unwrap().capture.unwrap_or_default();
        let sub = matches.subcommand_matches("capture").unwrap();
        let applied = apply_capture(&file, &mut a, sub);
        (a, applied)
    }

    #[test]
    fn every_capture_flag_is_a_key_of_the_file_and_nothing_else_is() {
        let cmd = Cli::command();
        let capture = cmd.find_subcommand("capture").unwrap();
        let flags: Vec<String> = capture
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "help")
            .map(|l| l.replace('-', "_"))
            .collect();
        assert_eq!(
            flags, CAPTURE_KEYS,
            "the [capture] keys are the flags, in --help order"
        );
        // Each key's row names the field clap fills for that flag, so a file value lands
        // where the flag's would (and the command line's value is seen to win).
        let ids: Vec<&str> = capture
            .get_arguments()
            .filter(|a| !a.is_hide_set() && a.get_long().is_some_and(|l| l != "help"))
            .map(|a| a.get_id().as_str())
            .collect();
        assert_eq!(ids, CAPTURE_FIELDS);
    }

    #[test]
    fn file_values_apply() {
        let (a, applied) = merged(
            "[capture]\nsource = \"v4l2:/dev/video2\"\nexposure = 20000\nring_size = \"20G\"\n\
             reserve = 1048576\nsegment_time = \"5m\"\nfor = 3600\ndrc = \"HIGH\"\n\
             sim_clouds = true\ngain = 2.5\n",
            &[],
        );
        assert_eq!(a.source, SourceSpec::V4l2("/dev/video2".into()));
        assert_eq!(a.exposure, 20000);
        assert_eq!(a.ring_size, Some(20 << 30));
        assert_eq!(a.reserve, 1 << 20);
        assert_eq!(a.segment_time, 300_000_000_000);
        assert_eq!(a.run_for, Some(3_600_000_000_000));
        assert_eq!(a.drc, "high");
        assert!(a.sim_clouds);
        assert_eq!(a.gain, Some(2.5));
        // Untouched settings keep their defaults.
        assert_eq!(a.segment_size, 256 << 20);
        assert_eq!(a.journal, PathBuf::from("./journal"));
        assert_eq!(applied.len(), 9);
    }

    #[test]
    fn flags_override_the_file() {
        let text = "[capture]\nexposure = 20000\nring_size = \"20G\"\njournal = \"/data/j\"\nsim_clouds = false\n";
        let (a, applied) = merged(text, &["-e", "5000", "--ring-size", "1G", "--sim-clouds"]);
        assert_eq!(a.exposure, 5000);
        assert_eq!(a.ring_size, Some(1 << 30));
        assert!(a.sim_clouds);
        // A flag that merely has a default does not count as given.
        assert_eq!(a.journal, PathBuf::from("/data/j"));
        assert_eq!(applied, ["journal"]);
        // A flag equal to its default still counts as given on the command line.
        let (a, _) = merged(text, &["--exposure", "5000"]);
        assert_eq!(a.exposure, 5000);
    }

    #[test]
    fn a_config_that_is_not_a_small_regular_file_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = load(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = load(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "# x\n".repeat(20_000)).unwrap();
        let e = load(&big).unwrap_err().to_string();
        assert!(e.contains("larger than 65536 bytes"), "{e}");
    }

    #[test]
    fn every_key_reaches_its_flag() {
        let text = "[capture]\nsource = \"images:/frames\"\nexposure = 1\nduration = 2\n\
            fileprefix = \"/p/img\"\nlive_budget = \"1G\"\ncaption = \"garden\"\nutc = true\nhot_pixels = true\ndark = \"/darks\"\ndetect = \"/events\"\ndrc = \"low\"\ngain = 3.0\npixel_format = \"Y10\"\nsize = \"640x480\"\ncamera_lost = \"stop\"\njournal = \"/j\"\n\
            ring_size = 4\nreserve = 5\nsegment_size = 6\nsegment_time = 7\nzstd_level = -3\n\
            workers = 8\nbuffers = 3\nframes = 9\nfor = 10\njson = true\nsim_sensor = \"tiny\"\n\
            sim_speed = 0\nseed = 11\nsim_start = \"2026-01-02T03:04:05Z\"\nsim_clouds = true\n\
            sim_faults = \"timeout@1\"\nsim_rates = \"60,20,5\"\nutc_offset = -2.5\n\
            status = 8081\nnight = \"44.82,20.46\"\ndark_below = \"astronomical\"\n\
            health_every = \"5m\"\non_alarm = \"exit\"\nmin_runway = 6.0\n";
        let (a, applied) = merged(text, &[]);
        assert_eq!(applied, CAPTURE_KEYS);
        assert_eq!(a.status.as_deref(), Some("127.0.0.1:8081"));
        assert_eq!(a.night.map(|p| (p.lat, p.lon)), Some((44.82, 20.46)));
        assert_eq!(a.dark_below, -18.0);
        assert_eq!(a.health_every, 300_000_000_000);
        assert_eq!((a.on_alarm.as_str(), a.min_runway), ("exit", 6.0));
        assert_eq!(a.source, SourceSpec::Images("/frames".into()));
        assert_eq!((a.exposure, a.live_every_s), (1, 2));
        assert_eq!(a.fileprefix, "/p/img");
        assert_eq!(a.live_budget, 1 << 30);
        assert_eq!(a.caption.as_deref(), Some("garden"));
        assert!(a.utc && a.hot_pixels);
        assert_eq!(a.dark, Some(PathBuf::from("/darks")));
        assert_eq!(a.detect, Some(PathBuf::from("/events")));
        assert_eq!(a.drc, "low");
        assert_eq!(a.gain, Some(3.0));
        assert_eq!((a.pixel_format, a.size), (Some(*b"Y10 "), Some((640, 480))));
        assert_eq!(a.camera_lost, "stop");
        assert_eq!(a.sim_rates.map(|r| r.planes_per_hour), Some(5.0));
        assert_eq!(a.journal, PathBuf::from("/j"));
        assert_eq!((a.ring_size, a.reserve, a.segment_size), (Some(4), 5, 6));
        assert_eq!(a.segment_time, 7_000_000_000);
        assert_eq!(a.zstd_level, -3);
        assert_eq!(
            (a.workers, a.buffers, a.frames),
            (Some(8), Some(3), Some(9))
        );
        assert_eq!(a.run_for, Some(10_000_000_000));
        assert!(a.json && a.sim_clouds);
        assert_eq!(a.sim_sensor, "tiny");
        assert_eq!((a.sim_speed, a.seed), (0.0, 11));
        assert_eq!(
            a.sim_start,
            Some(parse_utc("2026-01-02T03:04:05Z").unwrap())
        );
        assert_eq!(a.sim_faults.as_deref(), Some("timeout@1"));
        assert_eq!(a.utc_offset, -2.5);
    }

    #[test]
    fn unknown_keys_name_themselves() {
        let err = parse_text("[capture]\nexposure = 5000\nring-size = \"20G\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/etc/nightcap/nightcap.toml, line 3: unknown key `ring-size`; did you mean `ring_size`?"),
            "{text}"
        );
        assert!(text.contains("fix or remove `capture.ring-size`"), "{text}");
        assert!(!text.contains('\n'));
        let err = parse_text("[captur]\nexposure = 5000\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1: unknown key `captur`; known keys: capture"),
            "{err}"
        );
        let err = parse_text("[capture]\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key `bogus`; known keys: source, exposure"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (
                "[capture]\nring_size = \"20X\"\n",
                "line 2",
                "capture.ring_size",
                "'20X' is not a size",
            ),
            (
                "[capture]\n\nexposure = \"long\"\n",
                "line 3",
                "capture.exposure",
                "invalid type",
            ),
            (
                "[capture]\nsegment_time = \"soon\"\n",
                "line 2",
                "capture.segment_time",
                "not a duration",
            ),
            (
                "[capture]\nsource = \"usb\"\n",
                "line 2",
                "capture.source",
                "is not a source",
            ),
            (
                "[capture]\ndrc = \"max\"\n",
                "line 2",
                "capture.drc",
                "not a DRC setting",
            ),
            (
                "[capture]\ncamera_lost = \"retry\"\n",
                "line 2",
                "capture.camera_lost",
                "use wait or stop",
            ),
            (
                "capture = { frames = -1 }\n",
                "line 1",
                "frames",
                "invalid value",
            ),
            (
                "[capture]\nring_size = [1]\n",
                "line 2",
                "capture.ring_size",
                "expected a string or a number",
            ),
        ];
        for (text, line, key, problem) in cases {
            let err = parse_text(text).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(line) && msg.contains(problem), "{text}: {msg}");
            assert!(
                msg.contains(&format!("fix or remove `{key}`")),
                "{text}: {msg}"
            );
            assert!(!msg.contains('\n'), "{msg}");
            assert!(matches!(err, ConfigError::Invalid { key: Some(_), .. }));
        }
        let err = parse_text("[capture\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && !err.contains('\n'), "{err}");
    }

    #[test]
    fn the_shipped_default_config_is_valid() {
        let text = include_str!("../../scripts/nightcap.toml");
        let file = parse_text(text).unwrap();
        let c = file.capture.unwrap();
        assert!(matches!(c.source, Some(SourceSpec::V4l2(_))));
        assert!(c.journal.unwrap().is_absolute());
    }

    #[test]
    fn missing_file_is_reported_with_its_path() {
        let err = load(Path::new("/nonexistent/nightcap.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/nightcap.toml") && err.contains("--config"));
    }
}
