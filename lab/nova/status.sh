#!/usr/bin/env bash
# lab/nova/status.sh PREFIX: one JSON object on stdout: each recorded daemon of the Nova lab with
# whether it runs, its PID and the memory of its whole process tree (RSS and PSS in KiB), plus totals.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || die "usage: lab/nova/status.sh PREFIX"
lab_init "$1"
up=false; [ -s "$RUN/lab.json" ] && up=true
enabled=false; [ -e "$RUN/computes.enabled" ] && enabled=true
printf '{"prefix": "%s", "up": %s, "computesEnabled": %s, "daemons": {' "$PREFIX" "$up" "$enabled"
sep=; total_rss=0; total_pss=0; total_procs=0
for rec in "$RUN"/pid/*.pid; do
  [ -e "$rec" ] || continue
  name=$(basename "$rec" .pid)
  read -r pid _ <"$rec"
  running=false; rss=0; pss=0; procs=0
  alive "$name" && running=true
  while read -r p _; do
    [ -n "$p" ] || continue
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    s=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0})); procs=$((procs + 1))
  done < <(members "$name")
  total_rss=$((total_rss + rss)); total_pss=$((total_pss + pss)); total_procs=$((total_procs + procs))
  printf '%s"%s": {"running": %s, "pid": %s, "processes": %s, "rssKiB": %s, "pssKiB": %s}' "$sep" "$name" "$running" "$pid" "$procs" "$rss" "$pss"
  sep=', '
done
printf '}, "processes": %s, "rssKiB": %s, "pssKiB": %s}\n' "$total_procs" "$total_rss" "$total_pss"
