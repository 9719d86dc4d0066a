#!/usr/bin/env bash
# Every benchmark, each printing its own table. The lab ones need root and bring up labs of
# their own (prefix nhb), taken down at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH
scripts/deps.sh nova
node build.mjs
node --import tsx bench/cold-start.ts --runs 20
node --import tsx bench/detection.ts 10 20
node --import tsx bench/evacuation.ts 2 5,20,50
node --import tsx bench/recovery.ts 5 20
node --import tsx bench/floor.ts 5 20
node --import tsx bench/scale.ts 100,1000,10000
