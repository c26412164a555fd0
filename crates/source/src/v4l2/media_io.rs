//! The kernel calls behind [`super::media`]: reading a media graph
//! (`MEDIA_IOC_G_TOPOLOGY`), enabling and disabling links (`MEDIA_IOC_SETUP_LINK`), and a
//! sensor sub-device's modes and pad formats (`VIDIOC_SUBDEV_*`), which the v4l crate
//! does not offer.
//!
//! Promises: a graph is read with at most [`MAX_OBJECTS`] objects of each kind (a driver
//! reporting more is an error, never a large allocation); the structs mirror the kernel's
//! `linux/media.h` and `linux/v4l2-subdev.h` (sizes checked at compile time, ioctl numbers
//! in tests, the layout against a real kernel in the V4L2 VM); [`setup`] changes nothing
//! for a node without a sensor sub-device upstream (webcams, vivid).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use v4l::Device;

use super::formats::{fourcc_info, SensorMode};
use super::media::{self, Entity, Link, MediaPlan, Pad, PadRef, Topology};

/// Most entities, interfaces, pads or links a graph may report (a Pi 5 graph has under
/// 100 of each).
pub const MAX_OBJECTS: u32 = 4096;
/// Most media-bus codes and frame sizes read from a sensor pad.
const MAX_MODES: u32 = 64;

#[repr(C)]
#[derive(Default)]
struct Topo {
    version: u64,
    num_entities: u32,
    reserved1: u32,
    ptr_entities: u64,
    num_interfaces: u32,
    reserved2: u32,
    ptr_interfaces: u64,
    num_pads: u32,
    reserved3: u32,
    ptr_pads: u64,
    num_links: u32,
    reserved4: u32,
    ptr_links: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct V2Entity {
    id: u32,
    name: [u8; 64],
    function: u32,
    flags: u32,
    reserved: [u32; 5],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct V2Interface {
    id: u32,
    intf_type: u32,
    flags: u32,
    reserved: [u32; 9],
    /// `devnode.major`, `devnode.minor`, then unused.
    raw: [u32; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct V2Pad {
    id: u32,
    entity_id: u32,
    flags: u32,
    index: u32,
    reserved: [u32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct V2Link {
    id: u32,
    source_id: u32,
    sink_id: u32,
    flags: u32,
    reserved: [u32; 6],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PadDesc {
    entity: u32,
    index: u16,
    flags: u32,
    reserved: [u32; 2],
}

#[repr(C)]
#[derive(Default)]
struct LinkDesc {
    source: PadDesc,
    sink: PadDesc,
    flags: u32,
    reserved: [u32; 2],
}

/// `struct v4l2_mbus_framefmt`.
#[repr(C)]
#[derive(Default)]
struct MbusFrameFmt {
    width: u32,
    height: u32,
    code: u32,
    field: u32,
    colorspace: u32,
    ycbcr_enc: u16,
    quantization: u16,
    xfer_func: u16,
    flags: u16,
    reserved: [u16; 10],
}

/// `struct v4l2_subdev_format`.
#[repr(C)]
#[derive(Default)]
struct SubdevFormat {
    which: u32,
    pad: u32,
    format: MbusFrameFmt,
    stream: u32,
    reserved: [u32; 7],
}

impl SubdevFormat {
    /// The media-bus code and size it holds.
    fn mode(&self) -> SensorMode {
        SensorMode {
            code: self.format.code,
            width: self.format.width,
            height: self.format.height,
        }
    }
}

/// `struct v4l2_subdev_mbus_code_enum`.
#[repr(C)]
#[derive(Default)]
struct MbusCodeEnum {
    pad: u32,
    index: u32,
    code: u32,
    which: u32,
    flags: u32,
    stream: u32,
    reserved: [u32; 6],
}

/// `struct v4l2_subdev_frame_size_enum`.
#[repr(C)]
#[derive(Default)]
struct FrameSizeEnum {
    index: u32,
    pad: u32,
    code: u32,
    min_width: u32,
    max_width: u32,
    min_height: u32,
    max_height: u32,
    which: u32,
    stream: u32,
    reserved: [u32; 7],
}

const _: () = {
    assert!(std::mem::size_of::<Topo>() == 72);
    assert!(std::mem::size_of::<V2Entity>() == 96);
    assert!(std::mem::size_of::<V2Interface>() == 112);
    assert!(std::mem::size_of::<V2Pad>() == 32);
    assert!(std::mem::size_of::<V2Link>() == 40);
    assert!(std::mem::size_of::<LinkDesc>() == 52);
    assert!(std::mem::size_of::<SubdevFormat>() == 88);
    assert!(std::mem::size_of::<MbusCodeEnum>() == 48);
    assert!(std::mem::size_of::<FrameSizeEnum>() == 64);
};

/// `_IOWR(kind, nr, size)`.
const fn iowr(kind: u8, nr: u32, size: usize) -> u32 {
    (3 << 30) | ((size as u32) << 16) | ((kind as u32) << 8) | nr
}

pub const MEDIA_IOC_SETUP_LINK: u32 = iowr(b'|', 3, std::mem::size_of::<LinkDesc>());
pub const MEDIA_IOC_G_TOPOLOGY: u32 = iowr(b'|', 4, std::mem::size_of::<Topo>());
pub const VIDIOC_SUBDEV_ENUM_MBUS_CODE: u32 = iowr(b'V', 2, std::mem::size_of::<MbusCodeEnum>());
pub const VIDIOC_SUBDEV_G_FMT: u32 = iowr(b'V', 4, std::mem::size_of::<SubdevFormat>());
pub const VIDIOC_SUBDEV_S_FMT: u32 = iowr(b'V', 5, std::mem::size_of::<SubdevFormat>());
pub const VIDIOC_SUBDEV_ENUM_FRAME_SIZE: u32 = iowr(b'V', 74, std::mem::size_of::<FrameSizeEnum>());

const INTF_T_V4L_VIDEO: u32 = 0x200;
const INTF_T_V4L_SUBDEV: u32 = 0x203;
const LNK_FL_INTERFACE_LINK: u32 = 1 << 28;
const SUBDEV_FORMAT_ACTIVE: u32 = 1;
const FIELD_NONE: u32 = 1;
const COLORSPACE_RAW: u32 = 11;

/// One ioctl on `fd` with `arg`.
///
/// # Safety
/// `T` must be the struct the kernel expects for `request` (same size and layout), and
/// any pointers inside it must point to memory that stays valid and large enough for what
/// the kernel writes during the call.
unsafe fn ioctl<T>(fd: i32, request: u32, arg: &mut T) -> io::Result<()> {
    // SAFETY: the caller guarantees the request matches `T`; `arg` is a live exclusive
    // reference for the whole call.
    unsafe {
        v4l::v4l2::ioctl(
            fd,
            request as v4l::v4l2::vidioc::_IOC_TYPE,
            arg as *mut T as *mut std::os::raw::c_void,
        )
    }
}

/// A media device, open.
pub struct MediaDevice {
    file: File,
    pub path: PathBuf,
    pub topology: Topology,
}

impl MediaDevice {
    /// Opens `/dev/mediaN` and reads its graph.
    pub fn open(path: &Path) -> io::Result<MediaDevice> {
        let file = File::options().read(true).write(true).open(path)?;
        let topology = read_topology(file.as_raw_fd())?;
        Ok(MediaDevice {
            file,
            path: path.to_path_buf(),
            topology,
        })
    }

    /// Enables or disables a link.
    pub fn setup_link(&self, hop: &media::Hop, enable: bool) -> io::Result<()> {
        let pad = |r: &PadRef| PadDesc {
            entity: r.entity,
            index: u16::try_from(r.index).unwrap_or(u16::MAX),
            ..PadDesc::default()
        };
        let mut desc = LinkDesc {
            source: pad(&hop.source),
            sink: pad(&hop.sink),
            flags: u32::from(enable) * media::LNK_FL_ENABLED,
            ..LinkDesc::default()
        };
        // SAFETY: LinkDesc mirrors struct media_link_desc (size checked above) and holds
        // no pointers.
        unsafe { ioctl(self.file.as_raw_fd(), MEDIA_IOC_SETUP_LINK, &mut desc) }
    }
}

/// Reads a graph with `MEDIA_IOC_G_TOPOLOGY`: once for the counts, then into buffers of
/// those sizes (again if the graph grew in between, at most three times).
fn read_topology(fd: i32) -> io::Result<Topology> {
    for _ in 0..3 {
        let mut counts = Topo::default();
        // SAFETY: Topo mirrors struct media_v2_topology; with null pointers the kernel
        // only fills in the counts.
        unsafe { ioctl(fd, MEDIA_IOC_G_TOPOLOGY, &mut counts)? };
        let limit = |n: u32, what: &str| {
            if n > MAX_OBJECTS {
                Err(io::Error::other(format!(
                    "the media graph reports {n} {what} (more than {MAX_OBJECTS})"
                )))
            } else {
                Ok(n as usize)
            }
        };
        let zero_entity = V2Entity {
            id: 0,
            name: [0; 64],
            function: 0,
            flags: 0,
            reserved: [0; 5],
        };
        let mut entities = vec![zero_entity; limit(counts.num_entities, "entities")?];
        let mut interfaces =
            vec![V2Interface::default(); limit(counts.num_interfaces, "interfaces")?];
        let mut pads = vec![V2Pad::default(); limit(counts.num_pads, "pads")?];
        let mut links = vec![V2Link::default(); limit(counts.num_links, "links")?];
        let mut t = Topo {
            num_entities: entities.len() as u32,
            ptr_entities: entities.as_mut_ptr() as u64,
            num_interfaces: interfaces.len() as u32,
            ptr_interfaces: interfaces.as_mut_ptr() as u64,
            num_pads: pads.len() as u32,
            ptr_pads: pads.as_mut_ptr() as u64,
            num_links: links.len() as u32,
            ptr_links: links.as_mut_ptr() as u64,
            ..Topo::default()
        };
        // SAFETY: each pointer is a live Vec of the struct the kernel writes, with room
        // for the count given beside it; the kernel writes at most that many (ENOSPC if
        // the graph grew).
        match unsafe { ioctl(fd, MEDIA_IOC_G_TOPOLOGY, &mut t) } {
            Err(e) if e.raw_os_error() == Some(28) => continue,
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let n = |count: u32, len: usize| (count as usize).min(len);
        entities.truncate(n(t.num_entities, entities.len()));
        interfaces.truncate(n(t.num_interfaces, interfaces.len()));
        pads.truncate(n(t.num_pads, pads.len()));
        links.truncate(n(t.num_links, links.len()));
        return Ok(topology_of(&entities, &interfaces, &pads, &links));
    }
    Err(io::Error::other("the media graph kept changing while read"))
}

/// The graph from the kernel's arrays; interface links give entities their device nodes.
fn topology_of(
    entities: &[V2Entity],
    interfaces: &[V2Interface],
    pads: &[V2Pad],
    links: &[V2Link],
) -> Topology {
    let mut t = Topology::default();
    for e in entities {
        let len = e.name.iter().position(|&c| c == 0).unwrap_or(e.name.len());
        t.entities.push(Entity {
            id: e.id,
            name: String::from_utf8_lossy(&e.name[..len]).into_owned(),
            function: e.function,
            devnode: None,
        });
    }
    t.pads = pads
        .iter()
        .map(|p| Pad {
            id: p.id,
            entity: p.entity_id,
            index: p.index,
            flags: p.flags,
        })
        .collect();
    for l in links {
        if l.flags & media::LNK_FL_LINK_TYPE == LNK_FL_INTERFACE_LINK {
            let Some(intf) = interfaces.iter().find(|i| i.id == l.source_id) else {
                continue;
            };
            if ![INTF_T_V4L_VIDEO, INTF_T_V4L_SUBDEV].contains(&intf.intf_type) {
                continue;
            }
            if let Some(e) = t.entities.iter_mut().find(|e| e.id == l.sink_id) {
                e.devnode = Some((intf.raw[0], intf.raw[1]));
            }
        } else if l.flags & media::LNK_FL_LINK_TYPE == 0 {
            t.links.push(Link {
                source: l.source_id,
                sink: l.sink_id,
                flags: l.flags,
            });
        }
    }
    t
}

/// The (major, minor) of a character device.
pub fn devnode_of(path: &Path) -> io::Result<(u32, u32)> {
    let st = rustix::fs::stat(path)?;
    Ok((rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev)))
}

/// The media device under `dev_dir` whose graph holds the node `video`, if any.
pub fn media_device_of(dev_dir: &Path, video: &Path) -> Option<MediaDevice> {
    let node = devnode_of(video).ok()?;
    let mut media: Vec<(u32, PathBuf)> = std::fs::read_dir(dev_dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_str()?
                .strip_prefix("media")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    media.sort();
    media
        .into_iter()
        .filter_map(|(_, p)| MediaDevice::open(&p).ok())
        .find(|m| m.topology.entity_by_devnode(node).is_some())
}

/// The `/dev/v4l-subdevN` under `dev_dir` with device number `devnode`.
pub fn subdev_path(dev_dir: &Path, devnode: (u32, u32)) -> Option<PathBuf> {
    let (_, subdevs) = super::nodes::list_nodes(dev_dir);
    subdevs
        .into_iter()
        .find(|p| devnode_of(p).ok() == Some(devnode))
}

/// The modes a sensor offers on `pad`: each media-bus code with each frame size (the
/// largest of a range).
pub fn sensor_modes(dev: &Device, pad: u32) -> Vec<SensorMode> {
    let fd = dev.handle().fd();
    let mut out = Vec::new();
    for index in 0..MAX_MODES {
        let mut c = MbusCodeEnum {
            pad,
            index,
            which: SUBDEV_FORMAT_ACTIVE,
            ..MbusCodeEnum::default()
        };
        // SAFETY: MbusCodeEnum mirrors struct v4l2_subdev_mbus_code_enum; no pointers.
        if unsafe { ioctl(fd, VIDIOC_SUBDEV_ENUM_MBUS_CODE, &mut c) }.is_err() {
            break;
        }
        for size in 0..MAX_MODES {
            let mut f = FrameSizeEnum {
                index: size,
                pad,
                code: c.code,
                which: SUBDEV_FORMAT_ACTIVE,
                ..FrameSizeEnum::default()
            };
            // SAFETY: FrameSizeEnum mirrors struct v4l2_subdev_frame_size_enum.
            if unsafe { ioctl(fd, VIDIOC_SUBDEV_ENUM_FRAME_SIZE, &mut f) }.is_err() {
                break;
            }
            out.push(SensorMode {
                code: c.code,
                width: f.max_width,
                height: f.max_height,
            });
        }
    }
    out
}

/// The active format of `pad` of a sub-device.
pub fn pad_format(dev: &Device, pad: u32) -> io::Result<SensorMode> {
    let mut f = SubdevFormat {
        which: SUBDEV_FORMAT_ACTIVE,
        pad,
        ..SubdevFormat::default()
    };
    // SAFETY: SubdevFormat mirrors struct v4l2_subdev_format; no pointers.
    unsafe { ioctl(dev.handle().fd(), VIDIOC_SUBDEV_G_FMT, &mut f)? };
    Ok(f.mode())
}

/// Sets `mode` on `pad` of a sub-device (progressive, raw colour space); returns what the
/// driver set, which may differ.
pub fn set_pad_format(dev: &Device, pad: u32, mode: SensorMode) -> io::Result<SensorMode> {
    let mut f = SubdevFormat {
        which: SUBDEV_FORMAT_ACTIVE,
        pad,
        format: MbusFrameFmt {
            width: mode.width,
            height: mode.height,
            code: mode.code,
            field: FIELD_NONE,
            colorspace: COLORSPACE_RAW,
            ..MbusFrameFmt::default()
        },
        ..SubdevFormat::default()
    };
    // SAFETY: SubdevFormat mirrors struct v4l2_subdev_format; no pointers.
    unsafe { ioctl(dev.handle().fd(), VIDIOC_SUBDEV_S_FMT, &mut f)? };
    Ok(f.mode())
}

/// What [`setup`] did.
pub struct Setup {
    /// The sensor sub-device (its controls set the exposure).
    pub sensor_path: PathBuf,
    pub sensor_name: String,
    pub mode: SensorMode,
    /// One sentence for the log when links or formats were changed.
    pub note: Option<String>,
}

/// Prepares the media graph of capture node `video` to stream raw frames from its sensor:
/// finds the graph and the sensor upstream, picks the mode (`size` if given; a bit depth
/// matching `fourcc` if given), and applies [`media::plan`]. `Ok(None)` when the node has
/// no media graph or no sensor sub-device upstream: nothing to set up.
pub fn setup(
    dev_dir: &Path,
    video: &Path,
    size: Option<(u32, u32)>,
    fourcc: Option<[u8; 4]>,
) -> Result<Option<Setup>, String> {
    let Some(md) = media_device_of(dev_dir, video) else {
        return Ok(None);
    };
    let t = &md.topology;
    let Some(node) = devnode_of(video).ok().and_then(|d| t.entity_by_devnode(d)) else {
        return Ok(None);
    };
    let Ok(route) = media::route(t, node.id) else {
        return Ok(None);
    };
    let sensor = t.entity(route.sensor).cloned();
    let Some((sensor, sensor_path)) = sensor.and_then(|s| {
        let path = subdev_path(dev_dir, s.devnode?)?;
        Some((s, path))
    }) else {
        return Ok(None);
    };
    let sub = |path: &Path| {
        Device::with_path(path).map_err(|e| format!("cannot open {}: {e}", path.display()))
    };
    let sensor_dev = sub(&sensor_path)?;
    let image_pad = route.hops[0].source.index;
    let modes = sensor_modes(&sensor_dev, image_pad);
    let depth = fourcc.and_then(fourcc_info).map(|i| i.bit_depth);
    let of_depth: Vec<SensorMode> = modes
        .iter()
        .filter(|m| {
            depth
                .is_none_or(|d| super::formats::mbus_code_info(m.code).is_some_and(|(b, _)| b == d))
        })
        .copied()
        .collect();
    let pool = if of_depth.is_empty() {
        &modes
    } else {
        &of_depth
    };
    let mode = media::choose_mode(pool, size)
        .or_else(|| {
            pad_format(&sensor_dev, image_pad)
                .ok()
                .filter(|_| modes.is_empty())
        })
        .ok_or_else(|| {
            let list: Vec<String> = modes
                .iter()
                .map(|m| format!("{}x{}", m.width, m.height))
                .collect();
            format!(
                "sensor {} has no mode{}; it offers {} (pick one with --size)",
                sensor.name,
                size.map(|(w, h)| format!(" of {w}x{h}"))
                    .unwrap_or_default(),
                if list.is_empty() {
                    "none nightcap can store".to_string()
                } else {
                    list.join(", ")
                }
            )
        })?;
    let plan = media::plan(t, &route, mode);
    let before: Vec<Option<SensorMode>> = plan
        .formats
        .iter()
        .map(|(p, _)| {
            let e = t.entity(p.entity)?;
            let dev = sub(&subdev_path(dev_dir, e.devnode?)?).ok()?;
            pad_format(&dev, p.index).ok()
        })
        .collect();
    apply(dev_dir, &md, &plan)?;
    let changed = !plan.disable.is_empty()
        || !plan.enable.is_empty()
        || before.iter().any(|b| *b != Some(mode));
    let note = changed.then(|| {
        format!(
            "set up the camera's media graph ({}): {} {}x{} ({} links disabled, {} enabled)",
            md.path.display(),
            sensor.name,
            mode.width,
            mode.height,
            plan.disable.len(),
            plan.enable.len()
        )
    });
    Ok(Some(Setup {
        sensor_path,
        sensor_name: sensor.name.clone(),
        mode,
        note,
    }))
}

/// Applies a plan: links off, links on, then pad formats upstream first; each pad must
/// take the mode as asked.
fn apply(dev_dir: &Path, md: &MediaDevice, plan: &MediaPlan) -> Result<(), String> {
    let t = &md.topology;
    let pad_name = |r: &PadRef| format!("\"{}\":{}", t.name(r.entity), r.index);
    let busy = |e: &io::Error| {
        if e.raw_os_error() == Some(16) {
            ": the camera is in use (libcamera, rpicam-apps?); stop that program"
        } else {
            ""
        }
    };
    for (hops, on) in [(&plan.disable, false), (&plan.enable, true)] {
        for h in hops {
            md.setup_link(h, on).map_err(|e| {
                format!(
                    "cannot {} the link {} -> {} in {}: {e}{}",
                    if on { "enable" } else { "disable" },
                    pad_name(&h.source),
                    pad_name(&h.sink),
                    md.path.display(),
                    busy(&e)
                )
            })?;
        }
    }
    for (p, mode) in &plan.formats {
        let path = t
            .entity(p.entity)
            .and_then(|e| subdev_path(dev_dir, e.devnode?))
            .ok_or_else(|| format!("{} has no sub-device node to set its format", pad_name(p)))?;
        let dev =
            Device::with_path(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let got = set_pad_format(&dev, p.index, *mode)
            .map_err(|e| format!("cannot set the format of {}: {e}{}", pad_name(p), busy(&e)))?;
        if got != *mode {
            return Err(format!(
                "{} took {:#06x} {}x{} instead of {:#06x} {}x{}",
                pad_name(p),
                got.code,
                got.width,
                got.height,
                mode.code,
                mode.width,
                mode.height
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        assert_eq!(MEDIA_IOC_SETUP_LINK, 0xc034_7c03);
        assert_eq!(MEDIA_IOC_G_TOPOLOGY, 0xc048_7c04);
        assert_eq!(VIDIOC_SUBDEV_ENUM_MBUS_CODE, 0xc030_5602);
        assert_eq!(VIDIOC_SUBDEV_G_FMT, 0xc058_5604);
        assert_eq!(VIDIOC_SUBDEV_S_FMT, 0xc058_5605);
        assert_eq!(VIDIOC_SUBDEV_ENUM_FRAME_SIZE, 0xc040_564a);
    }

    #[test]
    fn interface_links_name_the_device_nodes() {
        let mut name = [0u8; 64];
        name[..5].copy_from_slice(b"imx77");
        let e = |id, function| V2Entity {
            id,
            name,
            function,
            flags: 0,
            reserved: [0; 5],
        };
        let entities = [e(1, media::ENT_F_CAM_SENSOR), e(4, media::ENT_F_IO_V4L)];
        let mut intf = V2Interface {
            id: 0x0300_0007,
            intf_type: INTF_T_V4L_VIDEO,
            ..V2Interface::default()
        };
        intf.raw[0] = 81;
        intf.raw[1] = 3;
        let pads = [
            V2Pad {
                id: 0x0100_0002,
                entity_id: 1,
                flags: media::PAD_FL_SOURCE,
                index: 0,
                ..V2Pad::default()
            },
            V2Pad {
                id: 0x0100_0005,
                entity_id: 4,
                flags: media::PAD_FL_SINK,
                index: 0,
                ..V2Pad::default()
            },
        ];
        let links = [
            V2Link {
                id: 0x0200_0006,
                source_id: 0x0100_0002,
                sink_id: 0x0100_0005,
                flags: media::LNK_FL_ENABLED | media::LNK_FL_IMMUTABLE,
                ..V2Link::default()
            },
            V2Link {
                id: 0x0200_0008,
                source_id: 0x0300_0007,
                sink_id: 4,
                flags: LNK_FL_INTERFACE_LINK | media::LNK_FL_ENABLED,
                ..V2Link::default()
            },
        ];
        let t = topology_of(&entities, &[intf], &pads, &links);
        assert_eq!(t.entities[0].name, "imx77");
        assert_eq!(t.entity_by_devnode((81, 3)).map(|e| e.id), Some(4));
        assert_eq!(t.links.len(), 1, "interface links are not data links");
        let r = media::route(&t, 4).unwrap();
        assert_eq!(r.sensor, 1);
    }

    #[test]
    fn no_media_device_means_nothing_to_set_up() {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("video0");
        std::fs::write(&video, b"").unwrap();
        assert!(media_device_of(dir.path(), &video).is_none());
        assert!(matches!(setup(dir.path(), &video, None, None), Ok(None)));
    }
}
