#!/usr/bin/env bash
# Builds the whole project with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DLORAFARM_SANITIZE=ON, gcc, ccache) in build-asan and runs the default
# (non-slow) test suite under it. Child processes (the lorafarm binary the
# tests start, workers, trial children) inherit the options, so a report in
# any of them fails its test. docs/fuzzing.md.
#
#   scripts/sanitize.sh [ctest args...]    e.g. scripts/sanitize.sh -R Store
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build-asan}"

start=$(date +%s)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLORAFARM_SANITIZE=ON >/dev/null
# What ctest runs (the benchmarks are left out: they are not tests).
cmake --build "$build_dir" -j "${SANITIZE_BUILD_JOBS:-$(nproc)}" \
  --target lorafarm engine_tests search_tests orchestrator_tests fuzz_corpus_replay
echo "sanitize.sh: build took $(( $(date +%s) - start )) s"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
start=$(date +%s)
set +e
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" -LE slow "$@"
rc=$?
set -e
echo "sanitize.sh: tests took $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
