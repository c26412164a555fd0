//! Per-frame statistics stored by the capture (issue 17.4): every frame a capture writes
//! carries a STATS record whose figures are exactly what measuring the decoded frame
//! gives, so cloud rejection judges a night the same from the records as from the
//! frames, without decoding them.

mod support;

use nightcap_frame::pixels::to_image16;
use nightcap_journal::codec::Decoder;
use nightcap_journal::Journal;
use nightcap_stack::calib::Calibration;
use nightcap_stack::night::reject_run;
use nightcap_stack::reject::{judge, FrameStats};
use nightcap_stack::stats::measure_image;

#[test]
fn a_capture_stores_each_frames_statistics_and_rejection_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let j = tmp.path().join("j");
    // A cloudy simulated 40 minutes in 1-minute exposures: some under cloud, some clear.
    support::sim_capture(&[
        "--sim-sensor",
        "small",
        "--sim-clouds",
        "-e",
        "60000",
        "--frames",
        "40",
        "--journal",
        j.to_str().unwrap(),
    ]);
    let journal = Journal::open(&j).unwrap();
    let frames = journal.frames();
    assert_eq!(frames.len(), 40);
    let mut measured = Vec::new();
    for r in &frames {
        let stored = journal
            .stats(r)
            .unwrap_or_else(|| panic!("frame seq {} has no STATS record", r.entry.seq));
        let f = journal
            .read_frame(r, &mut Decoder::new(), &mut Vec::new())
            .unwrap();
        let img = to_image16(&f.format, &f.data).unwrap();
        let m = measure_image(&img);
        assert_eq!(stored, m, "seq {}", r.entry.seq);
        assert!(m.cells > 0 && m.column_rows() > 0);
        measured.push(FrameStats::from(&m));
    }
    // Rejection from the records keeps exactly the frames rejection from the decoded
    // frames keeps.
    let verdicts = judge(&measured);
    let kept_by_frames: Vec<u64> = frames
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.is_none())
        .map(|(r, _)| r.entry.seq)
        .collect();
    let (kept, rejected) = reject_run(&journal, &frames, &Calibration::default(), &|_| {});
    let kept: Vec<u64> = kept.iter().map(|r| r.entry.seq).collect();
    assert_eq!(kept, kept_by_frames);
    assert_eq!(rejected, 40 - kept.len());
    assert!(rejected > 0 && rejected < 40, "{rejected} of 40 rejected");
    assert_eq!(support::info_json(&j)["frames_measured"], 40);

    let out = support::run(&["info", j.to_str().unwrap()]);
    assert!(out.status.success());
    let text = support::printed(&out);
    assert!(
        text.contains("statistics 40 of 40 frames measured by the writer"),
        "{text}"
    );
}
