#!/usr/bin/env python3
"""A stand-in trainer for command trials (examples/command_sweep.json).

It speaks lorafarm's trial protocol: parameters arrive as JSON on stdin (and as
LORAFARM_PARAM_* variables); it prints one JSON object per line on stdout,
{"step": N, "train_loss": ..} / {"step": N, "val_loss": ..} while "training",
then {"final": true, "val_loss": .., "val_ppl": ..}. The loss surface is made
up: best near learning_rate 1e-3, better with rank for LoRA/DoRA, and full
fine-tuning a little better but "heavier". Deterministic given LORAFARM_SEED.
"""
import argparse
import json
import math
import os
import random
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--step-seconds", type=float, default=0.0)
args = parser.parse_args()

params = json.load(sys.stdin)
rng = random.Random(int(os.environ.get("LORAFARM_SEED", "0")))
method = params.get("method", "lora")
lr = float(params.get("learning_rate", 1e-3))
rank = int(params.get("rank", 8))

floor = {"full": 1.60, "dora": 1.68, "lora": 1.70, "qlora": 1.75}.get(method, 1.8)
if method != "full":
    floor += 0.3 / math.sqrt(rank)
floor += 0.15 * (math.log10(lr) + 3.0) ** 2  # a bowl around lr = 1e-3

loss = 3.0
for step in range(1, args.steps + 1):
    loss = floor + (3.0 - floor) * math.exp(-step / (args.steps / 4)) + rng.gauss(0, 0.01)
    print(json.dumps({"step": step, "train_loss": round(loss, 5)}), flush=True)
    if step % 5 == 0 or step == args.steps:
        print(json.dumps({"step": step, "val_loss": round(loss + 0.05, 5)}), flush=True)
    if args.step_seconds:
        time.sleep(args.step_seconds)

artifact_dir = os.environ.get("LORAFARM_ARTIFACT_DIR")
if artifact_dir:
    with open(os.path.join(artifact_dir, "adapter_config.json"), "w") as f:
        json.dump({"method": method, "rank": rank, "learning_rate": lr}, f)

val = loss + 0.05
memory = {"full": 900.0, "dora": 300.0, "lora": 250.0, "qlora": 120.0}.get(method, 200.0)
print(json.dumps({"final": True, "val_loss": round(val, 5), "val_ppl": round(math.exp(val), 4),
                  "trainable_params": (rank * 2 * 64 * 8 if method != "full" else 260000),
                  "peak_rss_mb_model": memory}))
