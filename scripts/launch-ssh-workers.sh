#!/usr/bin/env bash
# Starts lorafarm worker agents on remote machines over ssh.
#
#   scripts/launch-ssh-workers.sh ENDPOINT HOST[:SLOTS] [HOST[:SLOTS] ...]
#
# ENDPOINT is what the coordinator listens on, as seen from the workers, e.g.
# tcp://10.0.0.5:5555 (start it with `lorafarm sweep spec.json --bind
# tcp://0.0.0.0:5555 --insecure`). Each HOST runs one agent with SLOTS trial
# slots (default: its core count). The agents run under nohup and exit when
# the coordinator says SHUTDOWN; logs go to ~/lorafarm-worker.log on each host.
#
# Environment: LORAFARM (remote path of the binary, default: lorafarm on PATH),
# LORAFARM_WORKDIR (remote trial folder, default ~/lorafarm-work), SSH (ssh
# command, default "ssh -o BatchMode=yes").
set -euo pipefail
if [[ $# -lt 2 ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
endpoint=$1
shift
lorafarm=${LORAFARM:-lorafarm}
workdir=${LORAFARM_WORKDIR:-'~/lorafarm-work'}
ssh_cmd=${SSH:-ssh -o BatchMode=yes}

for spec in "$@"; do
  host=${spec%%:*}
  slots=${spec#*:}
  [[ "$slots" == "$spec" ]] && slots='$(nproc)'
  echo "starting a worker on $host (slots: $slots)"
  # shellcheck disable=SC2029 # expanded on purpose on the remote side
  $ssh_cmd "$host" "mkdir -p $workdir && nohup $lorafarm worker --connect '$endpoint' --slots $slots \
    --workdir $workdir --id \"\$(hostname)-lorafarm\" >> ~/lorafarm-worker.log 2>&1 < /dev/null &"
done
