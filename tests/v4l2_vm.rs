//! The V4L2 path against a real kernel driver: `scripts/v4l2-vm.sh` boots a small Linux
//! VM (qemu, TCG) with the kernel's `vivid` virtual camera and runs nightcap in it:
//! `devices`; every format vivid offers that nightcap can store (22: 8/10/12/16-bit Bayer
//! in four orders, grey, YUYV, RGB) streamed at 320x180 with `--pixel-format`/`--size`,
//! each stored frame byte-identical to one read with `v4l2-ctl`; a capture of 20 frames (each in the journal or, when the emulated CPU could
//! not keep up, in a GAP record; verified), a capture with 30 % of buffers dropped by the
//! driver (the drops recorded as driver-skip GAPs), and SIGTERM mid-stream (everything sealed, verified, the device
//! released for the next capture). About a minute; run with `--include-ignored` (CI does).

use std::process::Command;

mod support;
use support::on_path;

#[test]
#[ignore = "boots a VM (about a minute): run with `cargo test -- --include-ignored`, as CI does"]
fn nightcap_streams_from_the_kernels_virtual_camera() {
    if !["qemu-system-x86_64", "busybox", "v4l2-ctl", "dpkg-deb"]
        .iter()
        .all(|t| on_path(t))
    {
        eprintln!(
            "SKIPPED: the V4L2 VM (apt-get install qemu-system-x86 busybox-static v4l-utils)"
        );
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/v4l2-vm.sh");
    let out = Command::new(script)
        .arg(env!("CARGO_BIN_EXE_nightcap"))
        .output()
        .expect("run scripts/v4l2-vm.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<&str> = text.lines().filter(|l| l.starts_with("vm: ")).collect();
    println!("{}", figures.join("\n"));
    assert!(
        out.status.success(),
        "the VM run failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !figures.iter().any(|l| l.ends_with("=FAIL")),
        "a check failed:\n{text}"
    );
    // The formats nightcap must store from a real driver, each streamed and byte-exact.
    let streamed = figures
        .iter()
        .find_map(|l| l.strip_prefix("vm: formats_streamed="))
        .unwrap_or_else(|| panic!("no formats scenario:\n{text}"));
    for f in [
        "YUYV", "GREY", "Y10", "Y12", "Y16", "RGB3", "RGGB", "RG10", "RG12", "RG16",
    ] {
        assert!(
            streamed.split_whitespace().any(|s| s == f),
            "{f} not streamed: {streamed}"
        );
        for check in ["streams", "bytes_as_delivered"] {
            let line = format!("vm: check format_{f}_{check}=pass");
            assert!(figures.contains(&line.as_str()), "{line} missing:\n{text}");
        }
    }
    // Every other scenario ran and passed (a scenario that did not run has no line).
    for check in [
        "capture_every_frame_accounted",
        "capture_verifies",
        "capture_told_no_exposure_control",
        "dropped_every_frame_accounted",
        "dropped_buffers_become_gaps",
        "dropped_verifies",
        "sigterm_exit_0",
        "sigterm_frames_kept",
        "sigterm_all_sealed",
        "sigterm_verifies",
        "device_released_after_sigterm",
    ] {
        let line = format!("vm: check {check}=pass");
        assert!(
            figures.contains(&line.as_str()),
            "{check} did not pass:\n{text}"
        );
    }
}
