//! What an output image says about itself: the window it covers and how it was made
//! ([`OutputMeta`]), written in its sidecar, EXIF and FITS headers.

use serde::{Deserialize, Serialize};

/// What an output image is: the window it covers and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputMeta {
    /// Start of the stacking window (first exposure start), UTC ns.
    pub start_utc_ns: i64,
    /// End of the window (last exposure end), UTC ns.
    pub end_utc_ns: i64,
    /// Frames combined.
    pub frames: u32,
    /// Sum of the exposure times of the combined frames, µs.
    pub exposure_total_us: u64,
    /// Stacking mode (`max`, `mean`, ...).
    pub mode: String,
    /// Whether the window was cut short (capture stopped, frames missing).
    pub partial: bool,
    /// Frames rejected (clouds, bright frames) and not combined.
    pub rejected: u32,
    /// CFA pattern of the sensor data (`RGGB`, ...), if any.
    pub cfa: Option<String>,
    /// `nightcap <version>`.
    pub software: String,
    /// `--mode sum` only: how the sum was fitted into 16-bit samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_fit: Option<crate::reduce::SumFit>,
    /// Also write the JSON sidecar `<file>.json`. Not part of the serialized metadata.
    #[serde(skip)]
    pub sidecar: bool,
    /// JPEG only: a caption in the bottom-left corner and marks along the top edge
    /// ([`crate::caption`]). Not part of the serialized metadata.
    #[serde(skip)]
    pub marks: Marks,
}

/// What a JPEG gets drawn on it (never the data of PNG, TIFF or FITS files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// Caption lines, bottom-left.
    pub caption: Option<Vec<String>>,
    /// Ticks at these columns along the top edge, each labelled (a keogram's hours).
    pub ticks: Vec<(u32, String)>,
}

impl OutputMeta {
    /// Metadata with the software name filled in and everything else empty.
    pub fn new(mode: &str) -> OutputMeta {
        OutputMeta {
            start_utc_ns: 0,
            end_utc_ns: 0,
            frames: 0,
            exposure_total_us: 0,
            mode: mode.to_string(),
            partial: false,
            rejected: 0,
            cfa: None,
            software: concat!("nightcap ", env!("CARGO_PKG_VERSION")).to_string(),
            sum_fit: None,
            sidecar: false,
            marks: Marks::default(),
        }
    }

    /// The metadata as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serializing a struct of plain fields cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
