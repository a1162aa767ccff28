#!/usr/bin/env bash
# run_fuzz.sh TARGET SEED_CORPUS_DIR SECONDS: runs a libFuzzer target for a
# bounded time on a scratch copy of the seed corpus (the repo stays clean).
set -euo pipefail
target=$1 seeds=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/ 2>/dev/null || true
exec "$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work"
