#!/usr/bin/env bash
# What detection beside a capture (`capture --detect`) costs the capture, measured in one
# run: the same paced simulated capture with and without it, alternating, RUNS times
# each. Prints per run the frames dropped, the camera's hand-off time (p50 and p99: how
# long the camera waited for a buffer) and the process's peak memory.
#
#     scripts/live-detect-cost.sh [FRAMES] [SPEED] [RUNS] [SENSOR]
#     scripts/live-detect-cost.sh 60 5 3 imx477     # 12 MP frames, one a second
set -euo pipefail
usage="Usage: scripts/live-detect-cost.sh [FRAMES] [SPEED] [RUNS] [SENSOR]"
[[ ${1:-} == -h || ${1:-} == --help ]] && { echo "$usage"; exit 0; }
[[ $# -le 4 ]] || { echo "$usage" >&2; exit 2; }
frames=${1:-60}
speed=${2:-5}
runs=${3:-3}
sensor=${4:-imx477}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin nightcap
bin=$PWD/target/release/nightcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$2" | head -1; }
for run in $(seq "$runs"); do
    for mode in plain detect; do
        rm -rf "$tmp/j" "$tmp/d"
        extra=()
        [[ $mode == detect ]] && extra=(--detect "$tmp/d")
        /usr/bin/time -f '%M' -o "$tmp/rss" "$bin" -q capture --source sim --sim-sensor "$sensor" \
            --sim-speed "$speed" --frames "$frames" -d 0 --reserve 0 --journal "$tmp/j" \
            --json "${extra[@]}" >"$tmp/sum"
        printf 'run %d %-6s dropped %s, hand-off p50 %s us p99 %s us, peak RSS %d MiB\n' \
            "$run" "$mode" "$(field dropped "$tmp/sum")" "$(field handoff_p50_us "$tmp/sum")" \
            "$(field handoff_p99_us "$tmp/sum")" "$(($(cat "$tmp/rss") / 1024))"
    done
done
