//! Calibration data made from journals: the master dark of a dark journal and the hot
//! pixels of a night, decoded through [`crate::night::JournalFrames`] (what the data is
//! and how it is applied is [`crate::calib`]'s).

use crate::calib::{hot_pixels_of, CalibError, Calibration, HOT_SAMPLE_FRAMES};
use crate::night::JournalFrames;
use crate::pool::PoolScope;
use crate::reduce::{reduce, Mode};
use nightcap_frame::pixels::Image16;
use nightcap_journal::{FrameRef, Journal};

/// Samples up to [`HOT_SAMPLE_FRAMES`] frames evenly from `frames` and finds their hot
/// pixels. Damaged frames are left out of the sample.
pub fn find_hot_pixels(journal: &Journal, frames: &[FrameRef]) -> Vec<u32> {
    let _pools = PoolScope::enter();
    let n = frames.len();
    let take = n.min(HOT_SAMPLE_FRAMES);
    let mut buf = JournalFrames::buffers();
    let images: Vec<Image16> = (0..take)
        .filter_map(|k| {
            let r = &frames[k * n / take.max(1)];
            JournalFrames::decode(journal, r, &mut buf)
                .ok()
                .map(|x| x.1)
        })
        .collect();
    hot_pixels_of(&images)
}

/// The mean of every readable frame of the dark journal `journal`: the master dark.
pub fn master_dark(journal: &Journal) -> Result<Image16, CalibError> {
    let _pools = PoolScope::enter();
    let none = Calibration::default();
    let quiet = |_: &nightcap_journal::Damage| {};
    let tick = || {};
    let src = JournalFrames {
        journal,
        frames: journal.frames(),
        calibration: &none,
        masks: None,
        on_skip: &quiet,
        on_frame: &tick,
    };
    reduce(&src, src.frames.len(), Mode::Mean)
        .image
        .ok_or(CalibError::NoDarks)
}
