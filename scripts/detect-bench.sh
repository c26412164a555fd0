#!/usr/bin/env bash
# The detection benchmark: simulated nights (meteors 60/h, satellites 20/h, planes 6/h)
# with several seeds and sensors, scored against the simulation's truth, with linking
# across exposures and without it (the baseline: every streak classified alone).
# Prints, per sensor and mode, recall and precision per class, the confusion matrix,
# meteors called on a plane's or satellite's streak, and the detection time per frame.
#
#     scripts/detect-bench.sh [SEEDS] [FRAMES] [SENSORS]
#     scripts/detect-bench.sh 1,2,3,4,5 200 "imx477 imx219 webcam"
set -euo pipefail
usage="Usage: scripts/detect-bench.sh [SEEDS] [FRAMES] [SENSORS]"
[[ ${1:-} == -h || ${1:-} == --help ]] && { echo "$usage"; exit 0; }
[[ $# -le 3 ]] || { echo "$usage" >&2; exit 2; }
seeds=${1:-1,2,3,4,5}
frames=${2:-200}
sensors=${3:-imx477 imx219 webcam}
cd "$(dirname "$0")/.."
cargo build --release --quiet --example detect_nights
for sensor in $sensors; do
    for mode in link nolink; do
        echo "== $sensor, seeds $seeds, $frames frames each, ${mode/nolink/no linking (baseline)}"
        target/release/examples/detect_nights "$seeds" "$frames" "$sensor" "$mode"
    done
done
