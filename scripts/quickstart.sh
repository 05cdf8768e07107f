#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the main job on the bundled
# model: its base perplexity in and out of domain, and a greedy story.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BIN=${BUILD_DIR:-build}/lorafarm
MODEL=examples/models/stories260K

"$BIN" info "$MODEL"
echo
echo "== base perplexity (in domain: tinystories, out of domain: fortunes)"
"$BIN" eval --model "$MODEL" --data examples/data/tinystories --split valid
"$BIN" eval --model "$MODEL" --data examples/data/fortunes --split valid
echo
echo "== greedy generation"
"$BIN" generate --model "$MODEL" --prompt "Once upon a time" --max-tokens 60
