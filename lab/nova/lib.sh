# lab/nova/lib.sh: shared by the lab/nova scripts (sourced, never run).
#
# The Nova lab runs inside namespaces that already exist (the lab core makes them, per
# lab/topology.ts): the control plane in <prefix>-ctl1 on 198.18.1.11, nova-compute N in
# <prefix>-cmpN on 198.18.1.(100+N). Its state lives in lab/run/<prefix>/nova/.
#
# Every daemon is started in its own session (setsid) and recorded as "PID STARTTIME" in
# pid/<name>.pid. Stopping signals that session only after checking the start time, so a
# recycled PID, another lab's process or the lab core's Consul agents are never hit.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin   # /usr/bin/python3, never a pyenv python first on PATH
export LC_ALL=C
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ inside lab/nova/pylib and bin
NOVA_LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$NOVA_LAB/../.." && pwd)
PKGFILES=${OPENSTACK_PKGFILES:-$TOP/.cache/openstack-pkgfiles}/usr/share
LAB_RUN_ROOT=${NOVA_HA_LAB_RUN:-$TOP/lab/run}
LAB_DEVICES="mgmt0 stor0 ten0 oob0"

# Addresses from lab/topology.ts: ctl1's mgmt address, and cmpN = .(100+N) on mgmt.
CTL_IP=198.18.1.11
cmp_ip() { echo "198.18.1.$((100 + $1))"; }
# The lab's own MariaDB/RabbitMQ ports: deliberately not the defaults, so nothing here can be
# mistaken for (or reach) a machine's own database or broker.
DB_PORT=3307
RABBIT_PORT=5673
EPMD_PORT=4370
RABBIT_DIST_PORT=25673
PW=labpass
DB=mysql+pymysql://os:$PW@$CTL_IP:$DB_PORT
RABBIT=rabbit://openstack:$PW@$CTL_IP:$RABBIT_PORT/
KEYSTONE_URL=http://$CTL_IP:5000/v3
# API processes (lab/nova/README.md, "Workers"): enough that an evacuation's floor is Nova's, not
# one Python process's. Each Neutron API process is about 300 MiB, each nova-api worker 150 MiB.
NEUTRON_WORKERS=${NOVA_LAB_NEUTRON_WORKERS:-4}
NOVA_API_WORKERS=${NOVA_LAB_NOVA_API_WORKERS:-2}

T0=$(date +%s%N)
die() { echo "nova-lab: $*" >&2; exit 1; }
log() { printf '[%s +%ss] %s\n' "$(date +%T)" "$(elapsed "$T0")" "$*" >&2; }
# elapsed START_NS: seconds since START_NS with one decimal
elapsed() { local d=$(( ($(date +%s%N) - $1) / 100000000 )); echo "$((d / 10)).$((d % 10))"; }

# lab_init PREFIX: validates the prefix and sets the per-lab names.
lab_init() {
  PREFIX=${1:-}
  [[ $PREFIX =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "prefix '$PREFIX' is not a lab prefix (1-10 lower-case letters/digits, starting with a letter), e.g. nhn"
  RUN=$LAB_RUN_ROOT/$PREFIX/nova
  E=$RUN/etc
  NS_CTL=$PREFIX-ctl1
}
ns_cmp() { echo "$PREFIX-cmp$1"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

require_ns() {
  ip netns list | awk '{print $1}' | grep -qx -- "$1" ||
    die "network namespace $1 does not exist; create the lab's namespaces first (lab core, per lab/topology.ts)"
}

# check_route NS ADDR: refuse unless NS reaches ADDR through a lab device. A local address
# routes via lo, so it counts only when it sits on a lab device of NS.
check_route() {
  local ns=$1 addr=$2 out dev
  out=$(ip -n "$ns" route get "$addr" 2>&1) || die "ip -n $ns route get $addr failed ($out); is the lab's mgmt network up?"
  dev=$(awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}' <<<"$out")
  if [[ $out == local* ]]; then
    dev=$(ip -n "$ns" -o -4 addr show | awk -v a="$addr" '{split($4, p, "/"); if (p[1] == a) { print $2; exit }}')
  fi
  [[ " $LAB_DEVICES " == *" $dev "* ]] ||
    die "refusing to send to $addr from namespace $ns: its route uses device '${dev:-none}', not a lab device ($LAB_DEVICES); fix the lab's network first"
}

# ---- processes -------------------------------------------------------------------------------
# stat_field PID N: field N of /proc/PID/stat (the comm field may hold spaces, so split after ')').
stat_field() {
  local s
  read -r s 2>/dev/null <"/proc/$1/stat" || return 1
  s=${s##*) }
  local -a f=($s)
  echo "${f[$(($2 - 3))]}"
}
# alive NAME: the recorded process still runs (same PID *and* same start time, not a zombie).
alive() {
  local rec=$RUN/pid/$1.pid pid start
  [ -s "$rec" ] || return 1
  read -r pid start <"$rec" || return 1
  [ -n "$(still_alive "$pid $start")" ]
}
# proc_table: "PID PPID SID STARTTIME" for every process (read once per call: this runs in loops,
# so no subshell per process).
proc_table() {
  local d s
  local -a f
  for d in /proc/[0-9]*; do
    read -r s 2>/dev/null <"$d/stat" || continue
    s=${s##*) }
    f=($s)
    echo "${d#/proc/} ${f[1]} ${f[3]} ${f[19]}"
  done
}
# session_pids SID: every process whose session is SID.
session_pids() { proc_table | awk -v sid="$1" '$3 == sid {print $1}'; }
# our_session NAME: prints the session ID of NAME's processes when they are ours for sure:
# the leader runs with the recorded start time, or the leader is gone but members remain
# (Linux does not reuse a PID while it names a live session, so they are its orphans).
our_session() {
  local rec=$RUN/pid/$1.pid pid start
  [ -s "$rec" ] || return 1
  read -r pid start <"$rec" || return 1
  if alive "$1"; then echo "$pid"; return 0; fi
  [ -e "/proc/$pid" ] && return 1   # PID reused by a stranger: not ours
  [ -n "$(session_pids "$pid")" ] && { echo "$pid"; return 0; }
  return 1
}
# members NAME: "PID STARTTIME" of NAME's session and of every descendant of it. Descendants
# count because some helpers leave the session (Erlang's erl_child_setup, inet_gethost and the
# disk monitor shell call setsid) and outlive their parent for a moment.
members() {
  local sid
  sid=$(our_session "$1") || return 0
  proc_table | awk -v sid="$sid" '
    { ppid[$1] = $2; start[$1] = $4; if ($3 == sid) keep[$1] = 1 }
    END {
      do { grew = 0; for (p in ppid) if (!(p in keep) && (ppid[p] in keep)) { keep[p] = 1; grew = 1 } } while (grew)
      for (p in keep) print p, start[p]
    }'
}
# still_alive "PID STARTTIME"...: those of them that still run (same PID and start time). A
# zombie counts as gone: it runs nothing and no signal can remove it, only its parent's wait.
still_alive() {
  local m pid start s
  local -a f
  for m in "$@"; do
    pid=${m% *}; start=${m#* }
    read -r s 2>/dev/null <"/proc/$pid/stat" || continue
    s=${s##*) }
    f=($s)
    [ "${f[19]}" = "$start" ] && [ "${f[0]}" != Z ] && echo "$m"
  done
  return 0
}

# start NAME NS CMD...: runs CMD detached in NS in a new session, output to log/NAME.out, and
# records "PID STARTTIME" in pid/NAME.pid before returning.
start() {
  local name=$1 ns=$2; shift 2
  alive "$name" && die "$name already runs (pid $(cut -d' ' -f1 "$RUN/pid/$name.pid")); stop it first"
  rm -f "$RUN/pid/$name.pid"
  # ip netns exec execs CMD, so the recorded PID is the daemon itself. fd 9 (the compute lock)
  # is closed, else the daemon would hold the lock for its whole life.
  setsid bash -c 's=$(cat /proc/$$/stat); s=${s##*) }; f=($s); echo "$$ ${f[19]}" >"$0.tmp" && mv "$0.tmp" "$0"
                  exec ip netns exec "$@"' "$RUN/pid/$name.pid" "$ns" "$@" >>"$RUN/log/$name.out" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 1 100); do [ -s "$RUN/pid/$name.pid" ] && return 0; sleep 0.05; done
  die "$name did not start (no PID record after 5 s); see $RUN/log/$name.out"
}

# stop_all SIGNAL TIMEOUT_S NAME...: signals each recorded daemon's session, waits up to
# TIMEOUT_S for all its members (see members) to end, then SIGKILLs those left. Names without
# live processes are skipped.
stop_all() {
  local sig=$1 timeout=$2; shift 2
  local -a procs=()
  local name sid m
  for name in "$@"; do
    sid=$(our_session "$name") || { rm -f "$RUN/pid/$name.pid"; continue; }
    while read -r m; do [ -n "$m" ] && procs+=("$m"); done < <(members "$name")
    # A frozen (SIGSTOPped) daemon never handles TERM: let it run first.
    kill -CONT -- "-$sid" 2>/dev/null || true
    kill "-$sig" -- "-$sid" 2>/dev/null || true
  done
  local deadline=$(( $(date +%s) + timeout )) left
  while :; do
    left=$(still_alive "${procs[@]}")
    [ -z "$left" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "still running after SIG$sig and ${timeout} s, sending SIGKILL to: $(cut -d' ' -f1 <<<"$left" | tr '\n' ' ')"
      kill -KILL $(cut -d' ' -f1 <<<"$left") 2>/dev/null || true
      # A killed process can take seconds to be gone (freeing its memory on a loaded machine).
      local killed_deadline=$(( $(date +%s) + 15 ))
      while left=$(still_alive "${procs[@]}"); [ -n "$left" ] && [ "$(date +%s)" -lt "$killed_deadline" ]; do sleep 0.2; done
      [ -z "$left" ] || die "survived SIGKILL for 15 s: $(cut -d' ' -f1 <<<"$left" | tr '\n' ' ')"
      break
    fi
    sleep 0.2
  done
  for name in "$@"; do rm -f "$RUN/pid/$name.pid"; done
}

# ---- configs and readiness --------------------------------------------------------------------
# render TEMPLATE [HOST MY_IP]: the template with the lab's values filled in.
render() {
  sed -e "s#@RUN@#$RUN#g" -e "s#@E@#$E#g" -e "s#@CTL_IP@#$CTL_IP#g" -e "s#@PW@#$PW#g" \
      -e "s#@DB@#$DB#g" -e "s#@RABBIT@#$RABBIT#g" -e "s#@KEYSTONE_URL@#$KEYSTONE_URL#g" \
      -e "s#@DB_PORT@#$DB_PORT#g" -e "s#@RABBIT_PORT@#$RABBIT_PORT#g" \
      -e "s#@NOVA_API_WORKERS@#$NOVA_API_WORKERS#g" \
      -e "s#@HOST@#${2:-}#g" -e "s#@MY_IP@#${3:-}#g" "$NOVA_LAB/templates/$1"
}
# render_compute N: cmpN.conf and cmpN's state directories (also for computes added after up.sh).
render_compute() {
  local h=cmp$1
  mkdir -p "$RUN/state/$h/instances" "$RUN/state/$h/lock"
  [ -s "$E/nova/$h.conf" ] || render nova-compute.conf "$h" "$(cmp_ip "$1")" >"$E/nova/$h.conf"
}

sql() { nsx "$NS_CTL" mariadb --defaults-file="$E/mysql/my.cnf" -N -B -e "$1"; }

# wait_http URL [TIMEOUT_S]: until URL answers 200/300/401 (curl runs inside ctl1).
wait_http() {
  local deadline=$(( $(date +%s) + ${2:-180} )) code
  until code=$(nsx "$NS_CTL" curl -s -m 3 -o /dev/null -w '%{http_code}' "$1") && [[ $code =~ ^(200|300|401)$ ]]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "no answer from $1 after ${2:-180} s (last HTTP code ${code:-none}); see $RUN/log/"
    sleep 0.3
  done
}

# The lab is up (configs rendered) for this prefix, or die with the fix.
require_lab() {
  [ -s "$RUN/lab.json" ] && [ -s "$E/nova/nova.conf" ] || die "the Nova lab of prefix $PREFIX is not up ($RUN/lab.json missing); run lab/nova/up.sh $PREFIX <computes>"
}

start_compute() {  # start_compute N: nova-compute in <prefix>-cmpN, unless it already runs
  local n=$1 ns
  ns=$(ns_cmp "$n")
  alive "nova-compute-cmp$n" && return 0
  require_ns "$ns"
  check_route "$ns" "$CTL_IP"
  render_compute "$n"
  start "nova-compute-cmp$n" "$ns" "$NOVA_LAB/bin/nova-compute" --config-file "$E/nova/nova.conf" --config-file "$E/nova/cmp$n.conf"
}

# with_compute_lock N CMD...: start/stop/restart of one compute never interleave (the BMC's
# power-on and a remediation restart may call at the same time).
with_compute_lock() {
  local n=$1; shift
  mkdir -p "$RUN/pid"
  exec 9>"$RUN/pid/nova-compute-cmp$n.lock"
  flock -w 30 9 || die "cmp$n: another start/stop of its nova-compute holds $RUN/pid/nova-compute-cmp$n.lock for 30 s"
  "$@"
}

valid_compute_index() {
  [[ $1 =~ ^[1-9][0-9]?$|^100$ ]] || die "compute index '$1' must be 1..100 (cmpN)"
}
