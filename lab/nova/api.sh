#!/usr/bin/env bash
# lab/nova/api.sh PREFIX stop|start: the "Nova's API is down for a while" fault. stop ends
# nova-api (SIGTERM, SIGKILL after 10 s); start runs it again and waits until it answers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: lab/nova/api.sh PREFIX stop|start"
lab_init "$1"
require_lab
case $2 in
  stop) stop_all TERM 10 nova-api ;;
  start)
    alive nova-api || start nova-api "$NS_CTL" "$NOVA_LAB/bin/nova-api" --config-file "$E/nova/nova.conf" --config-file "$E/nova/nova-db.conf" --log-file "$RUN/log/nova-api.log"
    wait_http "http://$CTL_IP:8774/" 120 ;;
  *) die "unknown action '$2' (stop or start)" ;;
esac
