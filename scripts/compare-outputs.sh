#!/usr/bin/env bash
# Runs the same commands with two nightcap binaries on the same journals and compares
# every file they write, byte for byte: for changes that must not change what users get
# (a refactor, a move of code between crates). The journals are written once, by the
# first binary, so both read the same bytes: a simulated night (HQ camera, 60 frames),
# a small one with a dark, and an imported folder of 16-bit TIFFs.
#
# Usage: scripts/compare-outputs.sh OLD_BINARY NEW_BINARY
# Prints "identical: N files" and exits 0, or lists the files that differ (or exist on
# one side only) and exits 1.
set -euo pipefail
usage="Usage: scripts/compare-outputs.sh OLD_BINARY NEW_BINARY"
[[ ${1:-} == -h || ${1:-} == --help ]] && { echo "$usage"; exit 0; }
[[ $# -eq 2 ]] || { echo "$usage" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The inputs, written once.
"$old" -q capture --source sim --sim-speed 0 --frames 60 -d 0 --journal "$work/night"
"$old" -q capture --source sim --sim-sensor small --sim-speed 0 --frames 24 -d 0 --sim-clouds \
	--journal "$work/small"
"$old" -q capture --source sim --sim-sensor small --sim-speed 0 --frames 4 -d 0 --seed 9 \
	--journal "$work/dark"
"$old" -q export "$work/small" "$work/fits" --format fits

run() { # run BIN OUT: every product, into OUT
	local bin=$1 out=$2
	mkdir -p "$out"
	(
		cd "$out"
		"$bin" -q stack "$work/night" --out stacks
		"$bin" -q stack "$work/night" --every 2m --format png --out png
		"$bin" -q stack "$work/night" --every all --format tiff --out tiff
		"$bin" -q stack "$work/night" --every all --format fits --out fits-max
		for mode in mean sum sigma; do
			"$bin" -q stack "$work/small" --every all --mode "$mode" --format fits --out "fits-$mode"
		done
		"$bin" -q stack "$work/small" --every 30s --reject auto --hot-pixels --out rejected
		"$bin" -q stack "$work/small" --every all --dark "$work/dark" --force-dark --format fits --out dark
		"$bin" -q trails "$work/night" --out trails.jpg
		"$bin" -q trails "$work/night" --comet 0.9 --out comet.png
		"$bin" -q trails "$work/small" --fill-gaps --out filled.fits
		"$bin" -q keogram "$work/night" --out keogram.png
		"$bin" -q trails "$work/small" --timelapse 5 --out trails-video.jpg
		"$bin" -q timelapse "$work/small" --every 10s --out timelapse
		"$bin" -q timelapse "$work/small" --out timelapse-frames
		"$bin" -q timelapse "$work/small" --half --out timelapse-half
		"$bin" -q export "$work/small" export-png --format png
		"$bin" -q import "$work/fits" imported
		"$bin" -q stack imported --every all --out from-fits
		"$bin" info "$work/night" --json > info.json
		"$bin" verify "$work/night" > verify.txt
	)
}
run "$old" "$work/old"
run "$new" "$work/new"

# Journals written by the two binaries differ by design (run ids, creation times): the
# import's frames are compared through what is stacked from them, not as bytes.
list() { (cd "$1" && find . -type f ! -path './imported/*' | sort); }
sums() { (cd "$1" && list . | xargs -d '\n' sha256sum); }
differ=$( { diff <(sums "$work/old") <(sums "$work/new") || true; } | { grep -E '^[<>]' || true; } | awk '{print $3}' | sort -u)
if [[ -n $differ ]]; then
	echo "differ:"
	echo "$differ" | sed 's/^/  /'
	exit 1
fi
echo "identical: $(list "$work/old" | wc -l) files"
