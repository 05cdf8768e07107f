#!/usr/bin/python3
"""Optuna baselines for bench/search_bench: the same test functions, budgets
and seeds, printing the same JSON (median and IQR of the final log10 simple
regret, suggest time per trial). Needs Debian's python3-optuna (3.1) and
python3-scipy (for the QMC sampler); run with the system python.

  scripts/optuna_baseline.py [--seeds N] [--functions a,b] [--samplers tpe,cmaes]
                             [--multi-objective]
  scripts/optuna_baseline.py --problems mixed_lora_like,lora_fortunes,lora_tinystories
                             [--budgets 30,60] [--samplers tpe,mtpe,cmaes,random] [--first-seed S]

--problems are the mixed spaces of `search_bench --problems`: the synthetic
mixed function (search/test_functions.cpp, mixed_lora_like) and the tabular
LoRA benchmarks (bench/data/lora_table_*.json, scored by the nearest stored
configuration with the rule of search/tabular_benchmark.cpp). Each seed runs
to the largest budget; the regret is reported at every budget.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


# Same definitions as search/test_functions.cpp (sfu.ca/~ssurjano).
def branin(x):
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def hartmann(x, a, p):
    alpha = np.array([1.0, 1.2, 3.0, 3.2])
    x = np.asarray(x)
    return -float(np.sum(alpha * np.exp(-np.sum(a * (x - p) ** 2, axis=1))))


H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                 [17, 8, 0.05, 10, 0.1, 14]])
H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(len(x) - 1))


def ackley(x):
    x = np.asarray(x)
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d)) - np.exp(np.sum(np.cos(2 * np.pi * x)) / d) + 20 + np.e)


def levy(x):
    w = 1 + (np.asarray(x) - 1) / 4
    s = np.sin(np.pi * w[0]) ** 2
    s += np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    s += (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(s)


# name: (function, lower, upper, known minimum, budget). Minima as the C++ side
# computes them (published minimisers polished); Hartmann's to 1e-12.
FUNCTIONS = {
    "branin": (branin, [-5, 0], [10, 15], 0.39788735772973816, 50),
    "hartmann3": (lambda x: hartmann(x, H3_A, H3_P), [0] * 3, [1] * 3, -3.8627797873326624, 50),
    "hartmann6": (lambda x: hartmann(x, H6_A, H6_P), [0] * 6, [1] * 6, -3.3223680114155147, 100),
    "rosenbrock4": (rosenbrock, [-5] * 4, [10] * 4, 0.0, 50),
    "ackley5": (ackley, [-32.768] * 5, [32.768] * 5, 0.0, 50),
    "levy4": (levy, [-10] * 4, [10] * 4, 0.0, 50),
}


def branin_currin(x):
    f1 = branin([15 * x[0] - 5, 15 * x[1]])
    x0, x1 = x
    factor = 1 - math.exp(-1 / (2 * max(x1, 1e-12)))
    f2 = factor * (2300 * x0**3 + 1900 * x0**2 + 2092 * x0 + 60) / (100 * x0**3 + 500 * x0**2 + 4 * x0 + 20)
    return f1, f2


def hypervolume_2d(points, ref):
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    volume, last_y = 0.0, ref[1]
    for x, y in pts:
        if y < last_y:
            volume += (ref[0] - x) * (last_y - y)
            last_y = y
    return volume


def make_sampler(name, seed):
    s = optuna.samplers
    if name == "tpe":
        return s.TPESampler(seed=seed)
    if name == "mtpe":
        return s.TPESampler(seed=seed, multivariate=True)
    if name == "cmaes":
        return s.CmaEsSampler(seed=seed)
    if name == "qmc":
        return s.QMCSampler(seed=seed, scramble=True)  # unscrambled Sobol ignores the seed
    if name == "random":
        return s.RandomSampler(seed=seed)
    if name == "nsga2":
        return s.NSGAIISampler(seed=seed, population_size=10)  # several generations in 50 trials
    if name == "nsga2_pop50":
        return s.NSGAIISampler(seed=seed)  # Optuna's default population
    raise SystemExit(f"optuna_baseline: unknown sampler {name}")


def quartiles(values):
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return float(q25), float(q50), float(q75)


def run_single(name, sampler_name, seeds):
    fn, lower, upper, minimum, budget = FUNCTIONS[name]
    regrets, ms = [], []
    for seed in range(seeds):
        study = optuna.create_study(sampler=make_sampler(sampler_name, seed))
        suggest_seconds = 0.0
        for _ in range(budget):
            t0 = time.perf_counter()
            trial = study.ask()
            x = [trial.suggest_float(f"x{j}", lower[j], upper[j]) for j in range(len(lower))]
            suggest_seconds += time.perf_counter() - t0
            study.tell(trial, fn(x))
        regrets.append(math.log10(max(study.best_value - minimum, 1e-12)))
        ms.append(1e3 * suggest_seconds / budget)
    q25, q50, q75 = quartiles(regrets)
    return {"function": name, "dim": len(lower), "budget": budget, "seeds": seeds, "median_log10_regret": q50,
            "q25": q25, "q75": q75, "iqr": q75 - q25, "suggest_ms_per_trial": float(np.median(ms)),
            "final_log10_regrets": regrets}


def run_multi(sampler_name, seeds, budget=50):
    volumes, ms = [], []
    for seed in range(seeds):
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(sampler_name, seed))
        suggest_seconds, points = 0.0, []
        for _ in range(budget):
            t0 = time.perf_counter()
            trial = study.ask()
            x = [trial.suggest_float("x0", 0, 1), trial.suggest_float("x1", 0, 1)]
            suggest_seconds += time.perf_counter() - t0
            f = branin_currin(x)
            points.append(f)
            study.tell(trial, list(f))
        volumes.append(hypervolume_2d(points, (18.0, 6.0)))
        ms.append(1e3 * suggest_seconds / budget)
    q25, q50, q75 = quartiles(volumes)
    return {"function": "branin_currin", "budget": budget, "seeds": seeds, "median_hypervolume": q50, "q25": q25,
            "q75": q75, "iqr": q75 - q25, "reference_point": [18.0, 6.0],
            "suggest_ms_per_trial": float(np.median(ms)), "hypervolumes": volumes}


# ---- mixed spaces (issue 21) -------------------------------------------------

TABLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "data")

# kind: (offset, best log10 lr, best log2 width, best layers), as mixed_value() in test_functions.cpp.
MIXED_KINDS = {"a": (0.35, -2.5, 5.0, 4.0), "b": (0.0, -3.2, 3.0, 6.0), "c": (0.6, -1.8, 6.0, 2.0),
               "d": (0.1, -4.0, 7.0, 7.0)}
MIXED_SPACE = {"kind": {"type": "categorical", "values": ["a", "b", "c", "d"]},
               "width": {"type": "int", "low": 2, "high": 256, "log": True},
               "layers": {"type": "int", "low": 1, "high": 8},
               "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
               "mix": {"type": "float", "low": 0.0, "high": 1.0}}


def mixed_lora_like(p):
    offset, lr0, w0, l0 = MIXED_KINDS[p["kind"]]
    u, x, m = math.log2(p["width"]), math.log10(p["lr"]), p["mix"]
    lr_term = x - lr0 + 0.25 * (u - w0)
    basins = 0.25 * (1 - math.cos(4 * math.pi * (m - 0.3))) + 0.3 * (m - 0.3) ** 2
    return offset + 0.6 * lr_term**2 + 0.06 * (u - w0) ** 2 + 0.04 * (p["layers"] - l0) ** 2 + basins


def active(definition, params):
    cond = definition.get("condition")
    if cond is None:
        return True
    if cond["param"] not in params:
        return False
    inside = params[cond["param"]] in cond.get("in", cond.get("not_in", []))
    return not inside if "not_in" in cond else inside


def ordered(space):
    """Parents before children, then by name (as SearchSpace orders them)."""
    names, out = sorted(space), []
    while len(out) < len(names):
        for n in names:
            cond = space[n].get("condition")
            if n not in out and (cond is None or cond["param"] in out):
                out.append(n)
    return out


def to_unit(d, v):
    """SearchSpace's unit coordinate (search/search_space.cpp)."""
    if d["type"] == "categorical":
        return (d["values"].index(v) + 0.5) / len(d["values"])
    lo, hi, log = d["low"], d["high"], d.get("log", False)
    if d["type"] == "int":
        lo, hi = lo - 0.5, hi + 0.5
        if log:
            lo = max(lo, d["low"] * 0.5)
    w = (lambda t: math.log(t)) if log else (lambda t: t)
    return min(1.0, max(0.0, (w(v) - w(lo)) / (w(hi) - w(lo)))) if hi != lo else 0.5


class Table:
    """A tabular LoRA benchmark and TabularBenchmark::nearest's rule: fewest
    categorical or activity mismatches, then the unit-cube Euclidean distance."""

    def __init__(self, path):
        with open(path) as f:
            data = json.load(f)
        self.space = data["search_space"]
        self.entries = [(t["params"], t["val_loss"]) for t in data["trials"]]
        self.minimum = min(v for _, v in self.entries)

    def distance(self, a, b):
        mismatch, d = len(self.space) + 1.0, 0.0
        for n, definition in self.space.items():
            if (n in a) != (n in b):
                d += mismatch
            elif n not in a:
                continue
            elif definition["type"] == "categorical":
                d += mismatch if a[n] != b[n] else 0.0
            else:
                d += (to_unit(definition, a[n]) - to_unit(definition, b[n])) ** 2
        return d

    def __call__(self, params):
        best, best_d = None, math.inf
        for p, v in self.entries:
            d = self.distance(params, p)
            if d < best_d:
                best, best_d = v, d
        return best


def suggest(trial, space):
    params = {}
    for n in ordered(space):
        d = space[n]
        if not active(d, params):
            continue
        if d["type"] == "categorical":
            params[n] = trial.suggest_categorical(n, d["values"])
        elif d["type"] == "int":
            params[n] = trial.suggest_int(n, d["low"], d["high"], log=d.get("log", False))
        else:
            params[n] = trial.suggest_float(n, d["low"], d["high"], log=d.get("log", False))
    return params


def mixed_problem(name):
    if name == "mixed_lora_like":
        return MIXED_SPACE, mixed_lora_like, 0.0
    if name in ("lora_fortunes", "lora_tinystories"):
        table = Table(os.path.join(TABLES, f"lora_table_{name[5:]}.json"))
        return table.space, table, table.minimum
    raise SystemExit(f"optuna_baseline: unknown problem {name} (choices: mixed_lora_like, lora_fortunes, lora_tinystories)")


def run_mixed(name, sampler_name, seeds, budgets, first_seed=0):
    space, fn, minimum = mixed_problem(name)
    regrets, ms = [[] for _ in budgets], []
    for seed in range(first_seed, first_seed + seeds):
        study = optuna.create_study(sampler=make_sampler(sampler_name, seed))
        suggest_seconds, best, trace = 0.0, math.inf, []
        for _ in range(max(budgets)):
            t0 = time.perf_counter()
            trial = study.ask()
            params = suggest(trial, space)
            suggest_seconds += time.perf_counter() - t0
            value = fn(params)
            study.tell(trial, value)
            best = min(best, value)
            trace.append(best)
        for k, b in enumerate(budgets):
            regrets[k].append(math.log10(max(trace[b - 1] - minimum, 1e-12)))
        ms.append(1e3 * suggest_seconds / max(budgets))
    out = []
    for k, b in enumerate(budgets):
        q25, q50, q75 = quartiles(regrets[k])
        out.append({"function": f"{name}@{b}", "dim": len(space), "budget": b, "seeds": seeds,
                    "median_log10_regret": q50, "q25": q25, "q75": q75, "iqr": q75 - q25, "minimum": minimum,
                    "suggest_ms_per_trial": float(np.median(ms)), "final_log10_regrets": regrets[k]})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--samplers", default=None)
    ap.add_argument("--multi-objective", action="store_true")
    ap.add_argument("--problems", default=None, help="mixed spaces: mixed_lora_like,lora_fortunes,lora_tinystories")
    ap.add_argument("--budgets", default="30,60")
    ap.add_argument("--first-seed", type=int, default=0, help="mixed spaces: seeds first..first+seeds-1 (a held-out check)")
    args = ap.parse_args()
    out = []
    if args.problems:
        budgets = [int(b) for b in args.budgets.split(",")]
        for s in (args.samplers or "tpe,mtpe,cmaes,random").split(","):
            results = []
            for p in args.problems.split(","):
                results += run_mixed(p, s, args.seeds, budgets, args.first_seed)
                print(f"optuna {s} {p}: median {results[-1]['median_log10_regret']:.3f}", file=sys.stderr)
            out.append({"sampler": f"optuna-{s}", "parallel": 1, "mode": "single_objective", "results": results})
    elif args.multi_objective:
        for s in (args.samplers or "nsga2,nsga2_pop50,random").split(","):
            out.append({"sampler": f"optuna-{s}", "parallel": 1, "mode": "multi_objective",
                        "results": [run_multi(s, args.seeds)]})
            print(f"optuna {s} done", file=sys.stderr)
    else:
        for s in (args.samplers or "tpe,mtpe,cmaes,qmc,random").split(","):
            results = []
            for f in args.functions.split(","):
                if f not in FUNCTIONS:
                    raise SystemExit(f"optuna_baseline: unknown function {f} (choices: {', '.join(FUNCTIONS)})")
                results.append(run_single(f, s, args.seeds))
                print(f"optuna {s} {f}: median {results[-1]['median_log10_regret']:.3f}", file=sys.stderr)
            out.append({"sampler": f"optuna-{s}", "parallel": 1, "mode": "single_objective", "results": results})
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
