//! Exposure and gain controls: from "expose 20 s at gain 4" to the control writes a
//! device needs.
//!
//! Two kinds of device are handled. Webcams and the legacy Pi firmware driver expose
//! `exposure_time_absolute` in 100 µs units (manual only after `auto_exposure` = 1).
//! Sensor sub-devices of the libcamera-era Pi stack (unicam, rp1-cfe) expose
//! `exposure` in *lines*, with the line time set by `PIXEL_RATE` and `HBLANK` and the
//! longest exposure set by the frame length (`height + VBLANK`), so a long exposure
//! first raises VBLANK (and, if that is not enough and HBLANK is writable, HBLANK).
//!
//! Everything here is pure: [`plan_exposure`] takes the controls a device reported (with
//! their ranges) and returns an [`ExposurePlan`], the ordered writes plus the exposure and
//! gain they actually give, so the arithmetic is unit-tested without hardware.

/// Numeric V4L2 control ids (names changed across kernels; ids did not).
pub mod ids {
    /// Sensor exposure in lines (user class).
    pub const EXPOSURE: u32 = 0x0098_0911;
    /// `gain_automatic` (user class): 1 lets the device choose its gain.
    pub const AUTOGAIN: u32 = 0x0098_0912;
    /// Generic gain, device-defined units (user class).
    pub const GAIN: u32 = 0x0098_0913;
    /// `auto_exposure` menu: 0 auto, 1 manual, 2 shutter priority, 3 aperture priority.
    pub const EXPOSURE_AUTO: u32 = 0x009a_0901;
    /// `exposure_time_absolute`, 100 µs units (camera class).
    pub const EXPOSURE_ABSOLUTE: u32 = 0x009a_0902;
    /// `exposure_dynamic_framerate` (camera class).
    pub const EXPOSURE_AUTO_PRIORITY: u32 = 0x009a_0903;
    /// `iso_sensitivity` integer menu (camera class).
    pub const ISO_SENSITIVITY: u32 = 0x009a_0917;
    /// Vertical blanking in lines (image-source class).
    pub const VBLANK: u32 = 0x009e_0901;
    /// Horizontal blanking in pixels (image-source class).
    pub const HBLANK: u32 = 0x009e_0902;
    /// Sensor analogue gain code (image-source class).
    pub const ANALOGUE_GAIN: u32 = 0x009e_0903;
    /// Pixel rate in pixels per second, read-only, 64-bit (image-processing class).
    pub const PIXEL_RATE: u32 = 0x009f_0902;
    /// Digital gain (image-processing class).
    pub const DIGITAL_GAIN: u32 = 0x009f_0905;

    /// The ids `nightcap devices` shows and [`super::plan_exposure`] may use.
    pub const RELEVANT: [u32; 12] = [
        EXPOSURE_AUTO,
        EXPOSURE_ABSOLUTE,
        EXPOSURE_AUTO_PRIORITY,
        ISO_SENSITIVITY,
        EXPOSURE,
        AUTOGAIN,
        GAIN,
        ANALOGUE_GAIN,
        DIGITAL_GAIN,
        VBLANK,
        HBLANK,
        PIXEL_RATE,
    ];

    /// A readable name for an id.
    pub fn name(id: u32) -> &'static str {
        match id {
            EXPOSURE => "exposure (lines)",
            GAIN => "gain",
            AUTOGAIN => "gain_automatic",
            EXPOSURE_AUTO => "auto_exposure",
            EXPOSURE_ABSOLUTE => "exposure_time_absolute (100 us)",
            EXPOSURE_AUTO_PRIORITY => "exposure_dynamic_framerate",
            ISO_SENSITIVITY => "iso_sensitivity",
            VBLANK => "vertical_blanking (lines)",
            HBLANK => "horizontal_blanking (pixels)",
            ANALOGUE_GAIN => "analogue_gain",
            PIXEL_RATE => "pixel_rate (Hz)",
            DIGITAL_GAIN => "digital_gain",
            _ => "control",
        }
    }
}

/// One control as a device reported it (`VIDIOC_QUERY_EXT_CTRL` plus its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRange {
    pub id: u32,
    pub min: i64,
    pub max: i64,
    pub step: u64,
    pub default: i64,
    pub value: i64,
    pub read_only: bool,
}

impl ControlRange {
    /// `v` clamped into the range and rounded down onto the step grid.
    pub fn clamp(&self, v: i64) -> i64 {
        let v = v.clamp(self.min, self.max.max(self.min));
        // i128: min and v may be far apart (any i64 range is accepted here).
        let step = i128::from(self.step.max(1));
        let (v, min) = (i128::from(v), i128::from(self.min));
        (min + (v - min) / step * step) as i64
    }

    /// Whether the range and value are within what any real control reports (|x| ≤ 2^40,
    /// min ≤ max), so arithmetic on them cannot overflow.
    pub fn is_sane(&self) -> bool {
        const LIMIT: i64 = 1 << 40;
        let ok = |v: i64| (-LIMIT..=LIMIT).contains(&v);
        ok(self.min)
            && ok(self.max)
            && ok(self.value)
            && self.min <= self.max
            && self.step < 1 << 40
    }

    /// The smallest value on the step grid that is ≥ `v`, or the maximum if none is.
    pub fn clamp_up(&self, v: i64) -> i64 {
        let down = self.clamp(v);
        if down >= v {
            return down;
        }
        let step = i64::try_from(self.step).unwrap_or(1).max(1);
        if down.saturating_add(step) <= self.max {
            down + step
        } else {
            down
        }
    }
}

/// Camera sensors whose exposure margin and gain code are known (from their kernel drivers
/// and libcamera's camera helpers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensor {
    Imx219,
    Imx477,
    Ov5647,
    Imx708,
    /// A sensor sub-device nightcap has no table for: margins are derived from the
    /// reported ranges and the gain control is written as a raw value.
    Other,
}

impl Sensor {
    /// The sensor named by a sub-device's sysfs name (e.g. `imx477 10-001a`).
    pub fn from_name(name: &str) -> Sensor {
        let n = name.to_ascii_lowercase();
        if n.starts_with("imx219") {
            Sensor::Imx219
        } else if n.starts_with("imx477") || n.starts_with("imx378") {
            Sensor::Imx477
        } else if n.starts_with("ov5647") {
            Sensor::Ov5647
        } else if n.starts_with("imx708") {
            Sensor::Imx708
        } else {
            Sensor::Other
        }
    }

    /// Lines between the exposure and the frame length (exposure ≤ frame length − margin).
    fn margin(self) -> Option<i64> {
        match self {
            Sensor::Imx219 | Sensor::Ov5647 => Some(4),
            Sensor::Imx477 => Some(22),
            Sensor::Imx708 => Some(48),
            Sensor::Other => None,
        }
    }

    /// The gain (×1000) an analogue gain code gives, for sensors whose code is known.
    /// libcamera: IMX219 g = 256/(256−c); IMX477/IMX708 g = 1024/(1024−c); OV5647 g = c/16.
    pub fn gain_of_code(self, code: i64) -> Option<u32> {
        let c = code as f64;
        let g = match self {
            Sensor::Imx219 => 256.0 / (256.0 - c),
            Sensor::Imx477 | Sensor::Imx708 => 1024.0 / (1024.0 - c),
            Sensor::Ov5647 => c / 16.0,
            Sensor::Other => return None,
        };
        // Saturating float-to-int casts: a nonsense code cannot panic.
        (g.is_finite() && g > 0.0).then(|| (g * 1000.0).round() as u32)
    }

    /// Analogue gain code for a gain (×1000), clamped to `range`, and the gain it gives.
    fn gain_code(self, gain_milli: u32, range: &ControlRange) -> Option<(i64, u32)> {
        let g = f64::from(gain_milli.max(1)) / 1000.0;
        let code = match self {
            Sensor::Imx219 => 256.0 - 256.0 / g,
            Sensor::Imx477 | Sensor::Imx708 => 1024.0 - 1024.0 / g,
            Sensor::Ov5647 => 16.0 * g,
            Sensor::Other => return None,
        };
        let code = range.clamp(code.round() as i64);
        Some((code, self.gain_of_code(code)?))
    }
}

/// What a device offers to control exposure and gain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExposureControls {
    /// `exposure_time_absolute` in 100 µs units (webcams, legacy Pi firmware driver).
    Absolute {
        exposure: ControlRange,
        auto: Option<ControlRange>,
        gain: Option<ControlRange>,
    },
    /// A sensor sub-device: exposure in lines.
    Sensor {
        sensor: Sensor,
        /// Active pixel array of the current mode.
        width: u32,
        height: u32,
        pixel_rate: i64,
        exposure: ControlRange,
        vblank: ControlRange,
        hblank: Option<ControlRange>,
        analogue_gain: Option<ControlRange>,
    },
}

/// The control writes to make, in order, and what they achieve.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposurePlan {
    /// (control id, value), in the order they must be written (each in its own call:
    /// they belong to different control classes).
    pub writes: Vec<(u32, i64)>,
    /// The exposure the writes give, µs (after clamping and rounding to units).
    pub exposure_us: u32,
    /// The gain the writes give (×1000), or for a raw gain control its raw value ×1000.
    /// When no gain was asked for: the sensor's current gain if its gain code is known,
    /// else `None`.
    pub gain_milli: Option<u32>,
    /// Frame period the writes give, µs, if known (sensor sub-devices).
    pub frame_us: Option<u64>,
    /// Things the user should know (clamping), one sentence each.
    pub notes: Vec<String>,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("the sensor reports a pixel rate of {0} Hz; cannot convert exposure to lines")]
    PixelRate(i64),
    #[error("the sensor reports a line length of {0} pixels; cannot convert exposure to lines")]
    LineLength(i64),
    #[error("the device reports a nonsensical range {min}..{max} (value {value}) for {name}")]
    Range {
        name: &'static str,
        min: i64,
        max: i64,
        value: i64,
    },
}

/// The plan for a device with no exposure control at all (capture cards, the kernel's
/// `vivid`): each frame is taken as exposed for its whole frame period `frame_us` (which
/// the caller has set as close to `asked_us` as the device allows). A gain asked for is
/// written to the device's generic gain control (`gain`, raw units, as for webcams) if it
/// has one; notes say what was done. `None` when the frame period is unknown: then
/// nothing sensible can be recorded as the exposure.
pub fn plan_without_exposure_control(
    asked_us: u32,
    frame_us: Option<u64>,
    gain: Option<&ControlRange>,
    gain_milli: Option<u32>,
) -> Option<ExposurePlan> {
    let frame_us = frame_us.filter(|&f| f > 0)?;
    let exposure_us = u32::try_from(frame_us).unwrap_or(u32::MAX);
    let mut notes = vec![format!(
        "the device has no exposure control: each frame is taken as exposed for its whole \
         frame period, {} ms{}",
        frame_us as f64 / 1000.0,
        if u64::from(asked_us) == frame_us {
            String::new()
        } else {
            format!(
                " (the nearest the device offers to the {} ms asked)",
                f64::from(asked_us) / 1000.0
            )
        }
    )];
    let mut writes = Vec::new();
    let gain_milli = gain_milli.and_then(|g| match gain {
        Some(range) => Some(raw_gain(range, g, &mut writes, &mut notes)),
        None => {
            notes.push("this camera has no gain control; gain ignored".to_string());
            None
        }
    });
    Some(ExposurePlan {
        writes,
        exposure_us,
        gain_milli,
        frame_us: Some(frame_us),
        notes,
    })
}

/// Turns the device's automatic gain off before a gain is written: in automatic mode a
/// written gain is ignored (and reads back as whatever the device chose). Does nothing
/// when no gain is written or the device has no automatic gain.
pub fn manual_gain_first(writes: &mut Vec<(u32, i64)>, has_autogain: bool) {
    if let Some(at) = writes.iter().position(|w| w.0 == ids::GAIN) {
        if has_autogain && !writes.iter().any(|w| w.0 == ids::AUTOGAIN) {
            writes.insert(at, (ids::AUTOGAIN, 0));
        }
    }
}

/// The writes that set `exposure_us` and (if given) `gain_milli` on a device.
pub fn plan_exposure(
    controls: &ExposureControls,
    exposure_us: u32,
    gain_milli: Option<u32>,
) -> Result<ExposurePlan, ControlError> {
    let insane = |r: &ControlRange| ControlError::Range {
        name: ids::name(r.id),
        min: r.min,
        max: r.max,
        value: r.value,
    };
    let ranges: Vec<&ControlRange> = match controls {
        ExposureControls::Absolute {
            exposure,
            auto,
            gain,
        } => [Some(exposure), auto.as_ref(), gain.as_ref()]
            .into_iter()
            .flatten()
            .collect(),
        ExposureControls::Sensor {
            exposure,
            vblank,
            hblank,
            analogue_gain,
            ..
        } => [
            Some(exposure),
            Some(vblank),
            hblank.as_ref(),
            analogue_gain.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    if let Some(bad) = ranges.into_iter().find(|r| !r.is_sane()) {
        return Err(insane(bad));
    }
    match controls {
        ExposureControls::Absolute {
            exposure,
            auto,
            gain,
        } => Ok(plan_absolute(
            exposure,
            auto.as_ref(),
            gain.as_ref(),
            exposure_us,
            gain_milli,
        )),
        ExposureControls::Sensor { .. } => plan_sensor(controls, exposure_us, gain_milli),
    }
}

fn plan_absolute(
    exposure: &ControlRange,
    auto: Option<&ControlRange>,
    gain: Option<&ControlRange>,
    exposure_us: u32,
    gain_milli: Option<u32>,
) -> ExposurePlan {
    let mut writes = Vec::new();
    let mut notes = Vec::new();
    // Manual mode first: the absolute exposure is ignored (or rejected) in auto modes.
    if auto.is_some() {
        writes.push((ids::EXPOSURE_AUTO, 1));
    }
    let want = i64::from(exposure_us.saturating_add(50) / 100).max(1);
    let units = exposure.clamp(want);
    if units != want {
        notes.push(format!(
            "exposure {} ms is outside this camera's range {}..{} ms; using {} ms",
            f64::from(exposure_us) / 1000.0,
            exposure.min as f64 / 10.0,
            exposure.max as f64 / 10.0,
            units as f64 / 10.0
        ));
    }
    writes.push((ids::EXPOSURE_ABSOLUTE, units));
    let gain_milli = gain_milli.and_then(|g| {
        let Some(range) = gain else {
            notes.push("this camera has no gain control; gain ignored".to_string());
            return None;
        };
        Some(raw_gain(range, g, &mut writes, &mut notes))
    });
    ExposurePlan {
        writes,
        exposure_us: u32::try_from(units * 100).unwrap_or(u32::MAX),
        gain_milli,
        frame_us: None,
        notes,
    }
}

/// A gain control of unknown units takes the requested gain as its raw value.
fn raw_gain(
    range: &ControlRange,
    gain_milli: u32,
    writes: &mut Vec<(u32, i64)>,
    notes: &mut Vec<String>,
) -> u32 {
    let want = i64::from(gain_milli).div_euclid(1000);
    let value = range.clamp(want);
    if value != want {
        notes.push(format!(
            "gain {want} is outside the control's range {}..{}; using {value}",
            range.min, range.max
        ));
    }
    writes.push((range.id, value));
    u32::try_from(value.max(0) * 1000).unwrap_or(u32::MAX)
}

fn plan_sensor(
    controls: &ExposureControls,
    exposure_us: u32,
    gain_milli: Option<u32>,
) -> Result<ExposurePlan, ControlError> {
    let ExposureControls::Sensor {
        sensor,
        width,
        height,
        pixel_rate,
        exposure,
        vblank,
        hblank,
        analogue_gain,
    } = controls
    else {
        unreachable!("plan_sensor is only called for sensor controls")
    };
    if *pixel_rate <= 0 || *pixel_rate > 1 << 40 {
        return Err(ControlError::PixelRate(*pixel_rate));
    }
    let (width, height, rate) = (i64::from(*width), i64::from(*height), *pixel_rate as f64);
    let mut writes = Vec::new();
    let mut notes = Vec::new();
    // The exposure margin: the sensor's own, else what the current ranges imply.
    let margin = sensor.margin().unwrap_or_else(|| {
        let implied = height + vblank.value - exposure.max;
        if (0..=64).contains(&implied) {
            implied
        } else {
            4
        }
    });
    let max_frame_lines = height + vblank.max;
    let want_us = f64::from(exposure_us);

    // Line length: keep the current HBLANK unless even the longest frame is too short
    // and HBLANK can grow (newer IMX219/OV5647 drivers), then lengthen lines just enough.
    let mut hb = hblank.map_or(0, |h| h.value);
    let usable_lines = (max_frame_lines - margin).max(1);
    if let Some(h) = hblank.filter(|h| !h.read_only) {
        let need_length = (want_us * rate / 1e6 / usable_lines as f64).ceil() as i64;
        if need_length > width + hb {
            let new_hb = h.clamp_up(need_length - width);
            if new_hb > hb {
                hb = new_hb;
                writes.push((ids::HBLANK, hb));
            }
        }
    }
    let line_length = width + hb;
    if line_length <= 0 {
        return Err(ControlError::LineLength(line_length));
    }
    let line_us = line_length as f64 * 1e6 / rate;
    let want_lines = (want_us / line_us).round().max(1.0) as i64;

    // The shortest frame that holds the exposure plus the margin. VBLANK goes first: the
    // driver narrows the exposure range to the frame length when VBLANK changes.
    let vb = vblank.clamp_up(want_lines + margin - height);
    writes.push((ids::VBLANK, vb));
    let frame_lines = height + vb;
    let lines = want_lines.clamp(exposure.min, (frame_lines - margin).max(exposure.min));
    writes.push((ids::EXPOSURE, lines));
    let effective_us = (lines as f64 * line_us).round();
    if (effective_us - want_us).abs() > line_us.max(want_us * 0.001) {
        notes.push(format!(
            "exposure {:.3} s is outside what this sensor mode allows; using {:.3} s",
            want_us / 1e6,
            effective_us / 1e6
        ));
    }
    let gain_milli = match (gain_milli, analogue_gain) {
        // Not asked: report the sensor's current gain if its code is known.
        (None, Some(range)) => sensor.gain_of_code(range.value),
        (None, None) => None,
        (Some(_), None) => {
            notes.push("this sensor has no analogue gain control; gain ignored".to_string());
            None
        }
        (Some(g), Some(range)) => match sensor.gain_code(g, range) {
            Some((code, got)) => {
                writes.push((ids::ANALOGUE_GAIN, code));
                Some(got)
            }
            None => Some(raw_gain(range, g, &mut writes, &mut notes)),
        },
    };
    Ok(ExposurePlan {
        writes,
        exposure_us: effective_us.min(f64::from(u32::MAX)) as u32,
        gain_milli,
        frame_us: Some((frame_lines as f64 * line_us).round() as u64),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(id: u32, min: i64, max: i64, value: i64) -> ControlRange {
        ControlRange {
            id,
            min,
            max,
            step: 1,
            default: value,
            value,
            read_only: false,
        }
    }

    fn webcam() -> ExposureControls {
        ExposureControls::Absolute {
            exposure: range(ids::EXPOSURE_ABSOLUTE, 3, 2047, 250),
            auto: Some(range(ids::EXPOSURE_AUTO, 0, 3, 3)),
            gain: Some(range(ids::GAIN, 0, 255, 0)),
        }
    }

    #[test]
    fn webcam_exposure_in_100us_units_after_manual_mode() {
        let plan = plan_exposure(&webcam(), 50_000, Some(32_000)).unwrap();
        assert_eq!(
            plan.writes,
            vec![
                (ids::EXPOSURE_AUTO, 1),
                (ids::EXPOSURE_ABSOLUTE, 500),
                (ids::GAIN, 32)
            ]
        );
        assert_eq!(plan.exposure_us, 50_000);
        assert_eq!(plan.gain_milli, Some(32_000));
        assert!(plan.notes.is_empty());
        // 1234 µs rounds to 12 units.
        let plan = plan_exposure(&webcam(), 1_234, None).unwrap();
        assert_eq!(plan.writes[1], (ids::EXPOSURE_ABSOLUTE, 12));
        assert_eq!(plan.exposure_us, 1_200);
        assert_eq!(plan.gain_milli, None);
    }

    #[test]
    fn webcam_exposure_and_gain_clamped_with_a_note() {
        let plan = plan_exposure(&webcam(), 5_000_000, Some(1_000_000)).unwrap();
        assert_eq!(plan.writes[1], (ids::EXPOSURE_ABSOLUTE, 2047));
        assert_eq!(plan.exposure_us, 204_700);
        assert_eq!(plan.writes[2], (ids::GAIN, 255));
        assert_eq!(plan.notes.len(), 2, "{:?}", plan.notes);
        let plan = plan_exposure(&webcam(), 100, None).unwrap();
        assert_eq!(
            plan.writes[1],
            (ids::EXPOSURE_ABSOLUTE, 3),
            "raised to the minimum"
        );
        // No auto_exposure control: no manual-mode write.
        let legacy = ExposureControls::Absolute {
            exposure: range(ids::EXPOSURE_ABSOLUTE, 1, 10_000, 1000),
            auto: None,
            gain: None,
        };
        let plan = plan_exposure(&legacy, 1_000_000, Some(2000)).unwrap();
        assert_eq!(plan.writes, vec![(ids::EXPOSURE_ABSOLUTE, 10_000)]);
        assert_eq!(plan.gain_milli, None);
        assert_eq!(plan.notes.len(), 1);
    }

    /// IMX477 full-resolution mode: 840 MHz pixel rate, line length 24000 px (HBLANK
    /// 19944), frame length 3500 lines (VBLANK 460), 10 fps; frame length up to
    /// 0xffdc << 7 lines; exposure ≤ frame length − 22.
    fn imx477() -> ExposureControls {
        ExposureControls::Sensor {
            sensor: Sensor::Imx477,
            width: 4056,
            height: 3040,
            pixel_rate: 840_000_000,
            exposure: range(ids::EXPOSURE, 4, 3500 - 22, 1000),
            vblank: range(ids::VBLANK, 22, (0xffdc << 7) - 3040, 460),
            hblank: Some(range(ids::HBLANK, 19944, 0xfff0 - 4056, 19944)),
            analogue_gain: Some(range(ids::ANALOGUE_GAIN, 0, 978, 0)),
        }
    }

    #[test]
    fn imx477_long_exposure_raises_vblank_first() {
        let plan = plan_exposure(&imx477(), 20_000_000, Some(4000)).unwrap();
        // Line time 24000 / 840 MHz = 28.571 µs: 20 s = 700000 lines.
        assert_eq!(
            plan.writes,
            vec![
                (ids::VBLANK, 700_000 + 22 - 3040),
                (ids::EXPOSURE, 700_000),
                (ids::ANALOGUE_GAIN, 768),
            ]
        );
        assert_eq!(plan.exposure_us, 20_000_000);
        assert_eq!(plan.gain_milli, Some(4000));
        assert_eq!(plan.frame_us, Some(20_000_629));
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    }

    #[test]
    fn imx477_short_exposure_uses_the_shortest_frame() {
        let plan = plan_exposure(&imx477(), 10_000, None).unwrap();
        assert_eq!(plan.writes, vec![(ids::VBLANK, 22), (ids::EXPOSURE, 350)]);
        assert_eq!(plan.exposure_us, 10_000);
        assert_eq!(
            plan.gain_milli,
            Some(1000),
            "current gain (code 0) reported, not written"
        );
        // Gain 30x is beyond the sensor's 22.3x: clamped to code 978.
        let plan = plan_exposure(&imx477(), 10_000, Some(30_000)).unwrap();
        assert_eq!(plan.writes[2], (ids::ANALOGUE_GAIN, 978));
        assert_eq!(plan.gain_milli, Some(22_261));
    }

    fn imx219(hblank_writable: bool) -> ExposureControls {
        let mut hblank = range(ids::HBLANK, 168, 0x7ff0 - 3280, 168);
        hblank.read_only = !hblank_writable;
        ExposureControls::Sensor {
            sensor: Sensor::Imx219,
            width: 3280,
            height: 2464,
            pixel_rate: 182_400_000,
            exposure: range(ids::EXPOSURE, 4, 2464 + 8 - 4, 1000),
            vblank: range(ids::VBLANK, 4, 0xffff - 2464, 8),
            hblank: Some(hblank),
            analogue_gain: Some(range(ids::ANALOGUE_GAIN, 0, 232, 0)),
        }
    }

    #[test]
    fn imx219_longest_frame_too_short_lengthens_lines_when_hblank_is_writable() {
        let plan = plan_exposure(&imx219(true), 10_000_000, Some(2000)).unwrap();
        // 10 s over at most 0xffff - 4 lines needs lines of >= 27835 px.
        assert_eq!(plan.writes[0], (ids::HBLANK, 27_835 - 3280));
        assert_eq!(plan.writes[1].0, ids::VBLANK);
        assert_eq!(plan.writes[2].0, ids::EXPOSURE);
        assert!(plan.writes[2].1 <= 0xffff - 4);
        assert!(
            (i64::from(plan.exposure_us) - 10_000_000).abs() < 200,
            "{}",
            plan.exposure_us
        );
        assert_eq!(plan.writes[3], (ids::ANALOGUE_GAIN, 128));
        assert_eq!(plan.gain_milli, Some(2000));
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    }

    #[test]
    fn imx219_read_only_hblank_caps_the_exposure_with_a_note() {
        let plan = plan_exposure(&imx219(false), 10_000_000, None).unwrap();
        assert_eq!(
            plan.writes,
            vec![(ids::VBLANK, 0xffff - 2464), (ids::EXPOSURE, 0xffff - 4)]
        );
        // 65531 lines of 3448 px at 182.4 MHz = 1.2388 s.
        assert_eq!(plan.exposure_us, 1_238_766);
        assert_eq!(plan.notes.len(), 1);
    }

    #[test]
    fn unknown_sensor_derives_margin_and_writes_raw_gain() {
        let controls = ExposureControls::Sensor {
            sensor: Sensor::from_name("ov9281 10-0060"),
            width: 1280,
            height: 800,
            pixel_rate: 100_000_000,
            // Current frame 800 + 100 lines, exposure max 900 - 25: margin 25.
            exposure: range(ids::EXPOSURE, 1, 875, 100),
            vblank: range(ids::VBLANK, 10, 60_000, 100),
            hblank: None,
            analogue_gain: Some(range(ids::ANALOGUE_GAIN, 16, 248, 16)),
        };
        // No HBLANK: line = 1280 px = 12.8 µs; 0.1 s = 7812.5 lines, rounded to 7813.
        let plan = plan_exposure(&controls, 100_000, Some(64_000)).unwrap();
        assert_eq!(plan.writes[0], (ids::VBLANK, 7813 + 25 - 800));
        assert_eq!(plan.writes[1], (ids::EXPOSURE, 7813));
        assert_eq!(plan.writes[2], (ids::ANALOGUE_GAIN, 64));
        assert_eq!(Sensor::from_name("imx477 10-001a"), Sensor::Imx477);
    }

    #[test]
    fn nonsense_pixel_rate_is_an_error() {
        let ExposureControls::Sensor {
            sensor,
            width,
            height,
            exposure,
            vblank,
            hblank,
            analogue_gain,
            ..
        } = imx477()
        else {
            unreachable!()
        };
        let c = ExposureControls::Sensor {
            sensor,
            width,
            height,
            pixel_rate: 0,
            exposure,
            vblank,
            hblank,
            analogue_gain,
        };
        assert_eq!(
            plan_exposure(&c, 1000, None),
            Err(ControlError::PixelRate(0))
        );
    }

    #[test]
    fn clamp_respects_steps() {
        let mut r = range(1, 0, 100, 0);
        r.step = 8;
        assert_eq!(r.clamp(17), 16);
        assert_eq!(r.clamp_up(17), 24);
        assert_eq!(r.clamp_up(99), 96, "no step above 99 fits under 100");
        assert_eq!(r.clamp(-5), 0);
    }

    #[test]
    fn gain_codes() {
        assert_eq!(Sensor::Imx219.gain_of_code(0), Some(1000));
        assert_eq!(Sensor::Imx219.gain_of_code(232), Some(10_667));
        assert_eq!(Sensor::Imx477.gain_of_code(978), Some(22_261));
        assert_eq!(Sensor::Ov5647.gain_of_code(32), Some(2000));
        assert_eq!(Sensor::Imx219.gain_of_code(256), None, "division by zero");
        assert_eq!(Sensor::Ov5647.gain_of_code(-5), None);
        assert_eq!(Sensor::Other.gain_of_code(10), None);
    }

    #[test]
    fn nonsense_ranges_are_errors_not_panics() {
        let mut c = webcam();
        if let ExposureControls::Absolute { exposure, .. } = &mut c {
            exposure.min = i64::MIN;
            exposure.max = i64::MAX;
        }
        assert!(matches!(
            plan_exposure(&c, 1000, None),
            Err(ControlError::Range { .. })
        ));
        let wide = ControlRange {
            id: 1,
            min: i64::MIN,
            max: i64::MAX,
            step: u64::MAX,
            default: 0,
            value: 0,
            read_only: false,
        };
        assert_eq!(wide.clamp(5), i64::MIN, "one step spans the whole range");
    }

    proptest::proptest! {
        /// Whatever sane ranges a sensor reports, the plan only writes values inside them
        /// and writes VBLANK before EXPOSURE.
        #[test]
        fn sensor_plans_stay_in_range(
            width in 16u32..10_000,
            height in 16u32..10_000,
            rate in 1i64..2_000_000_000,
            exp_max in 1i64..100_000,
            vb_min in 0i64..1000,
            vb_span in 0i64..10_000_000,
            hb_min in 0i64..5000,
            hb_span in 0i64..60_000,
            hb_ro in proptest::bool::ANY,
            step in 1u64..16,
            exposure_us in proptest::num::u32::ANY,
            gain in proptest::option::of(proptest::num::u32::ANY),
            sensor in proptest::sample::select(vec![Sensor::Imx219, Sensor::Imx477, Sensor::Ov5647, Sensor::Imx708, Sensor::Other]),
        ) {
            let mut vblank = range(ids::VBLANK, vb_min, vb_min + vb_span, vb_min);
            vblank.step = step;
            let mut hblank = range(ids::HBLANK, hb_min, hb_min + hb_span, hb_min);
            hblank.read_only = hb_ro;
            let controls = ExposureControls::Sensor {
                sensor,
                width,
                height,
                pixel_rate: rate,
                exposure: range(ids::EXPOSURE, 1, exp_max, 1),
                vblank,
                hblank: Some(hblank),
                analogue_gain: Some(range(ids::ANALOGUE_GAIN, 0, 978, 0)),
            };
            let plan = plan_exposure(&controls, exposure_us, gain).unwrap();
            let limits = |id| match id {
                ids::VBLANK => (vblank.min, vblank.max),
                ids::HBLANK => (hblank.min, hblank.max),
                ids::EXPOSURE => (1, i64::MAX),
                ids::ANALOGUE_GAIN => (0, 978),
                other => panic!("unexpected write to {other:#x}"),
            };
            for &(id, v) in &plan.writes {
                let (lo, hi) = limits(id);
                proptest::prop_assert!((lo..=hi).contains(&v), "{id:#x} = {v} outside {lo}..={hi}");
            }
            let pos = |id| plan.writes.iter().position(|w| w.0 == id);
            proptest::prop_assert!(pos(ids::VBLANK) < pos(ids::EXPOSURE));
        }
    }

    #[test]
    fn a_device_without_exposure_control_exposes_for_its_frame_period() {
        let plan = plan_without_exposure_control(200_000, Some(200_000), None, None).unwrap();
        assert_eq!((plan.exposure_us, plan.frame_us), (200_000, Some(200_000)));
        assert!(plan.writes.is_empty());
        assert_eq!(plan.notes.len(), 1);
        assert!(plan.notes[0].contains("200 ms"), "{:?}", plan.notes);
        assert!(!plan.notes[0].contains("asked"), "{:?}", plan.notes);
        // The device's longest period is shorter than asked: said, with both figures.
        let short =
            plan_without_exposure_control(5_000_000, Some(1_000_000), None, Some(2000)).unwrap();
        assert_eq!(short.exposure_us, 1_000_000);
        assert!(short.notes[0].contains("1000 ms") && short.notes[0].contains("5000 ms asked"));
        assert!(
            short.notes[1].contains("no gain control"),
            "a gain that cannot be set is said"
        );
        assert_eq!(short.gain_milli, None);
        // No period known: no plan (capture refuses the device).
        assert!(plan_without_exposure_control(5_000_000, None, None, None).is_none());
        assert!(plan_without_exposure_control(5_000_000, Some(0), None, None).is_none());
    }

    #[test]
    fn a_device_without_exposure_control_still_takes_a_gain() {
        // vivid's gain: 0..255, raw units.
        let gain = ControlRange {
            id: ids::GAIN,
            min: 0,
            max: 255,
            step: 1,
            default: 100,
            value: 100,
            read_only: false,
        };
        let plan =
            plan_without_exposure_control(100_000, Some(100_000), Some(&gain), Some(4000)).unwrap();
        assert_eq!(plan.writes, [(ids::GAIN, 4)]);
        assert_eq!(plan.gain_milli, Some(4000));
        assert_eq!(plan.notes.len(), 1, "{:?}", plan.notes);
        let clamped =
            plan_without_exposure_control(100_000, Some(100_000), Some(&gain), Some(900_000))
                .unwrap();
        assert_eq!(clamped.writes, [(ids::GAIN, 255)]);
        assert_eq!(clamped.gain_milli, Some(255_000));
        assert!(clamped.notes[1].contains("0..255"), "{:?}", clamped.notes);
        // Automatic gain goes off first, else the gain written is ignored.
        let mut writes = plan.writes.clone();
        manual_gain_first(&mut writes, true);
        assert_eq!(writes, [(ids::AUTOGAIN, 0), (ids::GAIN, 4)]);
        manual_gain_first(&mut writes, true);
        assert_eq!(writes.len(), 2, "once");
        let mut plain = plan.writes.clone();
        manual_gain_first(&mut plain, false);
        assert_eq!(plain, [(ids::GAIN, 4)]);
        let mut none = vec![(ids::EXPOSURE_ABSOLUTE, 50)];
        manual_gain_first(&mut none, true);
        assert_eq!(none, [(ids::EXPOSURE_ABSOLUTE, 50)]);
        // No gain asked: nothing written, the camera's gain left alone.
        let none =
            plan_without_exposure_control(100_000, Some(100_000), Some(&gain), None).unwrap();
        assert!(none.writes.is_empty() && none.gain_milli.is_none());
    }
}
