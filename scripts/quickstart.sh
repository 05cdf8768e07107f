#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the main job: a sweep over
# LoRA, QLoRA, DoRA and full fine-tuning of the bundled stories260K model on
# the out-of-domain fortunes set (examples/quickstart.json), ending with the
# method-comparison table. Results go to runs/quickstart.db; running the script
# again resumes (and re-prints) that experiment instead of starting over.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BIN=${BUILD_DIR:-build}/lorafarm
mkdir -p runs

echo "== base model on the fortunes validation split (before fine-tuning)"
"$BIN" eval --model examples/models/stories260K --data examples/data/fortunes --split valid
echo
echo "== sweep: examples/quickstart.json"
"$BIN" sweep examples/quickstart.json --db runs/quickstart.db --workers "$(nproc)"
echo
echo "== report: runs/quickstart.html (plots) and the Markdown table"
"$BIN" report quickstart --db runs/quickstart.db --format html -o runs/quickstart.html
"$BIN" report quickstart --db runs/quickstart.db --format md
