#!/bin/bash
# restart-agent.sh RUN_DIR NODE NETWORK -- restart one lab Consul agent (what an operator's
# "systemctl restart consul-mgmt" is to nova-ha's install.sh). Run inside the node's namespace.
# Stops the recorded agent only if its PID still has the recorded start time, then starts it
# again detached, through consul-agent.sh, which records the new PID.
set -euo pipefail
run=${1:?usage: restart-agent.sh RUN_DIR NODE NETWORK}
node=${2:?}; net=${3:?}
record=$run/pids/$node-consul-$net.pid
if read -r pid start _ <"$record" 2>/dev/null; then
  stat=$(cat "/proc/$pid/stat" 2>/dev/null || true)
  rest=${stat##*) }
  read -r -a fields <<<"$rest"
  if [ -n "$stat" ] && [ "${fields[19]:-}" = "$start" ]; then
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid"
    for _ in $(seq 100); do [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break; sleep 0.1; done
    [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && kill -KILL "$pid" 2>/dev/null || true
  fi
fi
setsid "$(dirname "$0")/consul-agent.sh" "$run" "$node" "$net" </dev/null >/dev/null 2>&1 &
for _ in $(seq 100); do
  [ -s "$record" ] && read -r newpid _ <"$record" && [ "${newpid:-}" != "${pid:-}" ] && exit 0
  sleep 0.1
done
echo "restart-agent.sh: the $node/$net agent did not start: see $run/logs/$node-consul-$net.log" >&2
exit 1
