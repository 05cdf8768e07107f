#!/usr/bin/env bash
# Issue 5 "Must show" 5: one nested-rank (DyLoRA) trial with r_max = 16 on the
# bundled stories260K model and examples/data/fortunes reports validation
# perplexity at ranks 1, 2, 4, 8, 16; each must be within TOL (default 5 %)
# of a fixed-rank adapter trained separately with the same budget (same iters,
# learning rate, batch, scale, seed). Runs the 6 trainings with
# `lorafarm train --json`, prints a JSON table, exits 1 if a rank misses.
#
#   scripts/dynamic-rank-check.sh [BUILD_DIR]
#   env: ITERS (300) LR (1e-3) SCALE (20) BATCH (8) SEED (0) SEQ (256) TOL (0.05)
#        SAMPLING (harmonic_sqrt | ladder | uniform | harmonic)
#        JOBS (2: trainings in parallel, 1 thread each)
#        EXTRA (more `lorafarm train` flags for every run)
#        DYNAMIC_EXTRA (flags for the nested run only; default
#          "--alpha 10 --rank-scale-exponent 0.1": prefix b at 10/b^0.1,
#          docs/training.md; set it empty for the engine's defaults)
# CI runs it at r_max 8 (ranks 1, 2, 4, 8, 300 iterations, 5 %): AcceptanceNestedRank.*.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin="$build/lorafarm"
[[ -x "$bin" ]] || { echo "dynamic-rank-check: no lorafarm binary at $bin (give the build folder)" >&2; exit 2; }
iters=${ITERS:-300} lr=${LR:-1e-3} scale=${SCALE:-20} batch=${BATCH:-8} seed=${SEED:-0} seq=${SEQ:-256}
tol=${TOL:-0.05} sampling=${SAMPLING:-harmonic_sqrt} jobs=${JOBS:-2}
dynamic_extra=${DYNAMIC_EXTRA---alpha 10 --rank-scale-exponent 0.1}
threads=$(( jobs > 1 ? 1 : 2 ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

common=(--model examples/models/stories260K --data examples/data/fortunes --fine-tune-type lora
        --iters "$iters" --learning-rate "$lr" --scale "$scale" --batch-size "$batch" --seed "$seed"
        --max-seq-length "$seq" --num-layers -1 --steps-per-report 50 --steps-per-eval 100000
        --save-every 0 --threads "$threads" --json ${EXTRA:-})

train() {  # name rank [flags...]
  local name=$1 rank=$2
  shift 2
  "$bin" train "${common[@]}" --rank "$rank" --adapter-path "$out/$name" "$@" > "$out/$name.jsonl" 2> "$out/$name.err" ||
    { echo "dynamic-rank-check: training $name failed:" >&2; cat "$out/$name.err" >&2; return 1; }
}

runs=("dynamic 16 --dynamic-rank --rank-ladder 1 2 4 8 16 --rank-sampling $sampling $dynamic_extra")
for r in 1 2 4 8 16; do runs+=("fixed$r $r"); done
pids=()
for run in "${runs[@]}"; do
  # shellcheck disable=SC2086
  train $run &
  pids+=($!)
  if (( ${#pids[@]} >= jobs )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

python3 - "$out" "$tol" "$iters" "$lr" "$scale" "$batch" "$seed" "$sampling" "$dynamic_extra" <<'PY'
import json, sys
out, tol = sys.argv[1], float(sys.argv[2])
def final(name):
    with open(f"{out}/{name}.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()][-1]
dyn = final("dynamic")
rows, ok = [], True
for r in (1, 2, 4, 8, 16):
    fixed = final(f"fixed{r}")
    d, f = dyn[f"val_ppl@r{r}"], fixed["val_ppl"]
    rel = d / f - 1
    within = abs(rel) <= tol
    ok &= within
    rows.append({"rank": r, "dynamic_val_ppl": round(d, 4), "fixed_val_ppl": round(f, 4),
                 "relative_difference": round(rel, 4), "within": within,
                 "dynamic_test_ppl": round(dyn[f"test_ppl@r{r}"], 4), "fixed_test_ppl": round(fixed["test_ppl"], 4),
                 "fixed_train_seconds": round(fixed["train_seconds"], 1)})
print(json.dumps({"settings": {"iters": int(sys.argv[3]), "learning_rate": float(sys.argv[4]),
                               "scale": float(sys.argv[5]), "batch_size": int(sys.argv[6]), "seed": int(sys.argv[7]),
                               "rank_sampling": sys.argv[8], "dynamic_extra": sys.argv[9], "tolerance": tol},
                  "dynamic_train_seconds": round(dyn["train_seconds"], 1),
                  "ranks": rows, "all_within": ok}, indent=1))
sys.exit(0 if ok else 1)
PY
