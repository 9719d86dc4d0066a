#!/bin/bash
# host-power.sh PREFIX N RUN_DIR -- "compute cmpN is powered on", for as long as this runs.
# Started by bmcN's ipmi_sim (startcmd) as `setsid ip netns exec PREFIX-cmpN host-power.sh ...`.
# sh, setsid and ip all exec, so this bash is exactly the PID the sim watches: power status is
# "on" while it lives, and power off is a SIGTERM to it alone (the sim signals nothing else).
#
# Boot: start the compute's three Consul agents (as user consul) and, if the lab enabled Nova,
# lab/nova/start-compute.sh. Power off: a hard power cut, i.e. SIGKILL to every other process in
# this namespace (whoever started it), then exit, so every network sees a failure, never a leave.
set -u
prefix=${1:?usage: host-power.sh PREFIX N RUN_DIR}
n=${2:?usage: host-power.sh PREFIX N RUN_DIR}
run=${3:?usage: host-power.sh PREFIX N RUN_DIR}
node=cmp$n
namespace=$prefix-$node
bin=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$bin/../.." && pwd)
exec </dev/null >>"$run/logs/$node-power.log" 2>&1   # ipmi_sim closes our descriptors
log() { echo "$(date +%T.%N) $node: $*"; }

power_cut() {
  trap '' TERM INT HUP
  if [ -e "$run/$node/bmc-hangs-on-power-off" ]; then
    # Tests mark a BMC that stops answering in the middle of a fence: it freezes instead of cutting
    # the power, so the host keeps running and no power-off can ever be verified.
    read -r sim _ <"$run/pids/bmc$n-ipmi_sim.pid" && kill -STOP "$sim"
    log "power off received, but the BMC hangs (test marker): bmc$n stopped, host still on"
    trap power_cut TERM INT HUP
    return
  fi
  local round pids
  # Processes may still be starting (a boot in progress): repeat until only we are left.
  for round in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(ip netns pids "$namespace" | grep -vx "$$")
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.05
  done
  rm -f "$run/pids/$node-host.pid"
  log "power cut (SIGTERM from the BMC): killed everything in $namespace"
  exit 0
}
trap power_cut TERM INT HUP

stat=$(</proc/$$/stat); rest=${stat##*) }; read -r -a fields <<<"$rest"
mkdir -p "$run/pids"
echo "$$ ${fields[19]}" >"$run/pids/$node-host.pid"
log "power on (pid $$)"
if [ -e "$run/$node/boot-fails" ]; then
  # Tests mark a host that powers on but never boots (a dead disk, a kernel panic).
  log "boot fails ($run/$node/boot-fails exists): nothing started"
  while :; do sleep 3600 & wait $!; done
fi
for net in mgmt storage tenant; do
  "$bin/consul-agent.sh" "$run" "$node" "$net" &
done
if [ -e "$run/nova/computes.enabled" ]; then
  # In the background: a trap cannot fire while a foreground command runs.
  (
    if [ ! -x "$repo/lab/nova/start-compute.sh" ]; then
      log "nova enabled but $repo/lab/nova/start-compute.sh is missing or not executable"
    elif "$repo/lab/nova/start-compute.sh" "$prefix" "$n"; then
      log "start-compute.sh $prefix $n done"
    else
      log "start-compute.sh $prefix $n failed with exit $?: see its log"
    fi
  ) &
fi
# `wait` (unlike a foreground command) lets the power-cut trap run at once. It returns when
# every child has exited, but a host whose agents were all stopped by hand is still powered on:
# hence the keeper and the loop.
while :; do
  sleep infinity &
  wait
done
