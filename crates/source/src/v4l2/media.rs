//! Media-controller graphs: which sensor feeds a capture node, and what to set up so the
//! node streams the sensor's raw frames.
//!
//! On the libcamera-era Raspberry Pi stack a capture node is one entity of a media graph:
//! sensor → node on a Pi 0–4 with the downstream `unicam` driver, sensor → `unicam`
//! receiver → node with the mainline one, and sensor → `csi2` receiver → node on a Pi 5
//! (`rp1-cfe`, one graph per camera port), where the receiver's output also has links
//! to the PiSP front end that libcamera enables. Nothing streams unless the links of the
//! path are enabled, every other enabled node of the graph streams too (rp1-cfe waits for
//! all of them), and the pad formats along the path match the sensor's mode.
//!
//! The decisions here are pure, and tested against graphs written down from the Pi
//! kernels (`topologies/`): [`Topology`] is the graph as the kernel reports it
//! (`MEDIA_IOC_G_TOPOLOGY`, read by [`super::media_io`]); [`route`] finds the sensor
//! upstream of a capture node; [`choose_mode`] picks the sensor mode; [`plan`] lists the
//! links to disable and enable and the pad formats to set, in order. The plan is what
//! `media-ctl -r` followed by `-l` and `-V` would do by hand.

use super::formats::{mbus_code_info, SensorMode};

/// `MEDIA_ENT_F_CAM_SENSOR`.
pub const ENT_F_CAM_SENSOR: u32 = 0x0002_0001;
/// `MEDIA_ENT_F_IO_V4L`: a video node, an end of a path, never a step on one.
pub const ENT_F_IO_V4L: u32 = 0x0001_0001;
/// `MEDIA_PAD_FL_SINK`.
pub const PAD_FL_SINK: u32 = 1;
/// `MEDIA_PAD_FL_SOURCE`.
pub const PAD_FL_SOURCE: u32 = 2;
/// `MEDIA_LNK_FL_ENABLED`.
pub const LNK_FL_ENABLED: u32 = 1;
/// `MEDIA_LNK_FL_IMMUTABLE`.
pub const LNK_FL_IMMUTABLE: u32 = 2;
/// The link-type bits of a link's flags (`MEDIA_LNK_FL_LINK_TYPE`); 0 is a data link.
pub const LNK_FL_LINK_TYPE: u32 = 0xf << 28;

/// Longest path searched from a node back to its sensor (entities crossed).
const MAX_HOPS: usize = 8;

/// One entity of a media graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub id: u32,
    pub name: String,
    /// `MEDIA_ENT_F_*`.
    pub function: u32,
    /// The character device (major, minor) of its interface, if it has one.
    pub devnode: Option<(u32, u32)>,
}

/// One pad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pad {
    pub id: u32,
    pub entity: u32,
    pub index: u32,
    /// `MEDIA_PAD_FL_*`.
    pub flags: u32,
}

/// One data link, from a source pad to a sink pad (pad ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub source: u32,
    pub sink: u32,
    /// `MEDIA_LNK_FL_*`.
    pub flags: u32,
}

/// A media graph: its entities, pads and data links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub entities: Vec<Entity>,
    pub pads: Vec<Pad>,
    pub links: Vec<Link>,
}

/// A pad by its entity and index, as `media-ctl` names it (`"csi2":4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PadRef {
    pub entity: u32,
    pub index: u32,
}

/// A data link by its end points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub source: PadRef,
    pub sink: PadRef,
    pub enabled: bool,
    pub immutable: bool,
}

/// The path from a sensor to a capture node, sensor first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The sensor entity.
    pub sensor: u32,
    pub hops: Vec<Hop>,
}

/// What to do to a graph so a node streams a sensor mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlan {
    /// Enabled links off the path, to disable first (other nodes would have to stream
    /// too, and links to the ISP take the receiver's output).
    pub disable: Vec<Hop>,
    /// Links of the path that are not enabled yet.
    pub enable: Vec<Hop>,
    /// Pad formats in the order to set them: the sensor's source pad, then each
    /// receiver's sink and source pad.
    pub formats: Vec<(PadRef, SensorMode)>,
}

/// Why a graph gives no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("entity {0} is not in the media graph")]
    NoEntity(u32),
    #[error("no camera sensor feeds {0} in its media graph")]
    NoSensor(String),
}

impl Topology {
    /// The entity with id `id`.
    pub fn entity(&self, id: u32) -> Option<&Entity> {
        self.entities.iter().find(|e| e.id == id)
    }

    /// The entity whose interface is the character device (major, minor).
    pub fn entity_by_devnode(&self, devnode: (u32, u32)) -> Option<&Entity> {
        self.entities.iter().find(|e| e.devnode == Some(devnode))
    }

    /// The entity named `name`.
    pub fn entity_by_name(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }

    /// The name of entity `id`, or its number.
    pub fn name(&self, id: u32) -> String {
        self.entity(id)
            .map_or_else(|| format!("entity {id}"), |e| e.name.clone())
    }

    fn pad(&self, id: u32) -> Option<&Pad> {
        self.pads.iter().find(|p| p.id == id)
    }

    /// Every data link as end points (links naming unknown pads are left out).
    pub fn hops(&self) -> Vec<Hop> {
        self.links
            .iter()
            .filter(|l| l.flags & LNK_FL_LINK_TYPE == 0)
            .filter_map(|l| {
                let (s, k) = (self.pad(l.source)?, self.pad(l.sink)?);
                Some(Hop {
                    source: PadRef {
                        entity: s.entity,
                        index: s.index,
                    },
                    sink: PadRef {
                        entity: k.entity,
                        index: k.index,
                    },
                    enabled: l.flags & LNK_FL_ENABLED != 0,
                    immutable: l.flags & LNK_FL_IMMUTABLE != 0,
                })
            })
            .collect()
    }
}

/// The route from the sensor that feeds `node` (an entity id) to it. Of several, the one
/// needing the fewest links enabled, then the shortest, then the one from the sensor's
/// lowest source pad (its image pad: the others carry metadata) wins.
pub fn route(t: &Topology, node: u32) -> Result<Route, MediaError> {
    let Some(end) = t.entity(node) else {
        return Err(MediaError::NoEntity(node));
    };
    let hops = t.hops();
    let mut best: Option<(usize, usize, u32, Vec<Hop>)> = None;
    let mut path = Vec::new();
    search(t, &hops, node, &mut path, &mut best);
    match best {
        Some((_, _, _, mut found)) => {
            found.reverse();
            Ok(Route {
                sensor: found[0].source.entity,
                hops: found,
            })
        }
        None => Err(MediaError::NoSensor(end.name.clone())),
    }
}

/// Depth-first search upstream from `at`; `path` holds the hops from the node back.
fn search(
    t: &Topology,
    hops: &[Hop],
    at: u32,
    path: &mut Vec<Hop>,
    best: &mut Option<(usize, usize, u32, Vec<Hop>)>,
) {
    if path.len() >= MAX_HOPS {
        return;
    }
    for h in hops.iter().filter(|h| h.sink.entity == at) {
        let from = h.source.entity;
        if from == at || path.iter().any(|p| p.sink.entity == from) {
            continue; // a cycle
        }
        path.push(*h);
        let function = t.entity(from).map_or(0, |e| e.function);
        if function == ENT_F_IO_V4L {
            // A node feeding a sub-device (the front end's config node): no sensor there.
        } else if function == ENT_F_CAM_SENSOR {
            let key = (
                path.iter().filter(|p| !p.enabled).count(),
                path.len(),
                h.source.index,
            );
            if best.as_ref().is_none_or(|b| key < (b.0, b.1, b.2)) {
                *best = Some((key.0, key.1, key.2, path.clone()));
            }
        } else {
            search(t, hops, from, path, best);
        }
        path.pop();
    }
}

/// The sensor mode to stream: the one of `want` size if given (the highest bit depth of
/// that size), else the largest, again at the highest bit depth. Codes nightcap cannot
/// store are not chosen.
pub fn choose_mode(modes: &[SensorMode], want: Option<(u32, u32)>) -> Option<SensorMode> {
    modes
        .iter()
        .filter(|m| mbus_code_info(m.code).is_some())
        .filter(|m| want.is_none_or(|w| (m.width, m.height) == w))
        .max_by_key(|m| {
            let depth = mbus_code_info(m.code).map_or(0, |(d, _)| d);
            (u64::from(m.width) * u64::from(m.height), depth)
        })
        .copied()
}

/// What to set up so the route's node streams `mode`: disable every enabled, mutable link
/// off the route (as `media-ctl -r` would), enable the route's links, and set `mode` on
/// every pad of the route, upstream first. The receivers pass the sensor's code through,
/// so the node delivers the sensor's bytes (CSI-2 packed where the sensor sends packed).
pub fn plan(t: &Topology, route: &Route, mode: SensorMode) -> MediaPlan {
    let on_route = |h: &Hop| {
        route
            .hops
            .iter()
            .any(|r| r.source == h.source && r.sink == h.sink)
    };
    let disable = t
        .hops()
        .into_iter()
        .filter(|h| h.enabled && !h.immutable && !on_route(h))
        .collect();
    let enable = route.hops.iter().filter(|h| !h.enabled).copied().collect();
    // Upstream first: the sensor's source pad, then per receiver its sink pad (where the
    // previous link ends) before its source pad. A video node has no pad format.
    let mut formats = Vec::new();
    for (i, h) in route.hops.iter().enumerate() {
        if i > 0 {
            formats.push((route.hops[i - 1].sink, mode));
        }
        formats.push((h.source, mode));
    }
    MediaPlan {
        disable,
        enable,
        formats,
    }
}

/// The plan in `media-ctl` terms, one line per step, for logs and errors.
pub fn describe(t: &Topology, p: &MediaPlan) -> Vec<String> {
    let pad = |r: &PadRef| format!("\"{}\":{}", t.name(r.entity), r.index);
    let mut out = Vec::new();
    for h in &p.disable {
        out.push(format!("-l '{}->{}[0]'", pad(&h.source), pad(&h.sink)));
    }
    for h in &p.enable {
        out.push(format!("-l '{}->{}[1]'", pad(&h.source), pad(&h.sink)));
    }
    for (r, m) in &p.formats {
        out.push(format!(
            "-V '{}[fmt:{:#06x}/{}x{}]'",
            pad(r),
            m.code,
            m.width,
            m.height
        ));
    }
    out
}

#[cfg(test)]
mod tests;
