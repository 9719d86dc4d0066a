#!/usr/bin/env bash
# lab/nova/start-compute.sh PREFIX N: starts nova-compute in PREFIX-cmpN unless it already runs
# (the lab core's power-on calls this when computes.enabled exists). Does not wait for Nova to
# see it up: callers that need that poll the service list.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: lab/nova/start-compute.sh PREFIX N"
lab_init "$1"
valid_compute_index "$2"
require_lab
with_compute_lock "$2" start_compute "$2"
