#!/usr/bin/env bash
# The chaos run (a benchmark, not part of CI): SIGKILLs the tiny pipeline at 20 random moments with
# `fusion gc --grace-hours 0` beside it, restarting it each time, then checks the artifacts against an uninterrupted
# run's, `fusion run --verify` and `fusion gc --dry-run`. Record the result in docs/benchmarks.md.
#   infra/chaos.sh [local|azurite] [-s kills=20] [-s seed=1] [-s window=20] [-s reference=FOLDER] [-s keep=true]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
store=${1:-local}
[ $# -gt 0 ] && shift
cd "$root"   # the children find pipelines/shapes.yaml here
exec ./fusion bench chaos -s store="$store" "$@"
