//! Finding and describing V4L2 devices (`nightcap devices`), and the few raw calls the
//! v4l crate gets wrong.
//!
//! Discovery ([`discover`]) is kept apart from presentation ([`render`]) so the text a
//! user sees is tested without hardware. Every call into the v4l crate that can panic on
//! unexpected driver data (non-UTF-8 names, unknown enum values: v4l 0.14.0 `unwrap`s
//! them) goes through [`guard`], which turns a panic into an `io::Error`. Controls are
//! read one id at a time with `VIDIOC_QUERY_EXT_CTRL` ([`query_control`]), never with
//! `Device::query_controls`, which panics on control types the crate does not know.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use v4l::capability::Flags as CapFlags;
use v4l::framesize::FrameSizeEnum;
use v4l::prelude::*;
use v4l::video::Capture;

use super::controls::{ids, ControlRange, Sensor};
use super::formats::{fourcc_info, fourcc_text, mbus_code_info, SensorMode};

/// Runs `f`, turning a panic inside the v4l crate into an error naming `what`.
pub fn guard<T>(what: &str, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(io::Error::other(format!(
                "the v4l crate failed on unexpected driver data in {what}: {msg}"
            )))
        }
    }
}

/// One control as reported by `VIDIOC_QUERY_EXT_CTRL`, with its driver name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlInfo {
    pub range: ControlRange,
    pub name: String,
}

const CTRL_FLAG_DISABLED: u32 = 0x0001;
const CTRL_FLAG_READ_ONLY: u32 = 0x0004;

/// The range and current value of control `id`, or `None` if the device lacks it (or
/// has it disabled).
pub fn query_control(dev: &Device, id: u32) -> Option<ControlInfo> {
    // SAFETY: v4l2_query_ext_ctrl is a plain C struct for which all-zero bytes are valid;
    // VIDIOC_QUERY_EXT_CTRL reads `id` and fills the struct, which lives across the call.
    let q = unsafe {
        let mut q: v4l::v4l_sys::v4l2_query_ext_ctrl = std::mem::zeroed();
        q.id = id;
        v4l::v4l2::ioctl(
            dev.handle().fd(),
            v4l::v4l2::vidioc::VIDIOC_QUERY_EXT_CTRL,
            &mut q as *mut _ as *mut std::os::raw::c_void,
        )
        .ok()?;
        q
    };
    if q.id != id || q.flags & CTRL_FLAG_DISABLED != 0 {
        return None;
    }
    let name_bytes: Vec<u8> = q
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    // The value: `control()` reads integer, 64-bit, menu and boolean controls; for any
    // other type (or a write-only control) the default stands in.
    let value = match guard("reading a control", || dev.control(id)) {
        Ok(v4l::control::Control {
            value: v4l::control::Value::Integer(v),
            ..
        }) => v,
        Ok(v4l::control::Control {
            value: v4l::control::Value::Boolean(b),
            ..
        }) => i64::from(b),
        _ => q.default_value,
    };
    Some(ControlInfo {
        range: ControlRange {
            id,
            min: q.minimum,
            max: q.maximum,
            step: q.step,
            default: q.default_value,
            value,
            read_only: q.flags & CTRL_FLAG_READ_ONLY != 0,
        },
        name: String::from_utf8_lossy(&name_bytes).into_owned(),
    })
}

/// The exposure/gain controls of a device that it has, in [`ids::RELEVANT`] order.
pub fn relevant_controls(dev: &Device) -> Vec<ControlInfo> {
    ids::RELEVANT
        .iter()
        .filter_map(|&id| query_control(dev, id))
        .collect()
}

pub use super::nodes::list_nodes;

/// The kernel's name for a node (`/sys/class/video4linux/<node>/name`), e.g.
/// `unicam-image` or `imx477 10-001a`.
pub fn sysfs_name(node: &Path) -> Option<String> {
    let file = node.file_name()?;
    let path = Path::new("/sys/class/video4linux").join(file).join("name");
    let name = std::fs::read_to_string(path).ok()?;
    Some(name.trim().to_string())
}

/// Frame sizes a format offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeRange {
    Discrete {
        width: u32,
        height: u32,
    },
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

impl SizeRange {
    /// The largest size in the range.
    pub fn largest(&self) -> (u32, u32) {
        match *self {
            SizeRange::Discrete { width, height } => (width, height),
            SizeRange::Stepwise { max, .. } => max,
        }
    }

    /// Whether `width`x`height` is one of the sizes.
    pub fn contains(&self, width: u32, height: u32) -> bool {
        match *self {
            SizeRange::Discrete {
                width: w,
                height: h,
            } => (w, h) == (width, height),
            SizeRange::Stepwise { min, max, step } => {
                let on = |v: u32, lo: u32, hi: u32, s: u32| {
                    (lo..=hi).contains(&v) && (v - lo).is_multiple_of(s.max(1))
                };
                on(width, min.0, max.0, step.0) && on(height, min.1, max.1, step.1)
            }
        }
    }
}

/// One pixel format a capture node offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatInfo {
    pub fourcc: [u8; 4],
    pub description: String,
    pub sizes: Vec<SizeRange>,
}

/// What `nightcap devices` shows about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub path: PathBuf,
    /// The kernel's node name, if sysfs has it.
    pub name: Option<String>,
    /// `None` for sub-devices (they answer no `VIDIOC_QUERYCAP`).
    pub caps: Option<Caps>,
    pub formats: Vec<FormatInfo>,
    pub controls: Vec<ControlInfo>,
    /// The active mode of a sensor sub-device.
    pub sensor_mode: Option<SensorMode>,
    /// Where a video node sits in its media graph, in words (`None`: no graph).
    pub media: Option<String>,
}

/// Driver identity of a video node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    pub driver: String,
    pub card: String,
    pub bus: String,
    /// Whether the node captures video (single-planar); metadata nodes do not.
    pub capture: bool,
}

/// A node that could not be examined, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    pub path: PathBuf,
    pub error: String,
}

/// Most sizes listed per format (some webcams list dozens).
const MAX_SIZES: usize = 64;

/// The formats and sizes a capture device offers.
pub fn formats_of(dev: &Device) -> io::Result<Vec<FormatInfo>> {
    let descs = guard("listing formats", || dev.enum_formats())?;
    Ok(descs
        .into_iter()
        .map(|d| {
            let sizes = guard("listing frame sizes", || dev.enum_framesizes(d.fourcc))
                .unwrap_or_default()
                .into_iter()
                .take(MAX_SIZES)
                .map(|s| match s.size {
                    FrameSizeEnum::Discrete(d) => SizeRange::Discrete {
                        width: d.width,
                        height: d.height,
                    },
                    FrameSizeEnum::Stepwise(s) => SizeRange::Stepwise {
                        min: (s.min_width, s.min_height),
                        max: (s.max_width, s.max_height),
                        step: (s.step_width, s.step_height),
                    },
                })
                .collect();
            FormatInfo {
                fourcc: d.fourcc.repr,
                description: d.description,
                sizes,
            }
        })
        .collect())
}

/// Examines one `/dev/videoN` node.
pub fn probe_video(path: &Path) -> io::Result<DeviceInfo> {
    let dev = Device::with_path(path)?;
    let caps = guard("VIDIOC_QUERYCAP", || dev.query_caps())?;
    let capture = caps.capabilities.contains(CapFlags::VIDEO_CAPTURE);
    let formats = if capture {
        formats_of(&dev)?
    } else {
        Vec::new()
    };
    Ok(DeviceInfo {
        path: path.to_path_buf(),
        name: sysfs_name(path),
        caps: Some(Caps {
            driver: caps.driver,
            card: caps.card,
            bus: caps.bus,
            capture,
        }),
        formats,
        controls: relevant_controls(&dev),
        sensor_mode: None,
        media: None,
    })
}

/// Examines one `/dev/v4l-subdevN` node (controls only).
pub fn probe_subdev(path: &Path) -> io::Result<DeviceInfo> {
    let dev = Device::with_path(path)?;
    Ok(DeviceInfo {
        path: path.to_path_buf(),
        name: sysfs_name(path),
        caps: None,
        formats: Vec::new(),
        controls: relevant_controls(&dev),
        sensor_mode: sensor_mode(&dev),
        media: None,
    })
}

/// Every video node and every sub-device that has exposure controls (sensors).
pub fn discover(dev_dir: &Path) -> (Vec<DeviceInfo>, Vec<ProbeFailure>) {
    let (video, subdev) = list_nodes(dev_dir);
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for path in video {
        match probe_video(&path) {
            Ok(mut info) => {
                info.media = media_summary(dev_dir, &path);
                found.push(info)
            }
            Err(e) => failed.push(ProbeFailure {
                path,
                error: e.to_string(),
            }),
        }
    }
    for path in subdev {
        // Sub-devices without exposure controls (CSI-2 receivers, ISPs) are not cameras.
        if let Ok(info) = probe_subdev(&path) {
            if info.controls.iter().any(|c| c.range.id == ids::EXPOSURE) {
                found.push(info);
            }
        }
    }
    (found, failed)
}

/// The active format of a sensor sub-device's image pad (pad 0), if it answers.
pub fn sensor_mode(dev: &Device) -> Option<SensorMode> {
    super::media_io::pad_format(dev, 0).ok()
}

/// A sensor sub-device able to take exposure in lines.
pub struct SensorNode {
    pub path: PathBuf,
    pub sensor: Sensor,
    pub name: String,
    pub dev: Device,
}

/// The first `/dev/v4l-subdevN` with exposure, VBLANK and pixel-rate controls: the camera
/// sensor on the libcamera-era Pi stack. (With two cameras on a Pi 5 the first sensor is
/// taken; the capture node of the other camera would need its own sub-device.)
pub fn find_sensor_subdev(dev_dir: &Path) -> Option<SensorNode> {
    let (_, subdevs) = list_nodes(dev_dir);
    subdevs.into_iter().find_map(|path| {
        let dev = Device::with_path(&path).ok()?;
        let has = |id| query_control(&dev, id).is_some();
        if !(has(ids::EXPOSURE) && has(ids::VBLANK) && has(ids::PIXEL_RATE)) {
            return None;
        }
        let name = sysfs_name(&path).unwrap_or_else(|| path.display().to_string());
        Some(SensorNode {
            sensor: Sensor::from_name(&name),
            name,
            path,
            dev,
        })
    })
}

/// Where the video node `path` sits in its media graph, in words, or `None` when it has
/// no graph (a graph that cannot be read is said).
pub fn media_summary(dev_dir: &Path, path: &Path) -> Option<String> {
    use super::media;
    let md = super::media_io::media_device_of(dev_dir, path)?;
    let t = &md.topology;
    let entity = super::media_io::devnode_of(path)
        .ok()
        .and_then(|d| t.entity_by_devnode(d))?;
    let n = t.entities.len();
    let graph = format!(
        "media graph {} ({n} {}): this node is \"{}\"",
        md.path.display(),
        if n == 1 { "entity" } else { "entities" },
        entity.name
    );
    Some(match media::route(t, entity.id) {
        Ok(r) => {
            let via: Vec<String> = r.hops[1..]
                .iter()
                .map(|h| t.name(h.source.entity))
                .collect();
            let sub = t
                .entity(r.sensor)
                .and_then(|e| e.devnode)
                .and_then(|d| super::media_io::subdev_path(dev_dir, d));
            format!(
                "{graph}, fed by sensor \"{}\"{}{}",
                t.name(r.sensor),
                if via.is_empty() {
                    String::new()
                } else {
                    format!(" through \"{}\"", via.join("\", \""))
                },
                match sub {
                    Some(p) => format!(" ({}); capture sets up its links and mode", p.display()),
                    None => "; the sensor has no sub-device node, nothing to set up".to_string(),
                }
            )
        }
        Err(_) => format!("{graph}, with no camera sensor upstream (nothing to set up)"),
    })
}

/// The capture node `nightcap capture` uses when no `--source` is given: the first video
/// capture node (in `/dev/videoN` order) offering a pixel format nightcap can store.
/// `Err` says why there is none, in words for the user.
pub fn pick_camera(found: &[DeviceInfo]) -> Result<&DeviceInfo, String> {
    let capture_nodes: Vec<&DeviceInfo> = found
        .iter()
        .filter(|d| d.caps.as_ref().is_some_and(|c| c.capture))
        .collect();
    if let Some(d) = capture_nodes
        .iter()
        .find(|d| d.formats.iter().any(|f| fourcc_info(f.fourcc).is_some()))
    {
        return Ok(d);
    }
    Err(match capture_nodes.first() {
        None => "no camera found (no V4L2 video capture device)".to_string(),
        Some(d) => format!(
            "no camera streams a format nightcap can store ({} offers {})",
            d.path.display(),
            d.formats
                .iter()
                .map(|f| fourcc_text(f.fourcc))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// What `nightcap devices` prints when nothing was found.
pub const NO_DEVICES: &str = "no V4L2 devices found (is the camera connected and enabled?)";

/// The human-readable listing of discovered devices.
pub fn render(found: &[DeviceInfo], failed: &[ProbeFailure]) -> String {
    let mut out = String::new();
    if found.is_empty() && failed.is_empty() {
        out.push_str(NO_DEVICES);
        out.push('\n');
        return out;
    }
    for info in found {
        render_device(&mut out, info);
    }
    for f in failed {
        let _ = writeln!(out, "{}: not usable: {}", f.path.display(), f.error);
    }
    match pick_camera(found) {
        Ok(d) => {
            let _ = writeln!(
                out,
                "nightcap capture uses {} (the first capture device with a format it can store; choose another with --source v4l2:PATH)",
                d.path.display()
            );
        }
        Err(why) => {
            let _ = writeln!(out, "nightcap capture has no camera to use: {why}");
        }
    }
    out
}

fn render_device(out: &mut String, info: &DeviceInfo) {
    let name = info
        .name
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    match &info.caps {
        Some(c) => {
            let _ = writeln!(
                out,
                "{}{name}: {} [{}] on {}{}",
                info.path.display(),
                c.card,
                c.driver,
                c.bus,
                if c.capture {
                    ""
                } else {
                    ", not a video capture node"
                }
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{}{name}: camera sensor sub-device",
                info.path.display()
            );
        }
    }
    if let Some(m) = &info.media {
        let _ = writeln!(out, "  {m}");
    }
    if let Some(m) = &info.sensor_mode {
        let what = match mbus_code_info(m.code) {
            Some((depth, cfa)) => format!("{depth}-bit {}", cfa.name().unwrap_or("mono")),
            None => "media-bus".to_string(),
        };
        let _ = writeln!(
            out,
            "  sensor mode {}x{} {what} (code 0x{:04x})",
            m.width, m.height, m.code
        );
    }
    for f in &info.formats {
        let usable = if fourcc_info(f.fourcc).is_some() {
            ""
        } else {
            " (not supported by nightcap)"
        };
        let sizes: Vec<String> = f.sizes.iter().map(size_text).collect();
        let _ = writeln!(
            out,
            "  format {} {}{usable}: {}",
            fourcc_text(f.fourcc),
            f.description,
            if sizes.is_empty() {
                "sizes not listed".to_string()
            } else {
                sizes.join(", ")
            }
        );
    }
    for c in &info.controls {
        let r = &c.range;
        let _ = writeln!(
            out,
            "  control {} [{}] = {} (range {}..{} step {}, default {}){}",
            c.name,
            ids::name(r.id),
            r.value,
            r.min,
            r.max,
            r.step,
            r.default,
            if r.read_only { ", read-only" } else { "" }
        );
    }
}

fn size_text(s: &SizeRange) -> String {
    match *s {
        SizeRange::Discrete { width, height } => format!("{width}x{height}"),
        SizeRange::Stepwise { min, max, step } => format!(
            "{}x{}..{}x{} step {}x{}",
            min.0, min.1, max.0, max.1, step.0, step.1
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_devices_message() {
        assert_eq!(render(&[], &[]), format!("{NO_DEVICES}\n"));
    }

    #[test]
    fn lists_nodes_in_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "video10",
            "video2",
            "video0",
            "v4l-subdev1",
            "v4l-subdev0",
            "videox",
            "media0",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let (video, subdev) = list_nodes(dir.path());
        let names = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&video), ["video0", "video2", "video10"]);
        assert_eq!(names(&subdev), ["v4l-subdev0", "v4l-subdev1"]);
        assert_eq!(list_nodes(&dir.path().join("missing")), (vec![], vec![]));
    }

    #[test]
    fn renders_a_webcam_and_a_sensor() {
        let webcam = DeviceInfo {
            path: "/dev/video0".into(),
            name: Some("HD Webcam C920".into()),
            caps: Some(Caps {
                driver: "uvcvideo".into(),
                card: "HD Pro Webcam C920".into(),
                bus: "usb-0000:01:00.0-1.2".into(),
                capture: true,
            }),
            formats: vec![
                FormatInfo {
                    fourcc: *b"YUYV",
                    description: "YUYV 4:2:2".into(),
                    sizes: vec![
                        SizeRange::Discrete {
                            width: 640,
                            height: 480,
                        },
                        SizeRange::Discrete {
                            width: 1920,
                            height: 1080,
                        },
                    ],
                },
                FormatInfo {
                    fourcc: *b"H264",
                    description: "H.264".into(),
                    sizes: vec![],
                },
            ],
            sensor_mode: None,
            media: None,
            controls: vec![ControlInfo {
                range: ControlRange {
                    id: ids::EXPOSURE_ABSOLUTE,
                    min: 3,
                    max: 2047,
                    step: 1,
                    default: 250,
                    value: 250,
                    read_only: false,
                },
                name: "Exposure Time, Absolute".into(),
            }],
        };
        let sensor = DeviceInfo {
            path: "/dev/v4l-subdev0".into(),
            name: Some("imx477 10-001a".into()),
            caps: None,
            formats: vec![],
            sensor_mode: Some(SensorMode {
                code: 0x3012,
                width: 4056,
                height: 3040,
            }),
            media: None,
            controls: vec![ControlInfo {
                range: ControlRange {
                    id: ids::PIXEL_RATE,
                    min: 840_000_000,
                    max: 840_000_000,
                    step: 1,
                    default: 840_000_000,
                    value: 840_000_000,
                    read_only: true,
                },
                name: "Pixel Rate".into(),
            }],
        };
        let failed = [ProbeFailure {
            path: "/dev/video1".into(),
            error: "Permission denied".into(),
        }];
        let mut pi = node("/dev/video2", true, &[b"pRCC"]);
        pi.media = Some("media graph /dev/media1 (3 entities): this node is \"unicam-image\", fed by sensor \"imx477 10-001a\" (/dev/v4l-subdev0); capture sets up its links and mode".into());
        let text = render(&[webcam, sensor, pi], &failed);
        let expected = "\
/dev/video0 (HD Webcam C920): HD Pro Webcam C920 [uvcvideo] on usb-0000:01:00.0-1.2
  format YUYV YUYV 4:2:2: 640x480, 1920x1080
  format H264 H.264 (not supported by nightcap): sizes not listed
  control Exposure Time, Absolute [exposure_time_absolute (100 us)] = 250 (range 3..2047 step 1, default 250)
/dev/v4l-subdev0 (imx477 10-001a): camera sensor sub-device
  sensor mode 4056x3040 12-bit RGGB (code 0x3012)
  control Pixel Rate [pixel_rate (Hz)] = 840000000 (range 840000000..840000000 step 1, default 840000000), read-only
/dev/video2: c [d] on b
  media graph /dev/media1 (3 entities): this node is \"unicam-image\", fed by sensor \"imx477 10-001a\" (/dev/v4l-subdev0); capture sets up its links and mode
  format pRCC : sizes not listed
/dev/video1: not usable: Permission denied
nightcap capture uses /dev/video0 (the first capture device with a format it can store; choose another with --source v4l2:PATH)
";
        assert_eq!(text, expected);
    }

    fn node(path: &str, capture: bool, fourccs: &[&[u8; 4]]) -> DeviceInfo {
        DeviceInfo {
            path: path.into(),
            name: None,
            caps: Some(Caps {
                driver: "d".into(),
                card: "c".into(),
                bus: "b".into(),
                capture,
            }),
            formats: fourccs
                .iter()
                .map(|f| FormatInfo {
                    fourcc: **f,
                    description: String::new(),
                    sizes: vec![],
                })
                .collect(),
            controls: vec![],
            sensor_mode: None,
            media: None,
        }
    }

    #[test]
    fn capture_picks_the_first_node_that_streams_a_storable_format() {
        let meta = node("/dev/video0", false, &[]);
        let h264 = node("/dev/video1", true, &[b"H264"]);
        let bayer = node("/dev/video2", true, &[b"H264", b"RG10"]);
        let grey = node("/dev/video3", true, &[b"GREY"]);
        let all = [meta.clone(), h264.clone(), bayer, grey];
        assert_eq!(pick_camera(&all).unwrap().path, Path::new("/dev/video2"));
        let err = pick_camera(&[meta.clone(), h264]).unwrap_err();
        assert!(err.contains("/dev/video1 offers H264"), "{err}");
        assert_eq!(
            pick_camera(&[meta]).unwrap_err(),
            "no camera found (no V4L2 video capture device)"
        );
        assert!(pick_camera(&[]).is_err());
    }

    #[test]
    fn size_ranges() {
        let s = SizeRange::Stepwise {
            min: (16, 16),
            max: (4056, 3040),
            step: (2, 2),
        };
        assert!(s.contains(4056, 3040));
        assert!(s.contains(2028, 1520));
        assert!(!s.contains(2029, 1520));
        assert!(!s.contains(4058, 3040));
        assert_eq!(s.largest(), (4056, 3040));
        assert!(SizeRange::Discrete {
            width: 640,
            height: 480
        }
        .contains(640, 480));
    }

    #[test]
    fn non_devices_are_reported_not_listed() {
        // Regular files named like device nodes: opening works, the ioctls fail.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("video0"), b"").unwrap();
        std::fs::write(dir.path().join("v4l-subdev0"), b"").unwrap();
        let (found, failed) = discover(dir.path());
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].path, dir.path().join("video0"));
        assert!(render(&found, &failed).contains("video0: not usable: "));
        assert!(find_sensor_subdev(dir.path()).is_none());
        let (found, failed) = discover(&dir.path().join("missing"));
        assert_eq!(render(&found, &failed), format!("{NO_DEVICES}\n"));
    }

    #[test]
    fn guard_turns_panics_into_errors() {
        let err = guard::<()>("a test", || panic!("boom")).unwrap_err();
        assert!(err.to_string().contains("a test: boom"), "{err}");
        assert_eq!(guard("ok", || Ok(5)).unwrap(), 5);
    }
}
