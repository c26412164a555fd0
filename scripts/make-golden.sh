#!/usr/bin/env bash
# Regenerates formats/golden/ (the golden segments read by tests/golden.rs). Run it, and
# commit the result together with the spec, whenever the format or default codec changes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --locked --example make_golden -- formats/golden
