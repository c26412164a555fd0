//! `--clean` of `stack` and `trails`: planes, satellites and whatever else detection
//! finds left out of the images, from a detection pass over the same frames (or an
//! `events.jsonl` of an earlier `nightcap detect`), with `--keep` for the classes to
//! leave in.

use std::path::PathBuf;

use anyhow::Context;

use super::ui::{count, Ui};
use nightcap_detect::{Class, DetectConfig};
use nightcap_frame::mask::FrameMasks;
use nightcap_journal::{FrameRef, Journal};

/// Flags that leave detected streaks out of an image.
#[derive(Debug, Clone, clap::Args)]
pub struct CleanArgs {
    /// Leave out planes, satellites and everything else detection finds (their streaks
    /// are replaced by the sky around them); detection runs over the frames first (about
    /// 0.1 s per 12 MP frame), unless --events gives an earlier `nightcap detect`'s.
    #[arg(long)]
    pub clean: bool,
    /// With --clean: classes to keep in the image, comma-separated: meteors,
    /// satellites, planes, other (`--keep meteors`: star trails with meteors).
    #[arg(long, value_name = "CLASSES", value_delimiter = ',')]
    pub keep: Vec<String>,
    /// With --clean: the events.jsonl of an earlier `nightcap detect` of this journal,
    /// instead of detecting again.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
}

/// Largest events file read.
const MAX_EVENTS_BYTES: u64 = 256 << 20;

impl CleanArgs {
    /// Checks the flags (exit 2 when they do not go together) and returns the classes
    /// to keep.
    pub fn check(&self) -> anyhow::Result<Vec<Class>> {
        if !self.clean && (!self.keep.is_empty() || self.events.is_some()) {
            crate::usage!("--keep and --events go with --clean (e.g. --clean --keep meteors)");
        }
        let mut keep = Vec::new();
        for k in &self.keep {
            let name = k.trim().to_ascii_lowercase();
            let singular = name.strip_suffix('s').unwrap_or(&name);
            match Class::from_name(singular).or_else(|| Class::from_name(&name)) {
                Some(c) => keep.push(c),
                None => crate::usage!(
                    "--keep {k}: not a class: use meteors, satellites, planes or other, comma-separated"
                ),
            }
        }
        Ok(keep)
    }

    /// The masks for `frames` of `journal`, or `None` without --clean. Says what will be
    /// left out.
    pub fn masks(
        &self,
        journal: &Journal,
        frames: &[FrameRef],
        ui: &Ui,
    ) -> anyhow::Result<Option<FrameMasks>> {
        let keep = self.check()?;
        if !self.clean {
            return Ok(None);
        }
        let events = match &self.events {
            Some(path) => {
                let text = super::read_small_text(path, MAX_EVENTS_BYTES)
                    .with_context(|| format!("cannot read the events file {}", path.display()))?;
                nightcap_detect::mask::read_events(&text).map_err(|e| {
                    anyhow::anyhow!(
                        "{} is not an events.jsonl of `nightcap detect`: {e}",
                        path.display()
                    )
                })?
            }
            None => {
                let found =
                    super::detection::find_events(journal, frames, DetectConfig::default(), ui);
                for n in &found.notes {
                    ui.detail(format!("detect: note: {n}"));
                }
                found.events
            }
        };
        let masks = nightcap_detect::mask::masks(&events, &keep);
        let left_out = |c: Class| {
            let n = events.iter().filter(|e| e.class == c).count() as u64;
            let word = match c {
                Class::Meteor => "meteor",
                Class::Satellite => "satellite",
                Class::Plane => "plane",
                Class::Other => "other streak",
            };
            (n > 0 && !keep.contains(&c)).then(|| count(n, word))
        };
        let out: Vec<String> = [Class::Plane, Class::Satellite, Class::Meteor, Class::Other]
            .into_iter()
            .filter_map(left_out)
            .collect();
        let kept: Vec<&str> = keep.iter().map(|c| c.name()).collect();
        let kept = if kept.is_empty() {
            String::new()
        } else {
            format!(" (kept in: {})", kept.join(", "))
        };
        ui.say(if out.is_empty() {
            format!("clean: nothing to leave out{kept}")
        } else {
            format!(
                "clean: {} left out of {}{kept}",
                out.join(", "),
                count(masks.frames() as u64, "frame")
            )
        });
        Ok(Some(masks))
    }
}
