#!/usr/bin/env bash
# Disk held by checkpoints during a sweep: a coordinator and one worker (its
# own --workdir, so files travel as to another machine) run 2 full
# fine-tuning trials of the bundled stories260K, 300 steps each with a
# checkpoint every 20. Samples `du -sb` of the worker's folder and of the
# coordinator's store every 0.1 s and prints JSON: the peaks, the sizes at the
# end, and the bytes of every announced checkpoint (what is held when none is
# ever deleted).
#
#   bench/checkpoint_disk_bench.sh [path/to/lorafarm]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$root/build/lorafarm}")
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
cat > "$out/spec.json" <<EOF
{"name": "disk", "seed": 3, "model": "$root/examples/models/stories260K", "data": "$root/examples/data/fortunes",
 "budget": {"trials": 2}, "search": {"algorithm": "grid"},
 "search_space": {"learning_rate": {"type": "categorical", "values": [0.001, 0.002]}},
 "fixed": {"method": "full", "iters": 300, "batch_size": 2, "max_seq_length": 48, "steps_per_report": 10,
           "steps_per_eval": 1000, "val_batches": 2, "checkpoint_every": 20, "test": false, "threads": 1},
 "trial": {"kind": "engine", "timeout_seconds": 600}}
EOF
cd "$out"
port=$((30000 + RANDOM % 20000))
"$bin" sweep spec.json --db d.db --bind "tcp://127.0.0.1:$port" --heartbeat-ms 200 > coordinator.log 2>&1 &
coordinator=$!
"$bin" worker --connect "tcp://127.0.0.1:$port" --id w --workdir "$out/work" --heartbeat-ms 200 > worker.log 2>&1 &
worker=$!
size() { du -sb "$1" 2>/dev/null | cut -f1 || echo 0; }
peak_worker=0 peak_store=0
while kill -0 "$coordinator" 2>/dev/null; do
  w=$(size work) s=$(size d-artifacts)
  ((${w:-0} > peak_worker)) && peak_worker=$w
  ((${s:-0} > peak_store)) && peak_store=$s
  sleep 0.1
done
wait "$coordinator" || { echo "the sweep failed:" >&2; tail -20 coordinator.log >&2; exit 1; }
wait "$worker" || true
announced=$(sqlite3 d.db "SELECT COALESCE(SUM(json_extract(f.value, '$.bytes')), 0), COUNT(DISTINCT e.id)
                          FROM events e, json_each(json_extract(e.detail_json, '$.files')) f WHERE e.kind = 'CHECKPOINT'")
printf '{"peak_worker_bytes": %s, "peak_store_bytes": %s, "final_worker_bytes": %s, "final_store_bytes": %s, "checkpoints": %s, "checkpoint_bytes_announced": %s}\n' \
  "$peak_worker" "$peak_store" "$(size work)" "$(size d-artifacts)" "${announced#*|}" "${announced%|*}"
