#!/usr/bin/env bash
# The long version of tests/copy_while_writing.rs: captures for SECONDS (default 90)
# while copying the journal with rsync -a and the active segment with cp every 0.2-1 s,
# checking every copy. Prints the figures.
#
#   scripts/copy-campaign.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
NIGHTCAP_COPY_SECONDS=${1:-90} cargo test --locked --test copy_while_writing -- --nocapture
