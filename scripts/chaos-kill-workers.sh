#!/usr/bin/env bash
# Chaos by hand: runs a sweep of short command trials on loopback with N
# workers, SIGKILLs a random worker (and restarts it) every few seconds and,
# once, the coordinator itself (restarted with the same command); at the end
# checks that every trial completed exactly once and the database is intact.
#
#   scripts/chaos-kill-workers.sh [TRIALS=300] [WORKERS=4]
# Needs a built lorafarm (LORAFARM=path, default build/lorafarm) and sqlite3.
# CI runs a smaller version (80 trials, 3 worker kills, 1 coordinator kill): AcceptanceChaos.*.
set -euo pipefail
trials=${1:-300}
workers=${2:-4}
lorafarm=${LORAFARM:-build/lorafarm}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(( 20000 + RANDOM % 20000 ))
endpoint=tcp://127.0.0.1:$port
cat > "$dir/spec.json" <<SPEC
{"name": "chaos", "budget": {"trials": $trials, "max_attempts": 20},
 "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
 "trial": {"kind": "command", "timeout_seconds": 60,
           "command": "sleep 0.0\$(( RANDOM % 9 + 1 )); echo '{\"final\": true, \"val_loss\": '{x}'}'"}}
SPEC
coordinator() { "$lorafarm" sweep "$dir/spec.json" --db "$dir/chaos.db" --bind "$endpoint" --heartbeat-ms 200 >> "$dir/coordinator.log" 2>&1 & echo $!; }
worker() { "$lorafarm" worker --connect "$endpoint" --id "w$1" --workdir "$dir/w$1" --heartbeat-ms 200 --log-level warn >> "$dir/w$1.log" 2>&1 & echo $!; }

cpid=$(coordinator)
declare -a wpids
for i in $(seq 1 "$workers"); do wpids[$i]=$(worker "$i"); done
killed_coordinator=0
while kill -0 "$cpid" 2>/dev/null; do
  sleep 1.$(( RANDOM % 10 ))
  i=$(( RANDOM % workers + 1 ))
  kill -9 "${wpids[$i]}" 2>/dev/null || true
  wpids[$i]=$(worker "$i")
  done_now=$(sqlite3 "$dir/chaos.db" "SELECT COUNT(*) FROM results" 2>/dev/null || echo 0)
  if [[ $killed_coordinator == 0 && $done_now -gt $(( trials / 2 )) ]]; then
    echo "killing the coordinator at $done_now results"
    kill -9 "$cpid"; sleep 0.5; cpid=$(coordinator); killed_coordinator=1
  fi
done
# (the coordinator was started in a subshell: the loop above waited for it)
q() { sqlite3 "$dir/chaos.db" "$1"; }
echo "trials: $(q 'SELECT COUNT(*) FROM trials')  completed: $(q "SELECT COUNT(*) FROM trials WHERE status='COMPLETED'")" \
     "results: $(q 'SELECT COUNT(*) FROM results')  lost attempts: $(q "SELECT COUNT(*) FROM attempts WHERE status='LOST'")" \
     "stale/duplicate results: $(q "SELECT COUNT(*) FROM events WHERE kind LIKE 'STALE%' OR kind LIKE 'DUPLICATE%'")"
[[ $(q "SELECT COUNT(*) FROM trials WHERE status='COMPLETED'") == "$trials" ]] || { echo "FAIL: not every trial completed"; exit 1; }
[[ $(q 'SELECT COUNT(*) FROM results') == "$trials" ]] || { echo "FAIL: results counted wrongly"; exit 1; }
[[ $(q 'PRAGMA integrity_check') == ok ]] || { echo "FAIL: integrity_check"; exit 1; }
echo "OK: every trial completed exactly once"
