#!/usr/bin/env bash
# The main job. For now: the decision policy on the example observations (every row of the
# decision matrix and every guard), through `nova-ha simulate`. Nothing is done to any host.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
scripts/deps.sh node
node build.mjs
exec node dist/cli/nova-ha.js --config examples/nova-ha.conf simulate --observations examples/*.json
