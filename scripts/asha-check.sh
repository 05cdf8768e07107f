#!/usr/bin/env bash
# Issue 5's ASHA check: examples/asha_sweep.json (27 LoRA configurations with
# ASHA) against the same 27 configurations run to the full budget. Prints the
# training iterations each used and the best validation perplexity each found,
# as JSON; exits non-zero if ASHA used more than 40 % of the iterations or its
# best perplexity is more than 2 % above the full-budget best.
#   scripts/asha-check.sh [WORKERS]     (results in runs/asha-check/)
# CI runs the same check: AcceptanceAsha.* (tests/acceptance/; ASHA on one worker).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}/lorafarm
WORKERS=${1:-$(nproc)}
OUT=runs/asha-check
mkdir -p "$OUT"
cp -r examples/models examples/data "$OUT/" 2>/dev/null || true
cp examples/asha_sweep.json "$OUT/asha.json"
# The baseline: the same grid (same trial numbers, so the same seeds) without a scheduler.
python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
text = open(f"{out}/asha.json").read()
spec = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
spec["name"] = "asha-baseline"
spec["scheduler"] = {"type": "none"}
json.dump(spec, open(f"{out}/full.json", "w"), indent=2)
PY
"$BIN" sweep "$OUT/full.json" --db "$OUT/check.db" --workers "$WORKERS" >/dev/null
"$BIN" sweep "$OUT/asha.json" --db "$OUT/check.db" --workers "$WORKERS" >/dev/null

python3 - "$OUT/check.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def summary(name):
    exp = db.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()[0]
    rows = db.execute("""
        SELECT t.number, t.status,
               (SELECT MAX(step) FROM metrics m WHERE m.trial_id = t.id AND m.name = 'train_loss'),
               r.val_ppl
        FROM trials t LEFT JOIN results r ON r.trial_id = t.id
        WHERE t.experiment_id = ? ORDER BY t.number""", (exp,)).fetchall()
    iters = sum(r[2] or 0 for r in rows)
    completed = [r for r in rows if r[1] == "COMPLETED"]
    best = min(completed, key=lambda r: r[3])
    return {"trials": len(rows), "completed": len(completed), "pruned": sum(r[1] == "PRUNED" for r in rows),
            "iterations": iters, "best_trial": best[0], "best_val_ppl": best[3]}
full, asha = summary("asha-baseline"), summary("asha-demo")
report = {"full_budget": full, "asha": asha,
          "iteration_fraction": asha["iterations"] / full["iterations"],
          "best_ppl_gap": asha["best_val_ppl"] / full["best_val_ppl"] - 1}
report["ok"] = report["iteration_fraction"] <= 0.40 and report["best_ppl_gap"] <= 0.02
print(json.dumps(report, indent=2))
sys.exit(0 if report["ok"] else 1)
PY
