//! A program embedding the stacker holds no buffers between calls: the pools that make a
//! night's windows cheap are freed when the call returns. (One test in its own binary,
//! so no other test's call is in progress while it looks.)

use nightcap_frame::pixels::Image16;
use nightcap_frame::Cfa;
use nightcap_journal::testing::{format, noise};
use nightcap_journal::{Journal, JournalWriter, WriterConfig};
use nightcap_stack::night::{run_stack, StackConfig};
use nightcap_stack::pool::held_bytes;
use nightcap_stack::reduce::{recycle, reduce, InMemory, Mode};

#[test]
fn nothing_is_held_once_a_call_returns() {
    // A reduction recycles its planes while it runs and hands back its image.
    let frames: Vec<Image16> = (0..4)
        .map(|i| Image16 {
            width: 640,
            height: 480,
            channels: 1,
            cfa: Cfa::Rggb,
            bit_depth: 12,
            data: (0..640 * 480)
                .map(|k| ((k * 7 + i) % 4096) as u16)
                .collect(),
        })
        .collect();
    let img = reduce(&InMemory(&frames), 4, Mode::Max).image.unwrap();
    recycle(img);
    assert_eq!(
        held_bytes(),
        0,
        "a recycled image outside a call is dropped"
    );

    // A whole night through the journal: windows reuse buffers, none outlive the call.
    let dir = tempfile::tempdir().unwrap();
    let f = format(320, 240, 12, Cfa::Rggb, nightcap_frame::Packing::U16Le);
    let mut w = JournalWriter::open(WriterConfig::new(dir.path().join("j")), f).unwrap();
    for i in 0..12u64 {
        let meta = nightcap_frame::FrameMeta {
            time_utc_ns: 1_795_996_800_000_000_000 + i as i64 * 5_000_000_000,
            exposure_us: 5_000_000,
            ..Default::default()
        };
        w.append_frame(&meta, &noise(f.max_frame_bytes() as usize, i))
            .unwrap();
    }
    w.close().unwrap();
    let journal = Journal::open(&dir.path().join("j")).unwrap();
    let mut cfg = StackConfig::new(dir.path().join("out"));
    cfg.windows.every_ns = Some(20_000_000_000);
    let outs = run_stack(&journal, &cfg, &|_| {}).unwrap();
    assert_eq!(outs.len(), 3, "three 20 s windows of 5 s frames");
    assert_eq!(
        held_bytes(),
        0,
        "the night's buffers are freed when run_stack returns"
    );
}
