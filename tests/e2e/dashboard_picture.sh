#!/usr/bin/env bash
# Makes docs/dashboard.png: `lorafarm serve`, a quick-start-like sweep (the
# bundled stories260K model, LoRA / QLoRA / DoRA / full, fewer iterations)
# started through POST /api/sweeps, a generation through POST /api/generate
# with the best trial's adapter, then a headless-Chromium screenshot.
#   tests/e2e/dashboard_picture.sh BUILD_DIR [OUT.png]
set -euo pipefail
build=${1:?usage: dashboard_picture.sh BUILD_DIR [OUT.png]}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$src/docs/dashboard.png}
work=$(mktemp -d /tmp/lorafarm-picture-XXXXXX)
trap 'kill $serve_pid 2>/dev/null || true; wait $serve_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$build/lorafarm" serve --db "$work/runs.db" --artifacts "$work/artifacts" --examples "$src/examples" --port 0 --json >"$work/serve.json" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 100); do [ -s "$work/serve.json" ] && break; sleep 0.1; done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/serve.json")
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/serve.json")
api="http://127.0.0.1:$port/api"

# The quick-start spec with 40 iterations instead of 100 (about a minute on 2 cores).
spec=$(python3 - "$src/examples/quickstart.json" <<'PY'
import json, re, sys
text = re.sub(r"^\s*//.*$", "", open(sys.argv[1]).read(), flags=re.M)
spec = json.loads(text)
spec["fixed"]["iters"] = 40
spec["fixed"]["steps_per_eval"] = 20
print(json.dumps({"spec": spec, "name": "quickstart", "workers": 2}))
PY
)
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$spec" "$api/sweeps"; echo
for _ in $(seq 1200); do
  status=$(curl -sf "$api/experiments/quickstart" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || true)
  [ "$status" = FINISHED ] && break
  sleep 1
done
best=$(curl -sf "$api/experiments/quickstart/summary" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["best"]["trial"])')
curl -s -H "X-Lorafarm-Token: $token" -H 'Content-Type: application/json' \
  -d "{\"experiment\": \"quickstart\", \"trial\": $best, \"prompt\": \"Once upon a time\", \"max_tokens\": 30}" "$api/generate"; echo

python3 "$src/tests/e2e/dashboard_e2e.py" --mode shot --url "http://127.0.0.1:$port/#exp=quickstart&token=$token" \
  --screenshot "$out" --trial 0 --settle 2 \
  --before-shot "document.getElementById('gen-trial').value='$best'; document.getElementById('gen-tokens').value='30'; document.getElementById('gen-form').requestSubmit(); true" \
  --wait-for "!document.getElementById('gen-out').textContent.startsWith('generating') && document.getElementById('gen-out').textContent.length > 0"
