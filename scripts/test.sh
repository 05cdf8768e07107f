#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the test suite. The default
# run skips tests labelled `slow`; pass --slow to run only those, --all for both.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
label=(-LE slow)
case "${1:-}" in
  --slow) label=(-L slow) ;;
  --all) label=() ;;
esac
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "${label[@]}"
