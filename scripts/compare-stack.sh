#!/usr/bin/env bash
# Times `nightcap stack --every 60s` against the original program's method
# (../shared/bench/seed_stack.py: Pillow decode + numpy.maximum, one JPEG per window)
# on the same simulated night, in the same run, and prints the ratio.
#
#   scripts/compare-stack.sh [FRAMES] [WORK_DIR]     (defaults: 64, target/compare-stack)
#
# The night: 4056x3040 12-bit RGGB frames, 5 s exposures (12 per minute), from
# `nightcap capture --source sim --sim-sensor imx477` when this build has it, else from
# `cargo run --example sim_night`. nightcap stacks the journal (decoding its compressed
# raw frames); the baseline stacks the same frames as full-size JPEGs (rendered with
# `nightcap timelapse`), as the original program received them from the camera.
#
# Also printed, from the same run: the journal's decode bound (examples/decode_bound.rs:
# the codec alone decoding every frame straight to samples on all cores, best of 2) and
# nightcap's share of it, and nightcap's peak RSS in decoded frames (w x h x 2 bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-64}
work=${2:-target/compare-stack}
seed=../shared/bench/seed_stack.py
target=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet --bin nightcap --example sim_night --example decode_bound
bin=$target/release/nightcap
rm -rf "$work"
mkdir -p "$work"

if "$bin" capture --help 2>/dev/null | grep -q -- '--sim-sensor'; then
    "$bin" -q capture --source sim --sim-sensor imx477 --frames "$frames" --sim-speed 0 \
        -d 0 --journal "$work/journal"
else
    "$target/release/examples/sim_night" "$work/journal" "$frames"
fi
echo "night: $("$bin" info "$work/journal" | head -3 | tr '\n' ' ')"

"$bin" -q timelapse "$work/journal" --out "$work/frames"
if ! python3 -c 'import numpy, PIL' 2>/dev/null; then
    python3 -m pip install --quiet --user numpy pillow
fi

# Runs a command (its stdout goes to stderr); prints its wall seconds, peak RSS (KiB)
# and CPU seconds (user + system).
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=sys.stderr)
t = time.perf_counter() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{t:.4f} {r.ru_maxrss} {r.ru_utime + r.ru_stime:.3f}")
PY
}
geometry=$("$bin" info "$work/journal" | awk '/^format/ {print $2}')
sync
bound_cpu=$(measure "$target/release/examples/decode_bound" "$work/journal" 1 2>/dev/null)
bound=$("$target/release/examples/decode_bound" "$work/journal" 2)
ours=$(measure "$bin" -q stack "$work/journal" --every 60s --out "$work/nightcap")
baseline=$(python3 "$seed" "$work/frames" "$work/seed" --per-window 12)

python3 - "$frames" "$ours" "$baseline" "$bound" "$geometry" "$bound_cpu" <<'PY'
import sys
frames, (secs, rss_kib, cpu), base, bound = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3], sys.argv[4]
bound_cpu = float(sys.argv[6].split()[2])
w, h = (int(v) for v in sys.argv[5].split("x"))
kv = lambda line: dict(item.split("=") for item in line.split())
ours = frames / float(secs)
theirs = float(kv(base)["frames_per_s"])
limit = float(kv(bound)["frames_per_s"])
frame_mib = w * h * 2 / 2**20
print(f"nightcap stack --every 60s: {frames} frames in {float(secs):.2f} s = {ours:.1f} frames/s")
print(f"seed_stack.py (original method): {base}")
print(f"ratio nightcap / original: {ours / theirs:.2f}x")
print(f"journal decode bound (codec alone, straight to samples): {bound}")
print(f"nightcap / decode bound: {100 * ours / limit:.0f} %")
# On a shared machine wall time also counts waiting for a core; CPU time does not.
print(f"CPU seconds: decode alone {bound_cpu:.2f}, nightcap stack {float(cpu):.2f} "
      f"(decode share {100 * bound_cpu / float(cpu):.0f} %)")
rss = int(rss_kib) / 1024
print(f"nightcap peak RSS: {rss:.0f} MiB = {rss / frame_mib:.1f} decoded frames of {frame_mib:.1f} MiB")
PY
