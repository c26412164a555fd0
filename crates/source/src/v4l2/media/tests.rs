//! The planner against media graphs written down from the Raspberry Pi kernels
//! (`topologies/`, each citing its sources), read by a small parser of `media-ctl -p`
//! output.

use super::*;

/// Media-bus codes by the names `media-ctl` prints.
fn mbus_code(name: &str) -> Option<u32> {
    Some(match name {
        "SRGGB8_1X8" => 0x3014,
        "SRGGB10_1X10" => 0x300f,
        "SRGGB12_1X12" => 0x3012,
        "SBGGR10_1X10" => 0x3007,
        "SBGGR12_1X12" => 0x3008,
        _ => return None,
    })
}

/// A graph from `media-ctl -p` text. Device nodes become (major, minor) pairs the way the
/// kernel numbers them: `/dev/videoN` (81, N), `/dev/v4l-subdevN` (81, 128 + N). Pad ids
/// are made up (entity × 100 + index); links are read from their source ends.
fn parse(text: &str) -> Topology {
    let mut t = Topology::default();
    let mut pending: Vec<(PadRef, String, u32, u32)> = Vec::new();
    let mut entity: Option<u32> = None;
    let mut pad: Option<(u32, u32)> = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("- entity ") {
            let (id, rest) = rest.split_once(": ").unwrap();
            let name = rest[..rest.rfind(" (").unwrap()].to_string();
            let id: u32 = id.parse().unwrap();
            t.entities.push(Entity {
                id,
                name,
                function: 0,
                devnode: None,
            });
            entity = Some(id);
        } else if let Some(rest) = l.strip_prefix("type ") {
            let e = t.entities.last_mut().unwrap();
            e.function = if rest.contains("subtype Sensor") {
                ENT_F_CAM_SENSOR
            } else if rest.starts_with("Node") {
                ENT_F_IO_V4L
            } else {
                0x0005_0001
            };
        } else if let Some(path) = l.strip_prefix("device node name ") {
            let e = t.entities.last_mut().unwrap();
            e.devnode = Some(if let Some(n) = path.strip_prefix("/dev/video") {
                (81, n.parse().unwrap())
            } else {
                (
                    81,
                    128 + path
                        .trim_start_matches("/dev/v4l-subdev")
                        .parse::<u32>()
                        .unwrap(),
                )
            });
        } else if let Some(rest) = l.strip_prefix("pad") {
            let (index, kind) = rest.split_once(": ").unwrap();
            let (e, index) = (entity.unwrap(), index.parse().unwrap());
            let flags = if kind.starts_with("Sink") {
                PAD_FL_SINK
            } else {
                PAD_FL_SOURCE
            };
            t.pads.push(Pad {
                id: e * 100 + index,
                entity: e,
                index,
                flags,
            });
            pad = Some((e, index));
        } else if let Some(rest) = l.strip_prefix("-> \"") {
            let (name, rest) = rest.split_once("\":").unwrap();
            let (index, flags) = rest.split_once(' ').unwrap();
            let mut bits = 0;
            if flags.contains("ENABLED") {
                bits |= LNK_FL_ENABLED;
            }
            if flags.contains("IMMUTABLE") {
                bits |= LNK_FL_IMMUTABLE;
            }
            let (e, i) = pad.unwrap();
            pending.push((
                PadRef {
                    entity: e,
                    index: i,
                },
                name.to_string(),
                index.parse().unwrap(),
                bits,
            ));
        }
    }
    for (from, to, index, flags) in pending {
        let sink = t.entity_by_name(&to).unwrap().id;
        t.links.push(Link {
            source: from.entity * 100 + from.index,
            sink: sink * 100 + index,
            flags,
        });
    }
    t
}

/// The sensor format a graph file shows on the sensor's pad 0.
fn shown_mode(text: &str, sensor: &str) -> SensorMode {
    let at = text.find("entity ").unwrap();
    let block = &text[at..];
    let start = block.find(&format!(": {sensor} (")).unwrap();
    let fmt = &block[start..];
    let f = &fmt[fmt.find("[fmt:").unwrap() + 5..];
    let (code, rest) = f.split_once('/').unwrap();
    let size = rest.split_whitespace().next().unwrap();
    let (w, h) = size.split_once('x').unwrap();
    SensorMode {
        code: mbus_code(code).unwrap(),
        width: w.parse().unwrap(),
        height: h.parse().unwrap(),
    }
}

const PI4: &str = include_str!("../topologies/pi4-unicam-imx477.txt");
const PI4_MAINLINE: &str = include_str!("../topologies/pi4-unicam-mainline-imx219.txt");
const PI5: &str = include_str!("../topologies/pi5-cfe-imx708.txt");

/// The modes the sensor drivers list (`VIDIOC_SUBDEV_ENUM_MBUS_CODE` and
/// `ENUM_FRAME_SIZE`), from their mode tables in raspberrypi/linux rpi-6.6.y.
fn imx477_modes() -> Vec<SensorMode> {
    let m = |code, width, height| SensorMode {
        code,
        width,
        height,
    };
    vec![
        m(0x3012, 4056, 3040),
        m(0x3012, 2028, 1520),
        m(0x3012, 2028, 1080),
        m(0x300f, 1332, 990),
    ]
}

fn imx708_modes() -> Vec<SensorMode> {
    [(4608, 2592), (2304, 1296), (1536, 864)]
        .iter()
        .map(|&(width, height)| SensorMode {
            code: 0x300f,
            width,
            height,
        })
        .collect()
}

fn imx219_modes() -> Vec<SensorMode> {
    let mut v = Vec::new();
    for code in [0x3014, 0x300f] {
        for (width, height) in [(3280, 2464), (1920, 1080), (1640, 1232), (640, 480)] {
            v.push(SensorMode {
                code,
                width,
                height,
            });
        }
    }
    v
}

fn pad(t: &Topology, entity: &str, index: u32) -> PadRef {
    PadRef {
        entity: t.entity_by_name(entity).unwrap().id,
        index,
    }
}

fn ends(hops: &[Hop]) -> Vec<(PadRef, PadRef)> {
    hops.iter().map(|h| (h.source, h.sink)).collect()
}

#[test]
fn pi4_downstream_unicam_streams_the_sensor_straight_into_the_node() {
    let t = parse(PI4);
    assert_eq!(t.entities.len(), 3);
    let node = t.entity_by_devnode((81, 0)).unwrap();
    assert_eq!(node.name, "unicam-image");
    let r = route(&t, node.id).unwrap();
    assert_eq!(t.name(r.sensor), "imx477 10-001a");
    assert_eq!(
        ends(&r.hops),
        [(pad(&t, "imx477 10-001a", 0), pad(&t, "unicam-image", 0))]
    );
    let mode = choose_mode(&imx477_modes(), None).unwrap();
    assert_eq!(mode, shown_mode(PI4, "imx477 10-001a"), "the boot default");
    let p = plan(&t, &r, mode);
    assert!(p.disable.is_empty() && p.enable.is_empty(), "{p:?}");
    assert_eq!(p.formats, [(pad(&t, "imx477 10-001a", 0), mode)]);
    // Another mode by --size: the 10-bit binned one.
    let small = choose_mode(&imx477_modes(), Some((1332, 990))).unwrap();
    assert_eq!((small.code, small.width), (0x300f, 1332));
    assert_eq!(choose_mode(&imx477_modes(), Some((640, 480))), None);
    // The embedded-data node has the sensor upstream too, through its metadata pad.
    let meta = route(&t, t.entity_by_name("unicam-embedded").unwrap().id).unwrap();
    assert_eq!(meta.hops[0].source.index, 1);
}

#[test]
fn pi4_mainline_unicam_sets_the_receivers_pads_too() {
    let t = parse(PI4_MAINLINE);
    let node = t.entity_by_devnode((81, 0)).unwrap();
    let r = route(&t, node.id).unwrap();
    assert_eq!(t.name(r.sensor), "imx219 10-0010");
    assert_eq!(
        ends(&r.hops),
        [
            (pad(&t, "imx219 10-0010", 0), pad(&t, "unicam", 0)),
            (pad(&t, "unicam", 1), pad(&t, "unicam-image", 0)),
        ]
    );
    let mode = choose_mode(&imx219_modes(), None).unwrap();
    assert_eq!(mode, shown_mode(PI4_MAINLINE, "imx219 10-0010"));
    assert_eq!(mode.code, 0x300f, "10-bit wins over 8-bit at the same size");
    let p = plan(&t, &r, mode);
    assert!(p.disable.is_empty() && p.enable.is_empty(), "{p:?}");
    assert_eq!(
        p.formats,
        [
            (pad(&t, "imx219 10-0010", 0), mode),
            (pad(&t, "unicam", 0), mode),
            (pad(&t, "unicam", 1), mode),
        ]
    );
    // The sensor sub-device is found through its interface, as capture opens it.
    assert_eq!(t.entity(r.sensor).unwrap().devnode, Some((81, 129)));
}

#[test]
fn pi5_cfe_takes_the_receiver_back_from_the_isp() {
    let t = parse(PI5);
    let node = t.entity_by_devnode((81, 0)).unwrap();
    assert_eq!(node.name, "rp1-cfe-csi2_ch0");
    let r = route(&t, node.id).unwrap();
    assert_eq!(t.name(r.sensor), "imx708 10-001a");
    assert_eq!(
        ends(&r.hops),
        [
            (pad(&t, "imx708 10-001a", 0), pad(&t, "csi2", 0)),
            (pad(&t, "csi2", 4), pad(&t, "rp1-cfe-csi2_ch0", 0)),
        ],
        "the image pad, not the metadata pad, and channel 0"
    );
    let mode = choose_mode(&imx708_modes(), None).unwrap();
    assert_eq!(mode, shown_mode(PI5, "imx708 10-001a"));
    let p = plan(&t, &r, mode);
    assert_eq!(
        ends(&p.enable),
        [(pad(&t, "csi2", 4), pad(&t, "rp1-cfe-csi2_ch0", 0))]
    );
    // Every link libcamera left enabled goes: the receiver's output to the front end,
    // the embedded-data node, and the front end's own nodes (rp1-cfe would wait for them
    // all to stream).
    let mut off = ends(&p.disable);
    off.sort();
    let mut want = vec![
        (pad(&t, "csi2", 4), pad(&t, "pisp-fe", 0)),
        (pad(&t, "csi2", 5), pad(&t, "rp1-cfe-embedded", 0)),
        (pad(&t, "pisp-fe", 2), pad(&t, "rp1-cfe-fe_image0", 0)),
        (pad(&t, "pisp-fe", 4), pad(&t, "rp1-cfe-fe_stats", 0)),
        (pad(&t, "rp1-cfe-fe_config", 0), pad(&t, "pisp-fe", 1)),
    ];
    want.sort();
    assert_eq!(off, want);
    assert!(p.disable.iter().all(|h| !h.immutable));
    assert_eq!(
        p.formats,
        [
            (pad(&t, "imx708 10-001a", 0), mode),
            (pad(&t, "csi2", 0), mode),
            (pad(&t, "csi2", 4), mode),
        ]
    );
    let steps = describe(&t, &p);
    assert_eq!(steps.len(), 5 + 1 + 3);
    assert!(
        steps.contains(&"-l '\"csi2\":4->\"pisp-fe\":0[0]'".to_string()),
        "{steps:?}"
    );
    assert!(
        steps.contains(&"-l '\"csi2\":4->\"rp1-cfe-csi2_ch0\":0[1]'".to_string()),
        "{steps:?}"
    );
}

#[test]
fn pi5_cfe_after_boot_only_needs_its_link_enabled() {
    // After boot nothing mutable is enabled (no libcamera run yet).
    let mut t = parse(PI5);
    for l in &mut t.links {
        if l.flags & LNK_FL_IMMUTABLE == 0 {
            l.flags &= !LNK_FL_ENABLED;
        }
    }
    let node = t.entity_by_name("rp1-cfe-csi2_ch0").unwrap().id;
    let r = route(&t, node).unwrap();
    let p = plan(
        &t,
        &r,
        choose_mode(&imx708_modes(), Some((2304, 1296))).unwrap(),
    );
    assert!(p.disable.is_empty(), "{p:?}");
    assert_eq!(p.enable.len(), 1);
    assert_eq!(p.formats[0].1.width, 2304);
}

#[test]
fn a_pi5_with_two_cameras_routes_each_node_to_its_own_sensor() {
    // Each camera port is a media graph of its own; the same node names appear in both.
    // The node capture opens is found by its device number, so the graph it is in says
    // which sensor to program.
    let port0 = parse(PI5);
    let port1 = parse(
        &PI5.replace("imx708 10-001a", "imx477 11-001a")
            .replace("/dev/video", "/dev/video1")
            .replace("/dev/v4l-subdev", "/dev/v4l-subdev1"),
    );
    let in0 = port0.entity_by_devnode((81, 0)).unwrap();
    assert!(port1.entity_by_devnode((81, 0)).is_none());
    let in1 = port1.entity_by_devnode((81, 10)).unwrap();
    assert_eq!(in1.name, "rp1-cfe-csi2_ch0");
    assert_eq!(
        port0.name(route(&port0, in0.id).unwrap().sensor),
        "imx708 10-001a"
    );
    let r1 = route(&port1, in1.id).unwrap();
    assert_eq!(port1.name(r1.sensor), "imx477 11-001a");
    assert_eq!(
        port1.entity(r1.sensor).unwrap().devnode,
        Some((81, 128 + 12))
    );
}

#[test]
fn a_node_without_a_sensor_upstream_is_left_alone() {
    // vivid's graph: one node, no sub-devices.
    let t = Topology {
        entities: vec![Entity {
            id: 1,
            name: "vivid-000-vid-cap".into(),
            function: ENT_F_IO_V4L,
            devnode: Some((81, 0)),
        }],
        pads: vec![Pad {
            id: 2,
            entity: 1,
            index: 0,
            flags: PAD_FL_SINK,
        }],
        links: Vec::new(),
    };
    assert_eq!(
        route(&t, 1),
        Err(MediaError::NoSensor("vivid-000-vid-cap".into()))
    );
    assert_eq!(route(&t, 7), Err(MediaError::NoEntity(7)));
    // Codes nightcap cannot store are never chosen.
    let odd = [SensorMode {
        code: 0x5001,
        width: 640,
        height: 480,
    }];
    assert_eq!(choose_mode(&odd, None), None);
}

proptest::proptest! {
    /// Any graph (cycles, dangling pads, links of every kind) gives a route that is a
    /// connected path from a sensor's source pad to the node, or an error; never a panic.
    #[test]
    fn routes_in_any_graph_are_connected_paths(
        functions in proptest::collection::vec(0u32..3, 1..8),
        links in proptest::collection::vec((0u32..8, 0u32..3, 0u32..8, 0u32..3, 0u32..4), 0..24),
        node in 0u32..8,
    ) {
        let mut t = Topology::default();
        for (i, f) in functions.iter().enumerate() {
            let id = i as u32;
            t.entities.push(Entity {
                id,
                name: format!("e{id}"),
                function: [ENT_F_CAM_SENSOR, ENT_F_IO_V4L, 0x0005_0001][*f as usize],
                devnode: None,
            });
            for index in 0..3 {
                t.pads.push(Pad { id: id * 100 + index, entity: id, index, flags: if index == 0 { PAD_FL_SINK } else { PAD_FL_SOURCE } });
            }
        }
        for (se, sp, ke, kp, flags) in links {
            t.links.push(Link { source: se * 100 + sp, sink: ke * 100 + kp, flags });
        }
        if let Ok(r) = route(&t, node) {
            proptest::prop_assert!(!r.hops.is_empty() && r.hops.len() <= MAX_HOPS);
            proptest::prop_assert_eq!(r.hops[0].source.entity, r.sensor);
            proptest::prop_assert_eq!(t.entity(r.sensor).unwrap().function, ENT_F_CAM_SENSOR);
            proptest::prop_assert_eq!(r.hops.last().unwrap().sink.entity, node);
            for w in r.hops.windows(2) {
                proptest::prop_assert_eq!(w[0].sink.entity, w[1].source.entity);
            }
            let p = plan(&t, &r, SensorMode { code: 0x300f, width: 64, height: 48 });
            proptest::prop_assert_eq!(p.formats.len(), 2 * r.hops.len() - 1);
            proptest::prop_assert!(p.disable.iter().all(|h| h.enabled && !h.immutable));
        }
    }
}
