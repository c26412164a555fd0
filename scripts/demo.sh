#!/usr/bin/env bash
# The main job on the simulated sky: capture a simulated hour (720 five-second exposures)
# in seconds, then write per-minute stacks, a star-trail image and a timelapse, find the
# meteors, satellites and planes, and make star trails without the planes and satellites.
# Usage: scripts/demo.sh [DIR]   (default ./demo)
# The sensor: a Pi camera v2 (IMX219) in its 2x2-binned 1640x1232 mode, as rpicamle
# streamed it; another with SENSOR=imx477 SIZE=2028x1520, SENSOR=small SIZE=320x240 etc.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo}
sensor=${SENSOR:-imx219}
size=${SIZE:-1640x1232}
cargo build --release --locked --quiet
bin=$PWD/target/release/nightcap
rm -rf "$out"
mkdir -p "$out"
cd "$out"

echo "== capture: a simulated hour of 5 s exposures ($sensor sensor, $size), as fast as the machine goes"
"$bin" capture --source sim --sim-sensor "$sensor" --size "$size" --sim-speed 0 --for 1h -e 5000 -d 0 --journal journal
"$bin" info journal
echo "== per-minute max stacks (what the original program wrote)"
"$bin" stack journal --every 60s --out stacks --quiet
echo "== one star-trail image"
"$bin" trails journal --out trails.jpg --quiet
echo "== a timelapse: frames and an ffmpeg concat list (and the video, if ffmpeg is installed)"
"$bin" timelapse journal --fps 25 --out timelapse --encode --quiet
echo "== meteors, satellites and planes (scored against the simulation's truth)"
"$bin" detect journal --out detections
echo "== star trails without planes and satellites, meteors kept"
"$bin" trails journal --clean --keep meteors --events detections/events.jsonl --out trails-clean.jpg

echo
echo "journal:     $PWD/journal"
echo "stacks:      $PWD/stacks ($(ls stacks/*.jpg | wc -l) images)"
echo "star trails: $PWD/trails.jpg, clean: $PWD/trails-clean.jpg"
echo "timelapse:   $PWD/timelapse ($(ls timelapse | wc -l) files)"
echo "detections:  $PWD/detections (events.csv, events.jsonl, a crop per meteor)"
