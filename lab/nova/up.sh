#!/usr/bin/env bash
# lab/nova/up.sh PREFIX COMPUTES
#
# Cold start of the lab's mini OpenStack inside namespaces that already exist: MariaDB and
# RabbitMQ of the lab's own, Keystone, Placement, Glance, Neutron API and nova-api/conductor/
# scheduler in PREFIX-ctl1, then one nova-compute (fake driver) in each PREFIX-cmpN. Returns
# once every service answers and every compute is up and mapped to cell1; then creates
# computes.enabled, so a compute host powered back on runs nova-compute again.
# Prints one JSON line with the timings on stdout; progress goes to stderr.
# Stop with lab/nova/down.sh PREFIX.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: lab/nova/up.sh PREFIX COMPUTES (e.g. up.sh nhn 4)"
lab_init "$1"
NCMP=$2
[[ $NCMP =~ ^[1-9][0-9]?$|^100$ ]] || die "COMPUTES '$NCMP' must be 1..100"
[ "$(id -u)" = 0 ] || die "must run as root (ip netns exec)"

# ---------- 0. preconditions ------------------------------------------------------------------
require_ns "$NS_CTL"
for i in $(seq 1 "$NCMP"); do require_ns "$(ns_cmp "$i")"; done
if [ -d "$RUN" ] && [ -n "$(ls -A "$RUN" | grep -vx last-logs || true)" ]; then
  die "$RUN holds a running or unclean lab; run lab/nova/down.sh $PREFIX first"
fi
[ -s "$PKGFILES/nova-common/api-paste.ini" ] || "$NOVA_LAB/fetch-pkgfiles.sh"
for b in mariadbd mariadb-install-db uwsgi-core keystone-manage placement-manage epmd curl flock; do
  command -v "$b" >/dev/null || die "$b is missing; run scripts/deps.sh nova"
done
check_route "$NS_CTL" "$CTL_IP"
for i in $(seq 1 "$NCMP"); do check_route "$(ns_cmp "$i")" "$CTL_IP"; done
trap 'echo "nova-lab: up.sh failed; logs in $RUN/log; clean up with lab/nova/down.sh $PREFIX" >&2' ERR

# ---------- 1. config files -------------------------------------------------------------------
mkdir -p "$RUN"/{log,pid} "$RUN"/state/{mysql/data,rabbitmq,keystone,nova/lock,neutron/lock} \
         "$RUN"/state/glance/{images,staging,tasks,lock} "$E"/{mysql,rabbitmq,keystone,placement,glance,neutron,nova}
# Others may pass through (not list): nova-ha's nova-compute check, running as the consul user,
# reads pid/nova-compute-cmpN.pid. The secrets below are rendered under umask 077.
chmod 711 "$RUN"
render my.cnf >"$E/mysql/my.cnf"
render rabbitmq.conf >"$E/rabbitmq/rabbitmq.conf"
echo '[].' >"$E/rabbitmq/enabled_plugins"
cp "$NOVA_LAB/templates/rabbitmq-env.conf" "$E/rabbitmq/"
render keystone.conf >"$E/keystone/keystone.conf"
render placement.conf >"$E/placement/placement.conf"
render glance-api.conf >"$E/glance/glance-api.conf"
cp "$PKGFILES/glance-common/glance-api-paste.ini" "$E/glance/"
render neutron.conf >"$E/neutron/neutron.conf"
render ml2_conf.ini >"$E/neutron/ml2_conf.ini"
cp "$PKGFILES/neutron-common/api-paste.ini" "$E/neutron/"
render nova.conf >"$E/nova/nova.conf"
render nova-db.conf >"$E/nova/nova-db.conf"
render nova-cell0.conf >"$E/nova/nova-cell0.conf"
cp "$PKGFILES/nova-common/api-paste.ini" "$E/nova/"
for i in $(seq 1 "$NCMP"); do render_compute "$i"; done
# What lab.py and lab/nova.ts read: where things are, and the admin credentials (nova-ha's [nova]).
umask 077
cat >"$RUN/lab.json" <<EOF
{"prefix": "$PREFIX", "computes": $NCMP, "ctlNamespace": "$NS_CTL", "ctlAddress": "$CTL_IP",
 "keystoneUrl": "$KEYSTONE_URL", "computeUrl": "http://$CTL_IP:8774/v2.1", "placementUrl": "http://$CTL_IP:8778",
 "imageUrl": "http://$CTL_IP:9292", "networkUrl": "http://$CTL_IP:9696", "region": "RegionOne"}
EOF
cat >"$RUN/admin.json" <<EOF
{"auth_url": "$KEYSTONE_URL", "auth_type": "password", "username": "admin", "password": "$PW",
 "user_domain_name": "Default", "project_name": "admin", "project_domain_name": "Default",
 "region_name": "RegionOne", "interface": "internal"}
EOF
umask 022
log "configs rendered in $RUN"

# ---------- 2. MariaDB + RabbitMQ of the lab's own ----------------------------------------------
# Our own epmd (not the one RabbitMQ would daemonize out of our reach): recorded, so down.sh
# stops it by PID; loopback only, since nothing outside ctl1 needs Erlang distribution.
start epmd "$NS_CTL" epmd -port "$EPMD_PORT" -address 127.0.0.1
start rabbitmq "$NS_CTL" env HOME="$RUN/state/rabbitmq" RABBITMQ_NODENAME=rabbit@localhost \
  ERL_EPMD_PORT="$EPMD_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
  RABBITMQ_CONF_ENV_FILE="$E/rabbitmq/rabbitmq-env.conf" RABBITMQ_CONFIG_FILE="$E/rabbitmq/rabbitmq.conf" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$E/rabbitmq/enabled_plugins" RABBITMQ_MNESIA_BASE="$RUN/state/rabbitmq/mnesia" \
  RABBITMQ_LOG_BASE="$RUN/log/rabbitmq" RABBITMQ_PID_FILE="$RUN/state/rabbitmq/rabbit.pid" \
  /usr/lib/rabbitmq/bin/rabbitmq-server
mkdir -p "$RUN/state/mysql/tmp"
nsx "$NS_CTL" mariadb-install-db --defaults-file="$E/mysql/my.cnf" --auth-root-authentication-method=normal \
  --skip-test-db >"$RUN/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed; see $RUN/log/mariadb-install.log"
start mariadb "$NS_CTL" mariadbd --defaults-file="$E/mysql/my.cnf"
deadline=$(( $(date +%s) + 60 ))
until sql 'select 1' >/dev/null 2>&1; do
  alive mariadb || die "mariadbd exited; see $RUN/log/mariadb.err"
  [ "$(date +%s)" -lt "$deadline" ] || die "MariaDB not answering after 60 s; see $RUN/log/mariadb.err"
  sleep 0.3
done
sql "CREATE USER 'os'@'%' IDENTIFIED BY '$PW'; GRANT ALL ON *.* TO 'os'@'%';
     CREATE DATABASE keystone; CREATE DATABASE placement; CREATE DATABASE glance; CREATE DATABASE neutron;
     CREATE DATABASE nova_api; CREATE DATABASE nova; CREATE DATABASE nova_cell0;"
log "mariadb ready"
wait_rabbit() {  # only Neutron and Nova need RabbitMQ, and it takes ~15 s: they alone wait for it
  local deadline=$(( $(date +%s) + 120 ))
  until nsx "$NS_CTL" bash -c "exec 3<>/dev/tcp/$CTL_IP/$RABBIT_PORT" 2>/dev/null; do
    alive rabbitmq || die "RabbitMQ exited; see $RUN/log/rabbitmq.out and $RUN/log/rabbitmq/"
    [ "$(date +%s)" -lt "$deadline" ] || die "RabbitMQ not listening after 120 s; see $RUN/log/rabbitmq/"
    sleep 0.3
  done
  log "rabbitmq ready"
}

# ---------- 3. per-service DB sync + start, in parallel branches ---------------------------------
KC=(--config-file "$E/keystone/keystone.conf")
NC=(--config-file "$E/nova/nova.conf" --config-file "$E/nova/nova-db.conf")
UW=(uwsgi-core --plugin python3 --master --die-on-term --need-app --buffer-size 65535
    --add-header "Connection: close")   # without it keep-alive connections get reset now and then
LABPY=(/usr/bin/python3 "$NOVA_LAB/lab.py" "$PREFIX")
init_keystone() {
  nsx "$NS_CTL" keystone-manage "${KC[@]}" db_sync; log "keystone db synced"
  nsx "$NS_CTL" keystone-manage "${KC[@]}" fernet_setup --keystone-user root --keystone-group root
  nsx "$NS_CTL" keystone-manage "${KC[@]}" credential_setup --keystone-user root --keystone-group root
  nsx "$NS_CTL" keystone-manage "${KC[@]}" bootstrap --bootstrap-password "$PW" --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$KEYSTONE_URL" --bootstrap-internal-url "$KEYSTONE_URL" --bootstrap-public-url "$KEYSTONE_URL"
  start keystone "$NS_CTL" "${UW[@]}" --http-socket "$CTL_IP:5000" --processes 2 --threads 1 \
    --env OS_KEYSTONE_CONFIG_FILES="$E/keystone/keystone.conf" --wsgi-file /usr/bin/keystone-wsgi-public
  wait_http "$KEYSTONE_URL"
  nsx "$NS_CTL" "${LABPY[@]}" catalog >/dev/null && touch "$RUN/state/catalog.ok"
}
init_placement() {
  nsx "$NS_CTL" placement-manage --config-file "$E/placement/placement.conf" db sync
  # Processes, not threads, as devstack runs it: under uWSGI threads eventlet's hub once died with
  # "greenlet.error: cannot switch to a different thread" and Placement never answered again.
  start placement "$NS_CTL" "${UW[@]}" --http-socket "$CTL_IP:8778" --processes 2 --threads 1 --lazy-apps \
    --env OS_PLACEMENT_CONFIG_DIR="$E/placement" --wsgi-file /usr/bin/placement-api
  wait_http "http://$CTL_IP:8778/"
}
init_glance() {
  nsx "$NS_CTL" "$NOVA_LAB/bin/glance-manage" --config-file "$E/glance/glance-api.conf" db_sync
  start glance-api "$NS_CTL" "$NOVA_LAB/bin/glance-api" --config-file "$E/glance/glance-api.conf"
  wait_http "http://$CTL_IP:9292/"
}
init_neutron() {
  nsx "$NS_CTL" "$NOVA_LAB/bin/neutron-db-manage" --config-file "$E/neutron/neutron.conf" \
    --config-file "$E/neutron/ml2_conf.ini" upgrade heads
  log "neutron db synced"
  wait_rabbit
  # Several processes: every server list or show costs nova-api two Neutron queries, and each
  # rebuild of an evacuation several more; one process (one request at a time) set the lab's
  # evacuation floor instead of Nova. --lazy-apps: each process loads Neutron itself (no DB or
  # AMQP connection shared across a fork).
  start neutron-api "$NS_CTL" "${UW[@]}" --http-socket "$CTL_IP:9696" --processes "$NEUTRON_WORKERS" --threads 1 --lazy-apps \
    --pythonpath "$NOVA_LAB/pylib" --env OS_NEUTRON_CONFIG_DIR="$E/neutron" \
    --env "OS_NEUTRON_CONFIG_FILES=neutron.conf;ml2_conf.ini" --wsgi-file "$NOVA_LAB/pylib/neutron_lab_wsgi.py"
  # Up to 7 minutes: each of the processes loads all of Neutron, and on two busy cores (two labs
  # side by side) that took more than the usual 3.
  wait_http "http://$CTL_IP:9696/" 420
}
init_nova() {  # API DB + cell mappings, cell1 schema and cell0 schema in parallel
  local manage=("$NOVA_LAB/bin/nova-manage" "${NC[@]}")
  ( nsx "$NS_CTL" "${manage[@]}" api_db sync
    nsx "$NS_CTL" "${manage[@]}" cell_v2 map_cell0 --database_connection "$DB/nova_cell0"
    nsx "$NS_CTL" "${manage[@]}" cell_v2 create_cell --name cell1 ) & local a=$!
  nsx "$NS_CTL" "${manage[@]}" db sync --local_cell & local b=$!
  nsx "$NS_CTL" "${manage[@]}" --config-file "$E/nova/nova-cell0.conf" db sync --local_cell & local c=$!
  wait $a && wait $b && wait $c
  log "nova dbs synced"
  wait_rabbit
  start nova-conductor "$NS_CTL" "$NOVA_LAB/bin/nova-conductor" "${NC[@]}" --log-file "$RUN/log/nova-conductor.log"
  start nova-api "$NS_CTL" "$NOVA_LAB/bin/nova-api" "${NC[@]}" --log-file "$RUN/log/nova-api.log"
  # nova-scheduler exits at start when the catalog has no placement endpoint yet.
  until [ -e "$RUN/state/catalog.ok" ]; do sleep 0.3; done
  start nova-scheduler "$NS_CTL" "$NOVA_LAB/bin/nova-scheduler" "${NC[@]}" --log-file "$RUN/log/nova-scheduler.log"
  # Computes only once the conductor consumes RPC: a compute's first ping to a deaf conductor is
  # lost and costs it 10 s or more.
  local deadline=$(( $(date +%s) + 120 ))
  until [ "$(sql "select count(*) from nova.services where topic='conductor' and report_count>0" 2>/dev/null)" = 1 ]; do
    alive nova-conductor || die "nova-conductor exited; see $RUN/log/nova-conductor.log"
    [ "$(date +%s)" -lt "$deadline" ] || die "nova-conductor not reporting after 120 s; see $RUN/log/nova-conductor.log"
    sleep 0.3
  done
  log "conductor serving, starting $NCMP computes"
  for i in $(seq 1 "$NCMP"); do start_compute "$i"; done
  wait_http "http://$CTL_IP:8774/"
}
branches=()
for s in keystone placement glance neutron nova; do
  ( trap - ERR; set -e; t=$(date +%s%N); init_$s; log "$s ready ($(elapsed "$t") s in its branch)" ) \
    >"$RUN/log/init-$s.log" 2>&1 &
  branches+=("$s:$!")
done
failed=
for b in "${branches[@]}"; do wait "${b#*:}" || failed+=" ${b%%:*}"; done
[ -z "$failed" ] || { for s in $failed; do tail -5 "$RUN/log/init-$s.log" >&2; done
                      die "init failed for:$failed; see $RUN/log/init-*.log, then run lab/nova/down.sh $PREFIX"; }
T_SERVICES=$(elapsed "$T0")
log "all services answer"

# ---------- 4. readiness: every compute up in Nova and mapped to cell1 ----------------------------
nsx "$NS_CTL" "${LABPY[@]}" wait-computes "$NCMP" 300 >"$RUN/state/computes-up.json"
deadline=$(( $(date +%s) + 120 ))
until [ "$(sql "select count(*) from nova_api.host_mappings where host regexp '^cmp[0-9]+\$'" 2>/dev/null)" -ge "$NCMP" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "computes not mapped to cell1 after 120 s; see $RUN/log/nova-scheduler.log"
  sleep 0.3
done
touch "$RUN/computes.enabled"
T_UP=$(elapsed "$T0")
log "UP: $NCMP computes up and mapped in $T_UP s"
echo "{\"prefix\": \"$PREFIX\", \"computes\": $NCMP, \"servicesSeconds\": $T_SERVICES, \"upSeconds\": $T_UP}"
