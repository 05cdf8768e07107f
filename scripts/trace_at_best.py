#!/usr/bin/env python3
"""Counts, from a `search_bench --trace` file, how many seeds had found the
problem's best value (regret <= 1e-12) after k finished trials, per problem and
number of workers. A median of final regrets on the LoRA tables sits on this
found/not-found split, so the count says more than the median.

    search_bench --problems lora_tinystories --seeds 100 --parallel 8 --trace t.jsonl > r.json
    scripts/trace_at_best.py t.jsonl [--budgets 20,30,40,50,60]
"""
import argparse
import collections
import json
import sys


def first_finds(lines):
    """(problem, workers) -> {seed: finishing rank of its first trial at the best, or None}."""
    runs = collections.defaultdict(dict)
    for row in lines:
        key = (row["problem"], row["workers"])
        seeds = runs[key]
        seeds.setdefault(row["seed"], None)
        if row["regret"] <= 1e-12:
            earlier = seeds[row["seed"]]
            seeds[row["seed"]] = row["finished"] if earlier is None else min(earlier, row["finished"])
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace")
    parser.add_argument("--budgets", default="20,30,40,50,60")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    with open(args.trace) as f:
        runs = first_finds(json.loads(line) for line in f if line.strip())
    if not runs:
        sys.exit(f"{args.trace}: no trials")
    print("problem              workers  seeds  " + "  ".join(f"@{b:<4}" for b in budgets))
    for (problem, workers), seeds in sorted(runs.items()):
        counts = [sum(1 for rank in seeds.values() if rank is not None and rank <= b) for b in budgets]
        print(f"{problem:<20} {workers:>7}  {len(seeds):>5}  " + "  ".join(f"{c:<5}" for c in counts))


if __name__ == "__main__":
    main()
