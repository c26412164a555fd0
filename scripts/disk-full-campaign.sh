#!/usr/bin/env bash
# The long version of tests/disk_full.rs: N episodes (default 50) on a tmpfs and N on a
# loop-mounted ext4 image, each a capture whose disk another writer fills at a random
# moment. Needs root (mount, mkfs.ext4, a loop device); prints one figure line per file
# system: episodes, how many kept capturing, how many stopped cleanly, problems.
#
#   sudo scripts/disk-full-campaign.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
NIGHTCAP_DISK_EPISODES=${1:-50} cargo test --locked --test disk_full -- --nocapture --test-threads 1
