#!/usr/bin/env bash
# The main job on the simulated sky: capture a simulated hour (720 five-second exposures)
# in seconds, then write per-minute stacks, a star-trail image and a timelapse.
# Usage: scripts/demo.sh [DIR]   (default ./demo; the sensor with SENSOR=imx477 etc.)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo}
sensor=${SENSOR:-small}
cargo build --release --locked --quiet
bin=$PWD/target/release/nightcap
rm -rf "$out"
mkdir -p "$out"
cd "$out"

echo "== capture: a simulated hour of 5 s exposures ($sensor sensor), as fast as the machine goes"
"$bin" capture --source sim --sim-sensor "$sensor" --sim-speed 0 --for 1h -e 5000 -d 0 --journal journal
"$bin" info journal
echo "== per-minute max stacks (what the original program wrote)"
"$bin" stack journal --every 60s --out stacks --quiet
echo "== one star-trail image"
"$bin" trails journal --out trails.jpg --quiet
echo "== a timelapse: frames and an ffmpeg concat list (and the video, if ffmpeg is installed)"
"$bin" timelapse journal --fps 25 --out timelapse --encode --quiet

echo
echo "journal:     $PWD/journal"
echo "stacks:      $PWD/stacks ($(ls stacks/*.jpg | wc -l) images)"
echo "star trails: $PWD/trails.jpg"
echo "timelapse:   $PWD/timelapse ($(ls timelapse | wc -l) files)"
