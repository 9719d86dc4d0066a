#!/usr/bin/env bash
# The main job, the lab demo: a whole cloud in network namespaces on this machine (three Consul
# clusters, a mini OpenStack with Nova, ipmi_sim BMCs), nova-ha installed with install.sh,
# instances booted, one host broken, the recovery followed live, then the incident's timeline
# and the time to recovery. Takes everything down at the end (Ctrl-C too). Needs root.
#   scripts/demo.sh [--scenario storage|hang|power|nova-compute|mgmt|tenant] [--instances N] [--keep]
# The decision policy alone, without a lab: nova-ha simulate (see README.md).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH
[ "$(id -u)" = 0 ] || { echo "the demo builds network namespaces: run it as root (sudo scripts/demo.sh)" >&2; exit 1; }
scripts/deps.sh nova
node build.mjs
exec node --import tsx lab/demo.ts "$@"
