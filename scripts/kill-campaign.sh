#!/usr/bin/env bash
# The long version of tests/crash.rs: SIGKILLs `nightcap capture` N times (default 2000)
# at random moments, restarting it on the same journal, and checks the journal after
# every kill (bit-exact frames, no seq holes, sealed segments unchanged, nothing that
# was readable lost). Prints the figures.
#
#   scripts/kill-campaign.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
NIGHTCAP_KILLS=${1:-2000} cargo test --locked --test crash -- --nocapture
