//! The detection pass over a journal's frames and the files it writes, for `detect`,
//! `detect --follow`, `capture --detect` and `--clean`: [`find_events`] runs a
//! [`Detector`] over frames in order; `events.jsonl` and `events.csv` are written whole
//! ([`write_events`]) or appended to as events are found ([`EventLog`]); each meteor
//! gets a crop ([`write_meteor_crops`]) and the night a composite ([`write_composite`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::ui::Ui;
use nightcap_detect::{Class, DetectConfig, Detector, Event};
use nightcap_frame::pixels::Image16;
use nightcap_journal::Journal;
use nightcap_stack::night::JournalFrames;
use nightcap_stack::pool::Buffers;
use nightcap_stack::tone::RenderSettings;

/// What a detection pass over some frames found.
pub struct Found {
    /// In time order.
    pub events: Vec<Event>,
    /// What could not be done (runs too short, thresholds raised).
    pub notes: Vec<String>,
    /// Damaged frames skipped (each said on stderr).
    pub skipped: u64,
}

/// Runs the detector over `frames` of `j` in order, with a progress bar; a frame that
/// cannot be read is said and skipped (it breaks the run like a gap).
pub fn find_events(
    j: &Journal,
    frames: &[nightcap_journal::FrameRef],
    cfg: DetectConfig,
    ui: &Ui,
) -> Found {
    let mut detector = Detector::new(cfg);
    let bar = ui.bar(frames.len() as u64, "detect");
    let mut events = Vec::new();
    let mut buf = Buffers::new();
    let mut skipped = 0u64;
    for r in frames {
        match read_frame(j, r, &mut buf) {
            Ok(meta) => {
                events.extend(detector.push(meta.seq, r.time_ns, meta.exposure_us, buf.image()))
            }
            Err(e) => {
                skipped += 1;
                bar.suspend(|| eprintln!("nightcap: skipped damaged frame: {e}"));
                events.extend(detector.skip());
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (rest, notes) = detector.finish();
    events.extend(rest);
    events.sort_by_key(|e| (e.first_seq(), e.frames[0].start_utc_ns));
    Found {
        events,
        notes,
        skipped,
    }
}

/// Decodes frame `r` into `buf` (raw frames straight to samples, with no copy of the
/// camera's bytes); the damage, said in words, when it cannot be read.
pub fn read_frame(
    j: &Journal,
    r: &nightcap_journal::FrameRef,
    buf: &mut Buffers,
) -> Result<nightcap_frame::FrameMeta, String> {
    JournalFrames::decode_into(j, r, buf).map_err(|d| d.to_string())
}

/// `events.jsonl` and `events.csv` being appended to, one complete line per write.
pub struct EventLog {
    jsonl: File,
    csv: File,
    out: PathBuf,
}

impl EventLog {
    /// Opens (creating `out` and the files if missing) for appending; `fresh` empties
    /// files an earlier run left. The CSV gets its header when it is empty.
    pub fn open(out: &Path, fresh: bool) -> anyhow::Result<EventLog> {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let open = |name: &str| {
            let path = out.join(name);
            let mut o = OpenOptions::new();
            if fresh {
                o.write(true).create(true).truncate(true);
            } else {
                o.append(true).create(true);
            }
            o.open(&path)
                .with_context(|| format!("cannot write {}", path.display()))
        };
        let jsonl = open("events.jsonl")?;
        let mut csv = open("events.csv")?;
        let empty = csv.metadata().map(|m| m.len() == 0).unwrap_or(true);
        if empty {
            csv.write_all(format!("{}\n", Event::csv_header()).as_bytes())
                .with_context(|| format!("cannot write {}", out.join("events.csv").display()))?;
        }
        Ok(EventLog {
            jsonl,
            csv,
            out: out.to_path_buf(),
        })
    }

    /// Appends one event to both files.
    pub fn append(&mut self, e: &Event) -> anyhow::Result<()> {
        let out = &self.out;
        self.jsonl
            .write_all(format!("{}\n", e.json()).as_bytes())
            .with_context(|| format!("cannot write {}", out.join("events.jsonl").display()))?;
        self.csv
            .write_all(format!("{}\n", e.csv_row()).as_bytes())
            .with_context(|| format!("cannot write {}", out.join("events.csv").display()))?;
        Ok(())
    }
}

/// `events.jsonl` and `events.csv`, each written whole under a temporary name first.
pub fn write_events(out: &Path, events: &[Event]) -> anyhow::Result<()> {
    let mut jsonl = String::new();
    let mut csv = String::from(Event::csv_header());
    csv.push('\n');
    for e in events {
        jsonl.push_str(&e.json());
        jsonl.push('\n');
        csv.push_str(&e.csv_row());
        csv.push('\n');
    }
    for (name, text) in [("events.jsonl", jsonl), ("events.csv", csv)] {
        let path = out.join(name);
        nightcap_stack::output::write_bytes_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Frames whose median is the composite's sky: few enough in a row that the stars
/// hardly move, enough that a plane or a meteor in one of them is gone.
pub const SKY_FRAMES: usize = 5;

/// `meteors.jpg`: the median of [`SKY_FRAMES`] frames in a row from the middle of
/// `frames`, each meteor's streak pasted onto it from its frames. Returns the meteors
/// drawn.
pub fn write_composite(
    j: &Journal,
    frames: &[nightcap_journal::FrameRef],
    events: &[Event],
    path: &Path,
    render: RenderSettings,
) -> anyhow::Result<u64> {
    let mut buf = Buffers::new();
    let first = (frames.len() / 2).saturating_sub(SKY_FRAMES / 2);
    let sky: Vec<Image16> = frames[first..]
        .iter()
        .take(SKY_FRAMES)
        .filter_map(|r| read_frame(j, r, &mut buf).ok().map(|_| buf.image().clone()))
        .collect();
    let Some(mut composite) = nightcap_stack::products::median_of(&sky) else {
        anyhow::bail!(
            "cannot make {}: the night's frames could not be read, or are of more than one format",
            path.display()
        );
    };
    drop(sky);
    let meteors: Vec<Event> = events
        .iter()
        .filter(|e| e.class == Class::Meteor)
        .cloned()
        .collect();
    let masks = nightcap_detect::mask::masks(&meteors, &[]);
    for r in frames.iter().filter(|r| masks.touches(r.entry.seq)) {
        if read_frame(j, r, &mut buf).is_ok() {
            nightcap_stack::products::paste_max(
                &mut composite,
                buf.image(),
                masks.get(r.entry.seq),
            );
        }
    }
    let mut meta =
        nightcap_stack::select::product_meta("meteor composite", frames, frames.len() as u32);
    meta.cfa = composite.cfa.name().map(str::to_string);
    let mut cfg = nightcap_stack::StackConfig::new(".");
    cfg.format = nightcap_stack::output::image::OutputFormat::Jpeg;
    cfg.render = render;
    nightcap_stack::night::write_stack(path, &composite, &cfg, &meta)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(meteors.len() as u64)
}

/// Margin around a meteor's streak in its crop, pixels.
const CROP_MARGIN: f32 = 48.0;

/// Per meteor, its frames max-stacked and cropped around its streak, rendered as a PNG.
pub fn write_meteor_crops(
    j: &Journal,
    frames: &[nightcap_journal::FrameRef],
    events: &[Event],
    out: &Path,
) -> anyhow::Result<u64> {
    let mut buf = Buffers::new();
    let mut written = 0;
    for e in events.iter().filter(|e| e.class == Class::Meteor) {
        let mut stacked: Option<Image16> = None;
        for f in &e.frames {
            // Frames are in journal order, so by seq.
            let Ok(at) = frames.binary_search_by_key(&f.seq, |r| r.entry.seq) else {
                continue;
            };
            if read_frame(j, &frames[at], &mut buf).is_err() {
                continue;
            }
            let img = buf.image().clone();
            stacked = Some(match stacked {
                None => img,
                Some(mut acc) if acc.same_shape(&img) => {
                    for (a, b) in acc.data.iter_mut().zip(&img.data) {
                        *a = (*a).max(*b);
                    }
                    acc
                }
                Some(acc) => acc,
            });
        }
        let Some(img) = stacked else { continue };
        let xs = e.frames.iter().flat_map(|f| [f.from.0, f.to.0]);
        let ys = e.frames.iter().flat_map(|f| [f.from.1, f.to.1]);
        let (x0, x1) = xs.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (y0, y1) = ys.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let crop = crop(
            &img,
            x0 - CROP_MARGIN,
            y0 - CROP_MARGIN,
            x1 + CROP_MARGIN,
            y1 + CROP_MARGIN,
        );
        let Some(crop) = crop else { continue };
        let shown = nightcap_stack::tone::render(&crop, &Default::default());
        let path = out.join(format!("meteor-{}.png", e.first_seq()));
        let meta = nightcap_stack::output::image::OutputMeta::new("max");
        nightcap_stack::output::image::write_image(
            &path,
            &shown,
            nightcap_stack::output::image::OutputFormat::Png,
            &meta,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
    }
    Ok(written)
}

/// The part of `img` inside the box, clipped to the image, its corner on even
/// coordinates (a mosaic keeps its colour order); `None` when nothing is left.
fn crop(img: &Image16, x0: f32, y0: f32, x1: f32, y1: f32) -> Option<Image16> {
    let (w, h) = (img.width as i64, img.height as i64);
    let clamp = |v: f32, hi: i64| (v.floor() as i64).clamp(0, hi);
    let (ax, ay) = (clamp(x0, w) & !1, clamp(y0, h) & !1);
    let (bx, by) = (clamp(x1, w), clamp(y1, h));
    if bx - ax < 2 || by - ay < 2 {
        return None;
    }
    let (cw, ch) = ((bx - ax) as usize, (by - ay) as usize);
    let chan = usize::from(img.channels);
    let mut out = Image16::zeroed(cw as u32, ch as u32, img.channels, img.cfa, img.bit_depth);
    for y in 0..ch {
        let src = ((ay as usize + y) * w as usize + ax as usize) * chan;
        out.data[y * cw * chan..(y + 1) * cw * chan]
            .copy_from_slice(&img.data[src..src + cw * chan]);
    }
    Some(out)
}
