#!/usr/bin/env bash
# The long version of tests/power_cut.rs: IMAGES (default 20000) simulated power cuts
# spread over every operation of a recorded journal run (plus a quarter as many on a
# medium without atomic sectors), each image read with the real reader and recovered
# with the real writer. Prints crash points, images, frames checked and violations.
#
#   scripts/power-cut-campaign.sh [IMAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
NIGHTCAP_POWER_CUT_IMAGES=${1:-20000} cargo test --locked --test power_cut -- --nocapture --test-threads 1
