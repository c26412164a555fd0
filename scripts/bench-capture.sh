#!/usr/bin/env bash
# Capture benchmark: sustained simulated-sky -> journal throughput at 4056x3040 12-bit
# (the Pi HQ camera), the capture thread's hand-off time per frame (p50/p99), and the
# peak RSS of the whole process, against the compression bound measured in the same run
# (2 cores x single-core compression MB/s / frame size).
# Usage: scripts/bench-capture.sh [FRAMES]   (default 200; needs /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-200}
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/nightcap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== compression bound: single-core encode of the same frames (criterion, CPU time)"
bound=$(cargo bench --locked --quiet --bench journal -- --warm-up-time 1 --measurement-time 3 'append/encode-only/L1' 2>/dev/null \
  | awk '/thrpt:/ {gsub(/\[/,""); print $4; exit}')
echo "encode MB/s per core: $bound"

echo "== capture: $frames simulated IMX477 frames, as fast as possible (the sky is rendered on the same cores)"
/usr/bin/time -v "$bin" -q capture --source sim --sim-sensor imx477 --sim-speed 0 --frames "$frames" -d 0 \
  --journal "$work/j" --reserve 0 --json >"$work/summary.json" 2>"$work/time.txt"
python3 - "$work/summary.json" "$work/time.txt" "$bound" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
t = open(sys.argv[2]).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
bound = float(sys.argv[3])
frame_mb = 6112 * 3040 / 1e6
fps = s["written"] / s["elapsed_s"]
bound_fps = 2 * bound / frame_mb
print(f"frames written {s['written']} in {s['elapsed_s']:.1f} s: {fps:.1f} frames/s")
print(f"compression bound (2 cores x {bound:.0f} MB/s / {frame_mb:.1f} MB): {bound_fps:.1f} frames/s -> {100*fps/bound_fps:.0f}% of the bound")
print(f"capture thread hand-off p50 {s['handoff_p50_us']} us, p99 {s['handoff_p99_us']} us")
print(f"peak RSS {rss_kb/1024:.0f} MiB")
PY
