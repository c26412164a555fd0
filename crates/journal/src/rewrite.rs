//! Rewriting a segment from its intact records, the original always kept: what
//! `repair` does to a damaged sealed segment, and what both repair and the writer's crash
//! recovery do to a segment whose header must be rebuilt (from [`crate::rebuild`]'s
//! candidate headers).
//!
//! Before a segment is replaced its original bytes are copied, synced and renamed to
//! `<name>.damaged` (then `.damaged.2`, ...: an existing copy is never overwritten, an
//! identical one is reused). The rewrite keeps every intact record byte for byte and
//! records each run of frames left out as a "set aside" GAP.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::codec::Decoder;
use super::error::JournalError;
use super::format::{Gap, GapReason, Kind, RecordHeader, SegmentName, SegmentState, HEADER_LEN};
use super::reader::Segment;
use super::segment::{capacity_for, footer_space, sync_dir, ActiveSegment};
use nightcap_frame::time::now_utc_ns;

/// The suffix of a kept original (`<segment file>.damaged`, then `.damaged.2`, ...).
pub const KEPT_SUFFIX: &str = "damaged";

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

/// Copies `path` to a fresh `<path>.damaged[.N]` (written under a temporary name, synced,
/// then renamed), or finds an identical copy already kept. Never overwrites a file.
pub(crate) fn keep_original(path: &Path) -> Result<PathBuf, JournalError> {
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
pub(crate) fn rewrite(
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
    // frame) before the frame they precede, a frame's STATS (whose seq is the frame's)
    // right after it, once, and only for a frame kept.
    let rank = |k: Kind| match k {
        Kind::Frame => 1,
        Kind::Stats => 2,
        _ => 0,
    };
    intact.sort_by_key(|(h, _)| (h.seq, rank(h.kind)));
    let mut seen = std::collections::HashSet::new();
    intact.retain(|(h, _)| h.kind != Kind::Frame || seen.insert(h.seq));
    let mut measured = std::collections::HashSet::new();
    intact.retain(|(h, _)| {
        h.kind != Kind::Stats || (seen.contains(&h.seq) && measured.insert(h.seq))
    });
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
