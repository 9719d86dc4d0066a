#!/bin/bash
# consul-agent.sh RUN_DIR NODE NETWORK -- become one lab Consul agent, running as user consul.
# Run inside the node's namespace (ip netns exec). It records its own PID and start time
# (/proc/PID/stat field 22) in RUN_DIR/pids/NODE-consul-NETWORK.pid and then execs, so the
# recorded PID is the agent itself, whoever started it: the lab (controllers) or the compute's
# host-power.sh (computes).
set -euo pipefail
run=${1:?usage: consul-agent.sh RUN_DIR NODE NETWORK}
node=${2:?usage: consul-agent.sh RUN_DIR NODE NETWORK}
net=${3:?usage: consul-agent.sh RUN_DIR NODE NETWORK}
repo=$(cd "$(dirname "$0")/../.." && pwd)
consul=${NOVA_HA_CONSUL:-$repo/.cache/consul/usr/bin/consul}
dir=$run/$node/consul-$net
[ -x "$consul" ] || { echo "consul-agent.sh: no consul binary at $consul: run scripts/deps.sh lab" >&2; exit 1; }
[ -f "$dir/base.json" ] || { echo "consul-agent.sh: no $dir/base.json: is lab $run up?" >&2; exit 1; }
exec </dev/null >>"$run/logs/$node-consul-$net.log" 2>&1
stat=$(</proc/$$/stat)
rest=${stat##*) }            # the fields after the command name, which may hold spaces
read -r -a fields <<<"$rest"  # fields[0] is field 3 of /proc/PID/stat, so field 22 is fields[19]
mkdir -p "$run/pids"
echo "$$ ${fields[19]}" >"$run/pids/$node-consul-$net.pid.tmp"
mv "$run/pids/$node-consul-$net.pid.tmp" "$run/pids/$node-consul-$net.pid"
echo "$(date +%T.%N) starting consul agent $node/$net as pid $$"
# --reset-env: the agent (and the checks it runs) see the consul user's environment, not root's.
# GOMAXPROCS=1: dozens of agents share two cores; one Go thread each cuts idle CPU by ~30%.
exec setpriv --reuid=consul --regid=consul --init-groups --reset-env -- /usr/bin/env GOMAXPROCS=1 \
  "$consul" agent -config-file "$dir/base.json" -config-dir "$run/$node/consul-$net.d"
