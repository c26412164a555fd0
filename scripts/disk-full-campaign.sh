#!/usr/bin/env bash
# The long version of tests/disk_full.rs (needs root to mount a tmpfs): N episodes
# (default 50) of a capture whose disk another writer fills at a random moment.
#
#   sudo scripts/disk-full-campaign.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
NIGHTCAP_DISK_EPISODES=${1:-50} cargo test --locked --test disk_full -- --nocapture
