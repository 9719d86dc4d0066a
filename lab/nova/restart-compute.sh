#!/usr/bin/env bash
# lab/nova/restart-compute.sh PREFIX N: restarts nova-compute in PREFIX-cmpN (SIGTERM, SIGKILL
# after 10 s, start again). The lab's [remediation] restart_nova_compute command: it returns once
# the new process runs; nova-ha confirms the repair by watching health, not by this exit code.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: lab/nova/restart-compute.sh PREFIX N"
lab_init "$1"
valid_compute_index "$2"
require_lab
restart() { stop_all TERM 10 "nova-compute-cmp$1"; start_compute "$1"; }
with_compute_lock "$2" restart "$2"
