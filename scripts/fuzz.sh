#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each one on
# a copy of its checked-in seed corpus (fuzz/corpus/<target>/), one after
# another. Prints per target the executions, the coverage and the result;
# exits non-zero if any target crashed, leaked, hung or hit a sanitizer.
#
#   scripts/fuzz.sh [--seconds N] [--runs N] [--build-dir DIR] [--keep] [target...]
#
# --seconds N   time limit per target (default 600)
# --runs N      execution limit per target (default 1000000; 0 = no limit)
# --keep        keep the work folder (corpus copies, logs) after a clean run
# targets       any of: messages sweep_spec safetensors tokenizer_json jsonl chat_template (default: all)
# A crashing input is saved as fuzz-artifacts/<target>-crash-<sha1> in the
# work folder (printed); add it to fuzz/corpus/<target>/ as regression-<what>
# once the bug is fixed. docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
runs=1000000
build_dir=build-fuzz-clang
keep=0
targets=()
all_targets=(messages sweep_spec safetensors tokenizer_json jsonl chat_template)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ -d fuzz/corpus/$t ]] || { echo "fuzz.sh: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2; }
done

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLORAFARM_FUZZ=ON >/dev/null
cmake --build "$build_dir" --target "${targets[@]/%/_fuzz}" -j "${FUZZ_BUILD_JOBS:-2}"

work=$(mktemp -d "${TMPDIR:-/tmp}/lorafarm-fuzz-XXXXXX")
mkdir -p "$work/fuzz-artifacts"
echo "work folder: $work"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
summary=()
for t in "${targets[@]}"; do
  cp -r "fuzz/corpus/$t" "$work/$t"
  log="$work/$t.log"
  start=$(date +%s)
  set +e
  # One process, no -jobs: the machine's cores are shared. -timeout flags an
  # input that takes longer than 10 s (a hang); -rss_limit_mb an input that
  # makes a parser allocate without bound.
  "$build_dir/fuzz/${t}_fuzz" "$work/$t" -runs="$(( runs > 0 ? runs : -1 ))" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/fuzz-artifacts/$t-" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc; log $log)"
    failed=1
    grep -m3 -E 'ERROR: |runtime error|==[0-9]+==' "$log" || true
    ls "$work/fuzz-artifacts/$t-"* 2>/dev/null || true
  fi
  line=$(printf '%-15s %10s execs %6s s  cov %5s  %s' "$t" "${execs:-?}" "$elapsed" "${cov:-?}" "$result")
  echo "$line"
  summary+=("$line")
done
echo "---- summary"
printf '%s\n' "${summary[@]}"
# A failed run keeps its folder: the crashing inputs and logs are in it.
if (( failed == 0 && keep == 0 )); then rm -rf "$work"; fi
exit $failed
