//! `nightcap repair`: makes a journal whole again without losing an intact record.
//!
//! - Active segments left by a crash are recovered exactly as the writer would (valid
//!   prefix kept, damaged tail moved to a `.tail` file) and sealed.
//! - A sealed segment with damage is rewritten from its intact records, byte for byte
//!   (no re-encoding, seqs and times kept); the original is kept beside it as
//!   `<name>.damaged` (a name nightcap ignores) so nothing is ever thrown away.
//!
//! Repair takes the journal lock, so it cannot run while a capture writes the journal.

use std::fs;
use std::path::PathBuf;

use super::codec::{CodecSpec, Compression, Decoder, Transform};
use super::error::JournalError;
use super::format::{Kind, SegmentState};
use super::reader::{list_segments, Journal, Segment};
use super::segment::{capacity_for, footer_space, ActiveSegment};
use super::writer::{now_ns, JournalWriter, WriterConfig};

/// What repair did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairReport {
    /// Active segments recovered and sealed (with what recovery found).
    pub recovered: Vec<String>,
    /// Sealed segments rewritten: (segment, records kept, records dropped, original kept as).
    pub rewritten: Vec<(PathBuf, u64, u64, PathBuf)>,
}

/// Repairs the journal in `dir`. See the module docs.
pub fn repair(dir: &std::path::Path) -> Result<RepairReport, JournalError> {
    let mut report = RepairReport::default();
    let files = list_segments(dir)?;
    // Recover active segments through the writer (which holds the lock while it runs).
    if let Some((path, name)) = files
        .iter()
        .rev()
        .find(|(_, n)| n.state == SegmentState::Active)
    {
        let format = match Segment::open(path, name.clone()) {
            Ok(seg) => seg.header.format,
            Err(_) => files
                .iter()
                .find_map(|(p, n)| Segment::open(p, n.clone()).ok())
                .map(|s| s.header.format)
                .unwrap_or(crate::frame::PixelFormat {
                    fourcc: *b"NONE",
                    width: 1,
                    height: 1,
                    stride: 1,
                    bit_depth: 8,
                    cfa: crate::frame::Cfa::None,
                    packing: crate::frame::Packing::U8,
                }),
        };
        let mut cfg = WriterConfig::new(dir);
        cfg.budget.reserve_bytes = 0;
        let writer = JournalWriter::open(cfg, format)?;
        report.recovered = writer.stats().recovered.clone();
        writer.close()?;
    }
    let _lock_guard = {
        let mut cfg = WriterConfig::new(dir);
        cfg.budget.reserve_bytes = 0;
        cfg.sync_interval = std::time::Duration::ZERO;
        // Any format: the writer only holds the lock here; it creates no segment.
        JournalWriter::open(
            cfg,
            crate::frame::PixelFormat {
                fourcc: *b"LOCK",
                width: 1,
                height: 1,
                stride: 1,
                bit_depth: 8,
                cfa: crate::frame::Cfa::None,
                packing: crate::frame::Packing::U8,
            },
        )?
    };
    let journal = Journal::open(dir)?;
    for seg in &journal.segments {
        if seg.name.state != SegmentState::Sealed {
            continue;
        }
        if let Some(r) = rewrite_if_damaged(dir, seg)? {
            report.rewritten.push(r);
        }
    }
    Ok(report)
}

/// Rewrites `seg` from its intact records when any of them is damaged or its footer was.
fn rewrite_if_damaged(
    dir: &std::path::Path,
    seg: &Segment,
) -> Result<Option<(PathBuf, u64, u64, PathBuf)>, JournalError> {
    let mut dec = Decoder::new();
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    let mut intact = Vec::new();
    let mut dropped = 0u64;
    for e in &seg.records {
        let mut payload = Vec::new();
        let ok = match seg.read_record(e, &mut payload) {
            Ok(h) if h.kind == Kind::Frame => {
                let spec = CodecSpec {
                    transform: Transform::from_code(h.transform).unwrap_or(Transform::None),
                    compression: Compression::from_code(h.compression)
                        .unwrap_or(Compression::Stored),
                };
                let known = Transform::from_code(h.transform).is_some()
                    && Compression::from_code(h.compression).is_some();
                scratch.clone_from(&payload);
                (!known
                    || dec
                        .decode(
                            spec,
                            &seg.header.format,
                            &scratch,
                            h.raw_len as usize,
                            &mut out,
                        )
                        .is_ok())
                .then_some(h)
            }
            Ok(h) => Some(h),
            Err(_) => None,
        };
        match ok {
            Some(h) => intact.push((h, payload)),
            None => dropped += 1,
        }
    }
    if dropped == 0 && seg.damage.is_empty() {
        return Ok(None);
    }
    let aside = seg.path.with_extension("seg.damaged");
    fs::copy(&seg.path, &aside).map_err(JournalError::io("keeping a copy of", &seg.path))?;
    // Durable before the rewrite replaces the original: a power cut must not leave the
    // rewrite (without the damaged records) and an empty copy of the original.
    fs::File::open(&aside)
        .and_then(|f| f.sync_all())
        .map_err(JournalError::io("syncing", &aside))?;
    let payload_total: u64 = intact
        .iter()
        .map(|(_, p)| capacity_for(p.len() as u64))
        .sum();
    let capacity = payload_total + footer_space(intact.len() + 1) + 4096;
    let mut header = seg.header;
    header.salt = header.salt.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut active = ActiveSegment::create(dir, header, capacity)?;
    for (h, payload) in &intact {
        active.append_copy(*h, payload)?;
    }
    let sealed = active.seal(now_ns())?;
    Ok(Some((sealed, intact.len() as u64, dropped, aside)))
}
