#!/usr/bin/env bash
# Fuzzes the segment reader (fuzz/fuzz_targets/segment_reader.rs) for RUNS executions
# (default 10 million), seeding the corpus with the golden segments. Every crash input
# libFuzzer finds is copied into fuzz/regressions/, which tests/fuzz_regressions.rs
# replays on every `cargo test`. Needs cargo-fuzz (`cargo install cargo-fuzz`); the fuzz
# build uses nightly features, enabled on a stable toolchain with RUSTC_BOOTSTRAP=1.
#
# FUZZ_SANITIZER (default `none`): the reader is fuzzed in memory, so no unsafe code is on
# the fuzzed path and AddressSanitizer would only slow it (~2x); Rust's own checks (bounds,
# overflow in debug assertions, the reader's asserts) still turn any violation into a
# crash. `FUZZ_SANITIZER=address` brings ASan back.
#
#   scripts/fuzz.sh [RUNS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
jobs=${2:-1}
corpus=${FUZZ_CORPUS:-fuzz/corpus/segment_reader}
artifacts=fuzz/artifacts/segment_reader
mkdir -p "$corpus" "$artifacts" fuzz/regressions
cp formats/golden/*.seg formats/golden/*.active "$corpus"/
cp fuzz/regressions/* "$corpus"/ 2>/dev/null || true
export RUSTC_BOOTSTRAP=1
parallel=()
if [ "$jobs" -gt 1 ]; then
    # libFuzzer then writes each job's output to fuzz/fuzz-N.log.
    parallel=(-jobs="$jobs" -workers="$jobs")
fi
status=0
(cd fuzz && cargo fuzz run -s "${FUZZ_SANITIZER:-none}" --debug-assertions segment_reader "../$corpus" -- \
    -runs="$runs" "${parallel[@]}" -print_final_stats=1 \
    -artifact_prefix="../$artifacts/") || status=$?
# Keep every crash input as a regression test.
for f in "$artifacts"/crash-* "$artifacts"/oom-* "$artifacts"/timeout-*; do
    [ -e "$f" ] || continue
    cp -n "$f" fuzz/regressions/
    echo "kept $(basename "$f") in fuzz/regressions/"
done
exit "$status"
