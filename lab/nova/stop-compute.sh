#!/usr/bin/env bash
# lab/nova/stop-compute.sh PREFIX N [--graceful]: the "nova-compute dies" fault. By default
# SIGKILL (a crash: no goodbye to RabbitMQ or the DB); --graceful sends SIGTERM and waits up to
# 10 s. Exits 0 when it was not running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: lab/nova/stop-compute.sh PREFIX N [--graceful]"
lab_init "$1"
valid_compute_index "$2"
case ${3:-} in
  '') sig=KILL ;;
  --graceful) sig=TERM ;;
  *) die "unknown option '$3' (only --graceful)" ;;
esac
[ -d "$RUN/pid" ] || exit 0
with_compute_lock "$2" stop_all "$sig" 10 "nova-compute-cmp$2"
