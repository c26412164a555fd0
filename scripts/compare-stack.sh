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
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-64}
work=${2:-target/compare-stack}
seed=../shared/bench/seed_stack.py
target=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet --bin nightcap --example sim_night
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

now() { python3 -c 'import time; print(time.perf_counter())'; }
sync
t0=$(now)
"$bin" -q stack "$work/journal" --every 60s --out "$work/nightcap"
t1=$(now)
baseline=$(python3 "$seed" "$work/frames" "$work/seed" --per-window 12)

python3 - "$frames" "$t0" "$t1" "$baseline" <<'PY'
import sys
frames, t0, t1, base = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ours = frames / (t1 - t0)
theirs = float(dict(kv.split("=") for kv in base.split())["frames_per_s"])
print(f"nightcap stack --every 60s: {frames} frames in {t1 - t0:.2f} s = {ours:.1f} frames/s")
print(f"seed_stack.py (original method): {base}")
print(f"ratio nightcap / original: {ours / theirs:.2f}x")
PY
