#!/usr/bin/env bash
# lab/nova/down.sh PREFIX
#
# Stops exactly what up.sh and start-compute.sh started (by recorded PID and start time, never
# by name or by namespace: the lab core's processes share these namespaces), keeps the logs in
# lab/run/PREFIX/nova/last-logs/ and removes everything else of the Nova lab's state.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || die "usage: lab/nova/down.sh PREFIX"
lab_init "$1"
[ "$(id -u)" = 0 ] || die "must run as root"
if [ ! -d "$RUN/pid" ]; then log "Nova lab $PREFIX is not up (no $RUN/pid)"; exit 0; fi

# First, so a compute host powered on from now on no longer starts nova-compute.
rm -f "$RUN/computes.enabled"
computes=$(cd "$RUN/pid" && ls nova-compute-cmp*.pid 2>/dev/null | sed 's/\.pid$//' || true)
# Computes and API services together (none needs another to stop), then the broker and the DB.
# Each phase runs in a subshell: one that fails must not leave the later ones running.
failed=
for c in $computes; do
  ( with_compute_lock "${c#nova-compute-cmp}" stop_all TERM 10 "$c" ) &
done
( stop_all TERM 15 nova-api nova-scheduler nova-conductor neutron-api glance-api placement keystone ) || failed+=" api-services"
wait
( stop_all TERM 30 rabbitmq mariadb epmd ) || failed+=" rabbitmq/mariadb/epmd"
# Anything else recorded (a name added later, a half-finished start) goes the same way.
rest=$(cd "$RUN/pid" && ls ./*.pid 2>/dev/null | sed 's#^\./##; s/\.pid$//' || true)
[ -z "$rest" ] || ( stop_all TERM 10 $rest ) || failed+=" others"
[ -z "$failed" ] || die "could not stop:$failed; see the lines above, then run lab/nova/down.sh $PREFIX again"
left=$(cd "$RUN/pid" && ls ./*.pid 2>/dev/null || true)
[ -z "$left" ] || die "PID records left in $RUN/pid: $left"

rm -rf "$RUN/last-logs"
[ -d "$RUN/log" ] && mv "$RUN/log" "$RUN/last-logs"
find "$RUN" -mindepth 1 -maxdepth 1 ! -name last-logs -exec rm -rf {} +
log "Nova lab $PREFIX stopped; logs kept in $RUN/last-logs"
