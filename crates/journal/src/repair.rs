//! `nightcap repair`: makes a journal whole again without losing an intact record, and
//! without ever destroying what it keeps.
//!
//! [`plan`] is the one place that decides what is damaged and what repair does about it;
//! `verify` prints the same plan, so the two never disagree:
//!
//! - [`Fix::Seal`]: a crashed `.active` segment is recovered exactly as the next capture
//!   would (valid prefix kept, damaged tail moved to a `.tail` file) and sealed.
//! - [`Fix::Rewrite`]: a sealed segment with damage is rewritten from its intact records,
//!   byte for byte (no re-encoding; seqs and times kept; a duplicated record once; frames
//!   in seq order). Each run of frames left out becomes a GAP record with reason
//!   "set aside" that accounts for exactly their seq numbers, so the rewritten segment
//!   reads clean and a second repair finds nothing to do.
//! - [`Fix::RebuildHeader`]: a segment whose header cannot be read is rebuilt through
//!   [`super::rebuild`] (every frame must then decode, or the guess is refused), then
//!   rewritten as above. If no rebuilt header works, the file is set aside.
//! - What repair cannot fix (frames missing between segments: a segment deleted or not
//!   copied) is reported by both commands, never "repaired" away.
//!
//! Nothing is thrown away: before a segment is replaced, its original bytes are copied,
//! synced and renamed to `<name>.damaged` (then `.damaged.2`, `.damaged.3`, ...: an
//! existing copy is never overwritten; an identical one is reused). A repair killed at
//! any point leaves the original or its copy, and running repair again is safe.
//!
//! Repair takes the journal lock, so it cannot run while a capture writes the journal.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::codec::Decoder;
use super::error::{Damage, JournalError};
use super::format::{Gap, GapReason, Kind, RecordHeader, SegmentName, SegmentState, HEADER_LEN};
use super::inspect::VerifyReport;
use super::reader::{list_segments, Journal, Segment};
use super::segment::{capacity_for, footer_space, sync_dir, ActiveSegment};
use super::writer::{JournalWriter, WriterConfig};
use nightcap_frame::time::now_utc_ns;

/// The suffix of a kept original (`<segment file>.damaged`, then `.damaged.2`, ...).
pub const KEPT_SUFFIX: &str = "damaged";

/// One thing repair will do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "fix", rename_all = "kebab-case")]
pub enum Fix {
    /// Recover a crashed `.active` segment and seal it.
    Seal {
        /// The segment file.
        segment: PathBuf,
        /// Why it needs recovering.
        why: String,
    },
    /// Rewrite a sealed segment from its intact records.
    Rewrite {
        /// The segment file.
        segment: PathBuf,
        /// What is damaged in it.
        damage: Vec<Damage>,
    },
    /// Rebuild an unreadable header, then rewrite the segment.
    RebuildHeader {
        /// The segment file.
        segment: PathBuf,
        /// What is wrong with its header.
        why: String,
    },
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fix::Seal { segment, why } => write!(f, "seal {} ({why})", segment.display()),
            Fix::Rewrite { segment, damage } => write!(
                f,
                "rewrite {} from its intact records ({} damaged place{})",
                segment.display(),
                damage.len(),
                if damage.len() == 1 { "" } else { "s" }
            ),
            Fix::RebuildHeader { segment, why } => write!(
                f,
                "rebuild the header of {} from its records ({why})",
                segment.display()
            ),
        }
    }
}

/// What repair would do to a journal, and what it cannot do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairPlan {
    /// Every fix, in journal order.
    pub fixes: Vec<Fix>,
    /// Damage no rewrite can mend (frames missing between segments).
    pub cannot_fix: Vec<Damage>,
    /// Originals kept by earlier repairs (informative: not damage).
    pub kept: Vec<PathBuf>,
}

impl RepairPlan {
    /// Whether repair has anything to do.
    pub fn has_fixes(&self) -> bool {
        !self.fixes.is_empty()
    }
}

/// What repair did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairReport {
    /// Active segments recovered and sealed (with what recovery found).
    pub recovered: Vec<String>,
    /// Segments rewritten.
    pub rewritten: Vec<Rewritten>,
    /// Segments whose header could not be rebuilt: moved aside whole (path kept as).
    pub set_aside: Vec<(PathBuf, PathBuf)>,
    /// What repair could not fix.
    pub cannot_fix: Vec<Damage>,
}

/// One rewritten segment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rewritten {
    /// The segment rewritten.
    pub segment: PathBuf,
    /// Intact frames kept.
    pub frames_kept: u64,
    /// Damaged frames set aside (recorded as a GAP).
    pub frames_set_aside: u64,
    /// Whether its header was rebuilt from the records.
    pub header_rebuilt: bool,
    /// Where the original bytes are kept.
    pub original: PathBuf,
}

/// Decides what repair does, from a journal and its verification (see the module docs).
/// `dir` is listed again to find segments the journal could not open.
pub fn plan(
    dir: &Path,
    journal: &Journal,
    report: &VerifyReport,
) -> Result<RepairPlan, JournalError> {
    let mut plan = RepairPlan {
        kept: kept_originals(dir)?,
        ..RepairPlan::default()
    };
    let opened: Vec<&Path> = journal.segments.iter().map(|s| s.path.as_path()).collect();
    let files = list_segments(dir)?;
    let superseded = |name: &SegmentName| {
        files
            .iter()
            .any(|(_, n)| n.segno == name.segno && n.state > name.state)
    };
    for (path, name) in &files {
        if name.state == SegmentState::Tmp || opened.contains(&path.as_path()) || superseded(name) {
            continue;
        }
        let why = journal
            .damage
            .iter()
            .find(|d| d.segment == *path)
            .map_or_else(|| "header unreadable".to_string(), |d| d.what.clone());
        plan.fixes.push(Fix::RebuildHeader {
            segment: path.clone(),
            why,
        });
    }
    let unreadable: Vec<PathBuf> = plan
        .fixes
        .iter()
        .filter_map(|f| match f {
            Fix::RebuildHeader { segment, .. } => Some(segment.clone()),
            _ => None,
        })
        .collect();
    for seg in &journal.segments {
        let damage: Vec<Damage> = report
            .damage
            .iter()
            .filter(|d| d.segment == seg.path)
            .filter(|d| !journal.damage.contains(d))
            .cloned()
            .collect();
        match seg.name.state {
            SegmentState::Active if !damage.is_empty() => plan.fixes.push(Fix::Seal {
                segment: seg.path.clone(),
                why: format!(
                    "left by a capture that did not stop cleanly; {}",
                    damage[0].what
                ),
            }),
            SegmentState::Sealed if !damage.is_empty() => plan.fixes.push(Fix::Rewrite {
                segment: seg.path.clone(),
                damage,
            }),
            _ => {}
        }
    }
    // Journal-level damage: unreadable segments are fixed above; the rest are frames
    // that no segment here holds.
    plan.cannot_fix = journal
        .damage
        .iter()
        .filter(|d| !unreadable.contains(&d.segment))
        .cloned()
        .collect();
    Ok(plan)
}

/// Originals kept by repairs (`*.damaged*`), sorted.
fn kept_originals(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let mut kept = Vec::new();
    for entry in fs::read_dir(dir).map_err(JournalError::io("listing", dir))? {
        let entry = entry.map_err(JournalError::io("listing", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A `.partial` is a copy a killed repair did not finish: not an original.
        if name.contains(&format!(".{KEPT_SUFFIX}")) && !name.ends_with(".partial") {
            kept.push(entry.path());
        }
    }
    kept.sort();
    Ok(kept)
}

/// Repairs the journal in `dir`. See the module docs.
pub fn repair(dir: &Path) -> Result<RepairReport, JournalError> {
    let mut report = RepairReport::default();
    // Crashed active segments are recovered by the writer's own recovery, exactly as the
    // next capture would; the lock it takes is held until the last rewrite. An active
    // segment whose header cannot be read is left for the rebuild below.
    list_segments(dir)?;
    let mut cfg = WriterConfig::new(dir);
    cfg.budget.reserve_bytes = 0;
    cfg.sync_interval = std::time::Duration::ZERO;
    let (_lock, recovery) = JournalWriter::recover(cfg)?;
    report.recovered = recovery.recovered;
    let journal = Journal::open(dir)?;
    let verified = super::inspect::verify(&journal, &|_| {});
    let plan = plan(dir, &journal, &verified)?;
    let neighbours: Vec<_> = journal.segments.iter().map(|s| s.header).collect();
    for fix in &plan.fixes {
        match fix {
            Fix::Rewrite { segment, .. } => {
                let seg = journal
                    .segments
                    .iter()
                    .find(|s| s.path == *segment)
                    .expect("planned from this journal");
                let next = next_first_seq(&journal, seg.name.segno);
                let original = keep_original(segment)?;
                let (kept, set_aside) = rewrite(dir, seg, seg.header, next)?;
                report.rewritten.push(Rewritten {
                    segment: segment.clone(),
                    frames_kept: kept,
                    frames_set_aside: set_aside,
                    header_rebuilt: false,
                    original,
                });
            }
            Fix::RebuildHeader { segment, .. } => {
                let name =
                    SegmentName::parse(&segment.file_name().unwrap_or_default().to_string_lossy())
                        .expect("listed as a segment");
                let next = next_first_seq(&journal, name.segno);
                match rebuild(dir, segment, &name, &neighbours, next)? {
                    Some(done) => report.rewritten.push(done),
                    None => {
                        let original = keep_original(segment)?;
                        fs::remove_file(segment).map_err(JournalError::io("removing", segment))?;
                        sync_dir(dir)?;
                        report.set_aside.push((segment.clone(), original));
                    }
                }
            }
            // Recovered by the writer above; a damaged active segment it could not
            // recover (another process appeared) is reported by the next verify.
            Fix::Seal { .. } => {}
        }
    }
    // What is still missing between segments once every segment is readable again.
    report.cannot_fix = Journal::open(dir)?.damage;
    Ok(report)
}

/// The first seq of the segment after `segno`, if the journal has one.
fn next_first_seq(journal: &Journal, segno: u64) -> Option<u64> {
    journal
        .segments
        .iter()
        .filter(|s| s.name.segno > segno)
        .map(|s| s.header.first_seq)
        .min()
}

/// Copies `path` to a fresh `<path>.damaged[.N]` (written under a temporary name, synced,
/// then renamed), or finds an identical copy already kept. Never overwrites a file.
fn keep_original(path: &Path) -> Result<PathBuf, JournalError> {
    let base = format!("{}.{KEPT_SUFFIX}", path.display());
    for n in 1..10_000u32 {
        let candidate = PathBuf::from(if n == 1 {
            base.clone()
        } else {
            format!("{base}.{n}")
        });
        if candidate.exists() {
            if same_bytes(path, &candidate)? {
                return Ok(candidate);
            }
            continue;
        }
        let partial = PathBuf::from(format!("{}.partial", candidate.display()));
        let _ = fs::remove_file(&partial);
        let copied = (|| {
            let mut src = fs::File::open(path)?;
            let mut dst = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&partial)?;
            std::io::copy(&mut src, &mut dst)?;
            dst.sync_all()
        })();
        copied.map_err(JournalError::io("keeping a copy of", path))?;
        // A hard link cannot replace an existing file: the copy never overwrites one.
        fs::hard_link(&partial, &candidate).map_err(JournalError::io("keeping a copy of", path))?;
        fs::remove_file(&partial).map_err(JournalError::io("removing", &partial))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        return Ok(candidate);
    }
    Err(JournalError::io("keeping a copy of", path)(
        std::io::Error::other("too many kept copies"),
    ))
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> Result<bool, JournalError> {
    let (ma, mb) = (
        fs::metadata(a).map_err(JournalError::io("reading size of", a))?,
        fs::metadata(b).map_err(JournalError::io("reading size of", b))?,
    );
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let mut fa = fs::File::open(a).map_err(JournalError::io("opening", a))?;
    let mut fb = fs::File::open(b).map_err(JournalError::io("opening", b))?;
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba).map_err(JournalError::io("reading", a))?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])
            .map_err(JournalError::io("reading", b))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Rebuilds the header of the unreadable segment `path` and rewrites it as a sealed
/// segment of the same name (the original kept aside); `None` when no candidate header
/// makes every frame decode. Also used by the writer's crash recovery.
pub(crate) fn rebuild(
    dir: &Path,
    path: &Path,
    name: &SegmentName,
    neighbours: &[super::format::SegmentHeader],
    next: Option<u64>,
) -> Result<Option<Rewritten>, JournalError> {
    let candidates = super::rebuild::candidates(path, name, neighbours)?;
    let work = dir.join(format!("{}.rebuild", SegmentName::stem(name.segno, 0)));
    let mut best: Option<(super::format::SegmentHeader, usize)> = None;
    for header in candidates {
        fs::copy(path, &work).map_err(JournalError::io("copying", path))?;
        patch_opening(&work, &header)?;
        let decoded = Segment::open(&work, name.clone())
            .ok()
            .and_then(|seg| all_frames_decode(&seg).then(|| seg.frames().count()));
        if let Some(n) = decoded.filter(|&n| n > 0) {
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((header, n));
            }
        }
    }
    let Some((header, _)) = best else {
        let _ = fs::remove_file(&work);
        return Ok(None);
    };
    // Read through the rebuilt copy; the original is kept before it is replaced.
    fs::copy(path, &work).map_err(JournalError::io("copying", path))?;
    patch_opening(&work, &header)?;
    let seg = Segment::open(&work, name.clone())?;
    let original = keep_original(path)?;
    let (kept, set_aside) = rewrite(dir, &seg, header, next)?;
    if name.state != SegmentState::Sealed {
        // The rewrite sealed it under the same stem; the active original is kept.
        let _ = fs::remove_file(path);
    }
    fs::remove_file(&work).map_err(JournalError::io("removing", &work))?;
    sync_dir(dir)?;
    Ok(Some(Rewritten {
        segment: path.to_path_buf(),
        frames_kept: kept,
        frames_set_aside: set_aside,
        header_rebuilt: true,
        original,
    }))
}

/// Writes `header` over the start of the copy `work`; in a 1.1 segment (a header-copy
/// NOTE of this header at offset 512) also the padding NOTE before it, whose bytes follow
/// from the header: otherwise its zeros would read as the end of an active segment's
/// records.
fn patch_opening(work: &Path, header: &super::format::SegmentHeader) -> Result<(), JournalError> {
    use std::os::unix::fs::FileExt;
    let opening = super::segment::opening_bytes(header).0;
    let at = super::segment::HEADER_COPY_AT as usize;
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(work)
        .map_err(JournalError::io("opening", work))?;
    let mut found = vec![0u8; opening.len() - at];
    let has_copy = f.read_exact_at(&mut found, at as u64).is_ok() && found == opening[at..];
    let end = if has_copy { at } else { HEADER_LEN };
    f.write_all_at(&opening[..end], 0)
        .map_err(JournalError::io("writing", work))
}

/// Whether every frame of `seg` decodes with valid checksums.
fn all_frames_decode(seg: &Segment) -> bool {
    let mut dec = Decoder::new();
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    seg.frames()
        .all(|e| seg.read_frame(e, &mut dec, &mut scratch, &mut out).is_ok())
}

/// Rewrites `seg` (read through `header`) from its intact records into a sealed segment
/// of the same name: frames in seq order, each once, and a set-aside GAP for every run
/// of seqs left out, up to `next` (the next segment's first seq). Returns (frames kept,
/// frames set aside).
fn rewrite(
    dir: &Path,
    seg: &Segment,
    header: super::format::SegmentHeader,
    next: Option<u64>,
) -> Result<(u64, u64), JournalError> {
    let mut dec = Decoder::new();
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    let mut intact: Vec<(RecordHeader, Vec<u8>)> = Vec::new();
    let mut damaged_end = header.first_seq;
    for e in &seg.records {
        let mut payload = Vec::new();
        let ok = match seg.read_record(e, &mut payload) {
            Ok(h) if h.kind == Kind::Frame => seg
                .read_frame(e, &mut dec, &mut scratch, &mut out)
                .is_ok()
                .then_some(h),
            Ok(h) => Some(h),
            Err(_) => None,
        };
        // The opening padding and header copies are the old segment's: the rewrite
        // writes its own.
        let own = |h: &RecordHeader| {
            h.kind == Kind::Note
                && (super::segment::is_padding(&payload)
                    || super::segment::is_header_copy(&payload))
        };
        match ok {
            Some(h) if own(&h) => {}
            Some(h) => intact.push((h, payload)),
            None if e.kind == Kind::Frame => damaged_end = damaged_end.max(e.seq + 1),
            None => {}
        }
    }
    // Frames in seq order, each once; GAPs and NOTEs (whose seq is that of the next
    // frame) before the frame they precede.
    intact.sort_by_key(|(h, _)| (h.seq, h.kind == Kind::Frame));
    let mut seen = std::collections::HashSet::new();
    intact.retain(|(h, _)| h.kind != Kind::Frame || seen.insert(h.seq));
    let frames = intact.iter().filter(|(h, _)| h.kind == Kind::Frame).count() as u64;
    let mut records: Vec<(RecordHeader, Vec<u8>)> = Vec::with_capacity(intact.len() + 4);
    let mut expect = header.first_seq;
    let mut last_end_ns = None;
    let mut set_aside = 0u64;
    let original = seg
        .path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    for (h, payload) in intact {
        if h.kind == Kind::Frame {
            if h.seq > expect {
                set_aside += h.seq - expect;
                records.push(set_aside_gap(
                    expect,
                    h.seq,
                    last_end_ns.unwrap_or(h.time_ns),
                    h.time_ns,
                    &original,
                ));
            }
            expect = expect.max(h.seq + 1);
            last_end_ns = Some(h.time_ns + i64::from(h.exposure_us) * 1000);
        }
        records.push((h, payload));
    }
    let end = next.unwrap_or(0).max(damaged_end);
    if end > expect {
        set_aside += end - expect;
        let t = last_end_ns.unwrap_or(header.created_ns);
        records.push(set_aside_gap(expect, end, t, t, &original));
    }
    let payload_total: u64 = records
        .iter()
        .map(|(_, p)| capacity_for(p.len() as u64))
        .sum();
    let capacity = payload_total + footer_space(records.len() + 1) + HEADER_LEN as u64 + 4096;
    let mut fresh = header;
    fresh.salt = fresh.salt.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut active = ActiveSegment::create(dir, fresh, capacity)?;
    for (h, payload) in &records {
        active.append_copy(*h, payload)?;
    }
    active.seal(now_utc_ns())?;
    Ok((frames, set_aside))
}

/// The GAP record that accounts for frames `from..to` left out of a rewritten segment.
fn set_aside_gap(
    from: u64,
    to: u64,
    start_ns: i64,
    end_ns: i64,
    original: &str,
) -> (RecordHeader, Vec<u8>) {
    let count = to - from;
    let gap = Gap {
        count,
        start_ns,
        end_ns: end_ns.max(start_ns),
        reason: GapReason::SetAside,
        text: format!(
            "frames seq {from}..={} were damaged; repair left them out (the original is kept as {original}.{KEPT_SUFFIX})",
            to - 1
        ),
    };
    let payload = gap.encode();
    let h = RecordHeader::meta_record(Kind::Gap, to, start_ns, &payload, 0);
    (h, payload)
}
