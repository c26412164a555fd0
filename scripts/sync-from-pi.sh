#!/usr/bin/env bash
# Copy the sealed segments of a nightcap journal, safely while capture is running.
#
# Usage: scripts/sync-from-pi.sh SRC DEST [RSYNC_OPTION...]
#   SRC   the journal: a local directory or user@host:path (over ssh)
#   DEST  the local directory to copy into (created if missing)
#   RSYNC_OPTION  passed to rsync, e.g. --bwlimit=2M or -e 'ssh -p 2222'
#
# Only sealed segments (*.seg) are copied: a sealed segment never changes again, so a copy
# is final. The segment being written (*.active), temporary files (*.tmp) and anything
# else are skipped. Resumable: an interrupted transfer keeps its partial data in
# DEST/.nightcap-partial/ and finishes it on the next run; a file appears under its final
# name only when complete. Running it again copies only what is new (idempotent).
# A segment deleted by the ring on the Pi while the copy runs is skipped with a notice.
# Exit status: 0 when every sealed segment listed was copied, rsync's status otherwise.
set -euo pipefail

usage() {
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//'
}

if [[ $# -lt 2 || $1 == -h || $1 == --help ]]; then
	if [[ $# -ge 1 && ($1 == -h || $1 == --help) ]]; then
		usage
		exit 0
	fi
	usage >&2
	exit 2
fi
src=$1
dest=$2
shift 2

if ! command -v rsync >/dev/null; then
	echo "sync-from-pi.sh: rsync is not installed (apt-get install rsync, on both machines)" >&2
	exit 1
fi
mkdir -p -- "$dest"

# The trailing slash copies the directory's contents rather than the directory itself.
status=0
rsync --recursive --times --partial --partial-dir=.nightcap-partial \
	--include='*.seg' --exclude='*' \
	"$@" -- "${src%/}/" "${dest%/}/" || status=$?

# 24: "some files vanished before they could be transferred": the ring deleted an old
# segment on the Pi after rsync listed it. Everything still there was copied.
if [[ $status -eq 24 ]]; then
	echo "sync-from-pi.sh: some segments were deleted on the source during the copy (the ring); the rest were copied" >&2
	status=0
fi
exit "$status"
