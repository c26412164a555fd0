#!/usr/bin/env bash
# Encode a timelapse from an ffmpeg concat list (as written by `nightcap timelapse`).
#
# Usage: scripts/make-video.sh LIST OUT [FPS]
#   LIST  the concat list (e.g. timelapse/timelapse.ffconcat)
#   OUT   the video to write (e.g. night.mp4; replaced if it exists)
#   FPS   frames per second of the video (default 25)
#
# H.264 MP4 at a constant frame rate following the list's durations, yuv420p for
# players, cropped to even dimensions, +faststart so it plays while downloading.
# The command is the one nightcap itself runs (crates/stack/src/output/concat.rs, ffmpeg_command);
# tests/scripts.rs checks that the two stay the same.
set -euo pipefail

usage() {
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//'
}

if [[ $# -lt 2 || $# -gt 3 || $1 == -h || $1 == --help ]]; then
	if [[ $# -ge 1 && ($1 == -h || $1 == --help) ]]; then
		usage
		exit 0
	fi
	usage >&2
	exit 2
fi
list=$1
out=$2
fps=${3:-25}

if ! [[ $fps =~ ^[0-9]+$ ]] || ((10#$fps < 1)); then
	echo "make-video.sh: FPS must be a whole number of at least 1, not '$fps'" >&2
	exit 2
fi
if [[ ! -f $list ]]; then
	echo "make-video.sh: no concat list at $list (nightcap timelapse writes one: check the path)" >&2
	exit 1
fi
if ! command -v ffmpeg >/dev/null; then
	echo "make-video.sh: ffmpeg is not installed (apt-get install ffmpeg)" >&2
	exit 1
fi

ffmpeg -hide_banner -loglevel error -y -f concat -safe 0 -i "$list" \
	-fps_mode cfr -r "$((10#$fps))" -vf 'crop=trunc(iw/2)*2:trunc(ih/2)*2' \
	-pix_fmt yuv420p -c:v libx264 -movflags +faststart "$out"
echo "wrote $out"
