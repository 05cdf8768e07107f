#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the test suite. The default
# run skips tests labelled `slow`; pass --slow to run only those, --all for both.
# The default and --all runs then fuzz each parser briefly (FUZZ_SECONDS per
# target, default 20; 0 skips it) from its checked-in seed corpus with
# libFuzzer under ASan+UBSan (scripts/fuzz.sh, docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
label=(-LE slow)
fuzz=1
case "${1:-}" in
  --slow) label=(-L slow); fuzz=0 ;;
  --all) label=() ;;
esac
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "${label[@]}"
fuzz_seconds=${FUZZ_SECONDS:-20}
if (( fuzz && fuzz_seconds > 0 )); then
  ./scripts/fuzz.sh --seconds "$fuzz_seconds" --runs 0
fi
