#!/usr/bin/env bash
# What `trails --fill-gaps` costs against plain trails, measured in one run on the same
# journals: a simulated night as captured (20 ms dead time) and one with long dead time
# (5 s exposures a minute apart), 12 MP frames.
#
#     scripts/fill-gaps-cost.sh [FRAMES] [RUNS]
set -euo pipefail
frames=${1:-120}
runs=${2:-3}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin nightcap --example gap_night
bin=target/release/nightcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target/release/examples/gap_night "$tmp/long" "$frames" 55 imx477 >/dev/null
"$bin" capture --source sim --sim-speed 0 --frames "$frames" --journal "$tmp/short" -q -d 0
best() { # best wall time of $runs runs of the command
    local b=
    for _ in $(seq "$runs"); do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null
        e=$(date +%s.%N)
        b=$(echo "$e - $s" | bc -l | awk -v b="$b" '{ if (b == "" || $1 < b) print $1; else print b }')
    done
    echo "$b"
}
for night in short long; do
    plain=$(best "$bin" trails "$tmp/$night" --out "$tmp/p.jpg" -q)
    fill=$(best "$bin" trails "$tmp/$night" --fill-gaps --out "$tmp/f.jpg" -q)
    printf '%-5s night: plain %.2f s, --fill-gaps %.2f s, ratio %.2f\n' \
        "$night" "$plain" "$fill" "$(echo "$fill / $plain" | bc -l)"
done
