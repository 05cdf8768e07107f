#!/usr/bin/env bash
# Soak test (not part of CI): a sweep of short command trials on loopback with
# 8 workers for MINUTES minutes; every few seconds a random worker is killed
# (SIGKILL, or SIGTERM for a clean exit) and a replacement with the same id is
# started at once (after SIGTERM the old process may still be finishing its
# trial while the replacement connects). Samples the
# coordinator's RSS once a minute and prints it, then a JSON summary with RSS at
# start (after warm-up) and end; fails if the end RSS exceeds the start by
# more than 20 % + 8 MB, or if the database is not intact.
#
#   scripts/soak.sh [MINUTES=30] [WORKERS=8]
# env: TRIAL_MAX_SECONDS (0.4): each trial sleeps a random 0..this many seconds.
# The coordinator keeps every trial's record and the sampler's history in
# memory (~0.65 KB a trial), so with very short trials RSS grows with the
# trial count; the summary gives that slope (kb_per_1000_trials).
# Needs a built lorafarm (LORAFARM=path, default build/lorafarm) and sqlite3.
set -euo pipefail
minutes=${1:-30}
workers=${2:-8}
lorafarm=${LORAFARM:-build/lorafarm}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -n "${KEEP:-}" ]] || rm -rf "$dir"' EXIT
port=$(( 20000 + RANDOM % 20000 ))
endpoint=tcp://127.0.0.1:$port
trial_max=${TRIAL_MAX_SECONDS:-0.4}
hours=$(awk "BEGIN { print $minutes / 60 }")
cat > "$dir/spec.json" <<SPEC
{"name": "soak", "budget": {"trials": 100000000, "max_attempts": 50, "deadline": $hours},
 "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
 "trial": {"kind": "command", "timeout_seconds": 60,
           "command": "sleep \$(awk \"BEGIN { srand(\$LORAFARM_TRIAL); print rand() * $trial_max }\"); echo '{\"step\": 1, \"val_loss\": 3}'; echo '{\"final\": true, \"val_loss\": '{x}'}'"}}
SPEC
"$lorafarm" sweep "$dir/spec.json" --db "$dir/soak.db" --bind "$endpoint" --heartbeat-ms 200 --log-level warn \
  >> "$dir/coordinator.log" 2>&1 &
cpid=$!
worker() { "$lorafarm" worker --connect "$endpoint" --id "w$1" --workdir "$dir/w$1" --heartbeat-ms 200 --log-level warn >> "$dir/w$1.log" 2>&1 & echo $!; }
declare -a wpids
for i in $(seq 1 "$workers"); do wpids[$i]=$(worker "$i"); done

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$cpid/status" 2>/dev/null || echo 0; }
open_fds() { ls "/proc/$cpid/fd" 2>/dev/null | wc -l; }
results() { sqlite3 "$dir/soak.db" "SELECT COUNT(*) FROM results" 2>/dev/null || echo 0; }
sleep 30  # warm-up: SQLite page cache, first allocations
start_rss=$(rss_kb); start_fds=$(open_fds); start_results=$(results); start_time=$(date +%s); restarts=0; last_sample=$start_time
echo "{\"minute\": 0, \"coordinator_rss_kb\": $start_rss, \"results\": $(results)}"
while kill -0 "$cpid" 2>/dev/null; do
  sleep 2.$(( RANDOM % 10 ))
  i=$(( RANDOM % workers + 1 ))
  if (( RANDOM % 2 )); then kill -9 "${wpids[$i]}" 2>/dev/null || true; else kill -TERM "${wpids[$i]}" 2>/dev/null || true; fi
  wpids[$i]=$(worker "$i"); restarts=$(( restarts + 1 ))
  now=$(date +%s)
  if (( now - last_sample >= 60 )); then
    last_sample=$now; end_rss=$(rss_kb); end_fds=$(open_fds)
    [[ $end_rss != 0 ]] && echo "{\"minute\": $(( (now - start_time) / 60 )), \"coordinator_rss_kb\": $end_rss, \"open_fds\": $end_fds, \"results\": $(results)}"
  fi
done
wait "$cpid" || true
end_rss=${end_rss:-$start_rss}; end_fds=${end_fds:-$start_fds}
q() { sqlite3 "$dir/soak.db" "$1"; }
completed=$(q "SELECT COUNT(*) FROM trials WHERE status='COMPLETED'")
results_n=$(q 'SELECT COUNT(*) FROM results')
lost=$(q "SELECT COUNT(*) FROM attempts WHERE status='LOST'")
integrity=$(q 'PRAGMA integrity_check')
limit=$(( start_rss * 12 / 10 + 8192 ))
per_1000=$(awk "BEGIN { n = $results_n - $start_results; printf \"%.1f\", (n > 0 ? ($end_rss - $start_rss) * 1000 / n : 0) }")
flat=$([[ $end_rss -le $limit ]] && echo true || echo false)
cat <<JSON
{"minutes": $minutes, "workers": $workers, "worker_restarts": $restarts,
 "coordinator_rss_kb_start": $start_rss, "coordinator_rss_kb_end": $end_rss, "rss_flat": $flat, "kb_per_1000_trials": $per_1000,
 "coordinator_open_fds_start": $start_fds, "coordinator_open_fds_end": $end_fds,
 "trials_completed": $completed, "results": $results_n, "lost_attempts": $lost, "integrity_check": "$integrity"}
JSON
[[ $integrity == ok && $flat == true && $completed == "$results_n" ]]
