#!/usr/bin/env bash
# Side-by-side table of search_bench and optuna_baseline JSON outputs: median
# final log10 simple regret [IQR] per function and sampler (lower is better;
# the best median per function is starred), or median hypervolume for the
# multi-objective runs (higher is better).
#
#   scripts/compare_search.sh gp.json optuna.json [more.json ...]
#
# Each file holds one search_bench object or a list of them (optuna_baseline).
# When optuna-tpe is among them, a second table gives each sampler's
# Vargha–Delaney A12 against TPE on the final regrets of the same seeds:
# P(regret < TPE's) + ½ P(equal); 0.5 is a draw, above 0.5 the sampler wins.
# For search_bench's parallel runs (--problems with --parallel N) a third
# table gives the N-worker median against the sequential one (decades: positive
# means the parallel run is behind), A12 of parallel against sequential, and
# how many seeds reached regret 0 (floored at 1e-12) in each.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: scripts/compare_search.sh RESULT.json [RESULT.json ...]" >&2
  exit 2
fi
exec /usr/bin/python3 - "$@" <<'PY'
import json, sys

runs = []
for path in sys.argv[1:]:
    with open(path) as f:
        data = json.load(f)
    for run in (data if isinstance(data, list) else [data]):
        name = run["sampler"] + (f" x{run['parallel']}" if run.get("parallel", 1) > 1 else "")
        runs.append((name, run))

def table(mode, key, better):
    chosen = [(n, r) for n, r in runs if r["mode"] == mode]
    if not chosen:
        return
    functions = []
    for _, r in chosen:
        for res in r["results"]:
            if res["function"] not in functions:
                functions.append(res["function"])
    names = [n for n, _ in chosen]
    width = max(16, *(len(n) + 2 for n in names))
    print(f"{mode} — median {key} [IQR]; * = best")
    print("function".ljust(22) + "".join(n.rjust(width) for n in names))
    for fn in functions:
        cells = []
        for _, r in chosen:
            res = next((x for x in r["results"] if x["function"] == fn), None)
            cells.append(res)
        values = [c[f"median_{key}"] if c else None for c in cells]
        present = [v for v in values if v is not None]
        best = (min if better == "low" else max)(present)
        row = fn.ljust(22)
        for c, v in zip(cells, values):
            text = "-" if c is None else f"{v:.2f} [{c['iqr']:.2f}]" + ("*" if v == best else " ")
            row += text.rjust(width)
        print(row)
    row = "ms/suggest".ljust(22)
    for _, r in chosen:
        ms = [x["suggest_ms_per_trial"] for x in r["results"]]
        row += f"{sum(ms) / len(ms):.1f}".rjust(width)
    print(row)
    print()

def a12(mine, theirs):
    wins = sum((a < b) + 0.5 * (a == b) for a in mine for b in theirs)
    return wins / (len(mine) * len(theirs))

def a12_table(reference="optuna-tpe"):
    chosen = [(n, r) for n, r in runs if r["mode"] == "single_objective"]
    ref = next((r for n, r in chosen if n == reference), None)
    if ref is None:
        return
    names = [n for n, _ in chosen if n != reference]
    width = max(16, *(len(n) + 2 for n in names))
    print(f"A12 vs {reference} (final regret; > 0.5: better than {reference})")
    print("function".ljust(22) + "".join(n.rjust(width) for n in names))
    for res_ref in ref["results"]:
        fn = res_ref["function"]
        row = fn.ljust(22)
        for n, r in chosen:
            if n == reference:
                continue
            res = next((x for x in r["results"] if x["function"] == fn), None)
            row += ("-" if res is None else f"{a12(res['final_log10_regrets'], res_ref['final_log10_regrets']):.2f}").rjust(width)
        print(row)
    print()

def parallel_table():
    # search_bench --problems ... --parallel N: the N-worker run against the
    # sequential run of the same seeds at the same number of finished trials.
    rows = [(n, res) for n, r in runs for res in r["results"] if "decades_behind_sequential" in res]
    if not rows:
        return
    print("parallel vs sequential (median log10 regret at the same number of finished trials)")
    print("function".ljust(22) + "run".rjust(16) + "sequential".rjust(12) + "parallel".rjust(10)
          + "decades".rjust(9) + "A12".rjust(7) + "at best (seq/par)".rjust(19))
    for n, res in rows:
        seq_best = sum(v <= -12 for v in res.get("sequential_log10_regrets", []))
        par_best = sum(v <= -12 for v in res["final_log10_regrets"])
        at_best = f"{seq_best}/{par_best}" if "sequential_log10_regrets" in res else "-"
        print(res["function"].ljust(22) + n.rjust(16) + f"{res['sequential_median_log10_regret']:.2f}".rjust(12)
              + f"{res['median_log10_regret']:.2f}".rjust(10) + f"{res['decades_behind_sequential']:+.2f}".rjust(9)
              + f"{res['a12_vs_sequential']:.2f}".rjust(7) + at_best.rjust(19))
    print()

table("single_objective", "log10_regret", "low")
a12_table()
parallel_table()
table("multi_objective", "hypervolume", "high")
PY
