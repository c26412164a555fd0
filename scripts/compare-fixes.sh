#!/usr/bin/env bash
# Measures, for two nightcap binaries in the same run, what the correctness fixes of
# issues 12 and 13 were about: frames kept by an import beside a busy core, frames lost
# to one damaged header bit (after `repair`), and the share of a 10-minute `--mode sum`
# at the top of the 16-bit range. Prints one line per figure: baseline, then candidate.
#
# Usage: scripts/compare-fixes.sh OLD_BINARY NEW_BINARY [RUNS]   (RUNS imports, default 10)
# Needs ffmpeg (to make the JPEGs) and python3 (to read FITS and JSON).
set -euo pipefail
usage="Usage: scripts/compare-fixes.sh OLD_BINARY NEW_BINARY [RUNS]"
[[ ${1:-} == -h || ${1:-} == --help ]] && { echo "$usage"; exit 0; }
[[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
old=$1 new=$2 runs=${3:-10}
work=$(mktemp -d)
trap 'kill "${busy:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

frames() { "$1" info "$2" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"])' 2>/dev/null || echo 0; }

# 1. Import: 60 JPEGs, $runs times, beside a busy core.
mkdir "$work/jpg"
for i in $(seq 0 59); do
	ffmpeg -loglevel error -f lavfi -i "testsrc=size=640x480,noise=alls=20:allf=t" -frames:v 1 \
		-y "$work/jpg/img20260812$(printf '%02d%02d' $((21 + i / 60)) $((i % 60)))00.jpg"
done
(while :; do :; done) >/dev/null 2>&1 & busy=$!
for bin in "$old" "$new"; do
	kept=0
	for r in $(seq "$runs"); do
		rm -rf "$work/j"
		"$bin" -q import "$work/jpg" "$work/j" >/dev/null 2>&1 || true
		kept=$((kept + $(frames "$bin" "$work/j")))
	done
	echo "import: $bin kept $kept of $((60 * runs)) frames"
done
kill "$busy"; busy=

# 2. One flipped bit in each byte of a middle segment's header, then repair.
for bin in "$old" "$new"; do
	rm -rf "$work/clean"
	"$bin" -q capture --source sim --sim-sensor tiny --sim-speed 0 --frames 60 -d 0 \
		--segment-size 64K --reserve 0 --journal "$work/clean"
	middle=$(ls "$work/clean" | grep '\.seg$' | sed -n 2p)
	lost=0
	for byte in $(seq 0 255); do
		rm -rf "$work/f" && cp -r "$work/clean" "$work/f"
		python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[$byte]^=1<<($byte%8); open(p,'wb').write(b)" "$work/f/$middle"
		"$bin" -q repair "$work/f" >/dev/null 2>&1 || true
		lost=$((lost + 60 - $(frames "$bin" "$work/f")))
	done
	echo "header flips: $bin lost $lost frames over 256 flips of a 60-frame journal"
done

# 3. A 10-minute sum of the simulated small sensor (120 frames), as FITS.
for bin in "$old" "$new"; do
	rm -rf "$work/s" "$work/sum"
	"$bin" -q capture --source sim --sim-sensor small --sim-speed 0 --for 10m -d 0 --journal "$work/s"
	"$bin" -q stack "$work/s" --every 10m --mode sum --format fits --out "$work/sum" 2>/dev/null
	python3 - "$bin" "$work"/sum/*.fits <<'PY'
import sys, struct
data = open(sys.argv[2], 'rb').read()
cards = [data[i:i + 80].decode('ascii', 'replace') for i in range(0, 2880 * 4, 80)]
end = next(i for i, c in enumerate(cards) if c.startswith('END '))
w = int(next(c for c in cards if c.startswith('NAXIS1'))[10:30])
h = int(next(c for c in cards if c.startswith('NAXIS2'))[10:30])
start = (end * 80 // 2880 + 1) * 2880
top = sum(1 for (v,) in struct.iter_unpack('>h', data[start:start + 2 * w * h]) if v == 32767)
print(f"10-minute sum: {sys.argv[1]} has {100 * top / (w * h):.2f} % of samples at 65535")
PY
done
