#!/usr/bin/env bash
# What the status page costs a capture (`capture --status`), measured in one run: the
# same paced simulated capture without it, and with it while a client asks for the page,
# /api/status, /metrics and the latest frame every second, alternating, RUNS times each.
# Prints per run the frames dropped, the camera's hand-off time (p50 and p99: how long
# the camera waited for a buffer) and the process's peak memory.
#
#     scripts/status-cost.sh [FRAMES] [SPEED] [RUNS] [SENSOR]
#     scripts/status-cost.sh 60 5 3 imx477     # 12 MP frames, one a second
set -euo pipefail
usage="Usage: scripts/status-cost.sh [FRAMES] [SPEED] [RUNS] [SENSOR]"
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
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$2" | head -1; }
port=$((20000 + RANDOM % 20000))
for run in $(seq "$runs"); do
    for mode in plain status; do
        rm -rf "$tmp/j"
        extra=()
        poller=
        if [[ $mode == status ]]; then
            extra=(--status "127.0.0.1:$port")
            (while sleep 1; do
                for p in / /api/status /metrics /latest.jpg; do
                    curl -s -o /dev/null "http://127.0.0.1:$port$p" || true
                done
            done) &
            poller=$!
        fi
        /usr/bin/time -f '%M' -o "$tmp/rss" "$bin" -q capture --source sim --sim-sensor "$sensor" \
            --sim-speed "$speed" --frames "$frames" -d 0 --reserve 0 --journal "$tmp/j" \
            --json "${extra[@]}" >"$tmp/sum"
        [[ -n $poller ]] && kill "$poller" 2>/dev/null && wait "$poller" 2>/dev/null || true
        printf 'run %d %-6s dropped %s, hand-off p50 %s us p99 %s us, peak RSS %d MiB\n' \
            "$run" "$mode" "$(field dropped "$tmp/sum")" "$(field handoff_p50_us "$tmp/sum")" \
            "$(field handoff_p99_us "$tmp/sum")" "$(($(cat "$tmp/rss") / 1024))"
    done
done
