#!/usr/bin/env python3
"""Builds the fortunes-dpo preference set from ../fortunes (see README.md).

Each pair: the prompt is the first half of a fortune's words, `chosen` the
real second half, `rejected` the same words in a seeded random order.
Deterministic: running it again rewrites identical files.
"""
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "fortunes"
SIZES = {"train": 2000, "valid": 200, "test": 200}
MAX_CHARS = 240   # short fortunes keep a pair batch small
MIN_WORDS = 8


def pair(text, rng):
    words = text.split()
    if len(text) > MAX_CHARS or len(words) < MIN_WORDS:
        return None
    half = len(words) // 2
    rest = words[half:]
    shuffled = rest[:]
    for _ in range(20):
        rng.shuffle(shuffled)
        if shuffled != rest:
            break
    if shuffled == rest:
        return None
    return {"prompt": " ".join(words[:half]), "chosen": " " + " ".join(rest), "rejected": " " + " ".join(shuffled)}


def main():
    for split, size in SIZES.items():
        rng = random.Random(f"fortunes-dpo-{split}")
        out = []
        with open(SOURCE / f"{split}.jsonl", encoding="utf-8") as f:
            for line in f:
                p = pair(json.loads(line)["text"], rng)
                if p is not None:
                    out.append(p)
                if len(out) == size:
                    break
        if len(out) < size:
            raise SystemExit(f"{split}: only {len(out)} fortunes qualify, {size} wanted")
        with open(HERE / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for p in out:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
        print(split, len(out))


if __name__ == "__main__":
    main()
