#!/usr/bin/python3
"""Writes one tabular LoRA benchmark (bench/data/lora_table_*.json) from the
SQLite store of the `lorafarm sweep` that made it: the spec, the search space,
and per completed trial its parameters, final validation loss and learning
curve (validation loss at every evaluation step; the last one is the final
value). Only the standard library is used.

  scripts/export_lora_table.py --db runs.db --experiment lora-table-fortunes \
      --command "nice -n 19 lorafarm sweep ..." -o bench/data/lora_table_fortunes.json
"""
import argparse
import json
import sqlite3
import sys


def load(db, experiment):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    row = con.execute("SELECT id, spec_json, lorafarm_version, git_commit FROM experiments WHERE name = ?",
                      (experiment,)).fetchone()
    if row is None:
        raise SystemExit(f"export_lora_table: no experiment '{experiment}' in {db}")
    exp_id, spec_json, version, commit = row
    trials = con.execute(
        "SELECT t.id, t.number, t.params_json, t.status, r.val_loss, r.attempt FROM trials t "
        "LEFT JOIN results r ON r.trial_id = t.id WHERE t.experiment_id = ? ORDER BY t.number", (exp_id,)).fetchall()
    out, skipped = [], 0
    for tid, number, params_json, status, val_loss, attempt in trials:
        if status != "COMPLETED" or val_loss is None:
            skipped += 1
            continue
        curve = con.execute("SELECT step, value FROM metrics WHERE trial_id = ? AND attempt = ? AND name = 'val_loss' "
                            "ORDER BY step", (tid, attempt)).fetchall()
        out.append({"trial": number, "params": json.loads(params_json), "val_loss": val_loss,
                    "curve": [[s, v] for s, v in curve]})
    return json.loads(spec_json), version, commit, out, skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--command", required=True, help="the exact command that ran the sweep (recorded)")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    spec, version, commit, trials, skipped = load(args.db, args.experiment)
    steps = sorted({s for t in trials for s, _ in t["curve"]})
    table = {"experiment": args.experiment, "command": args.command, "lorafarm_version": version,
             "git_commit": commit, "spec": spec, "search_space": spec["search_space"], "curve_steps": steps,
             "not_completed": skipped, "trials": trials}
    with open(args.output, "w") as f:
        json.dump(table, f, separators=(",", ":"))
        f.write("\n")
    losses = sorted(t["val_loss"] for t in trials)
    print(f"{args.output}: {len(trials)} trials ({skipped} not completed), val_loss min {losses[0]:.4f} "
          f"median {losses[len(losses) // 2]:.4f} max {losses[-1]:.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
