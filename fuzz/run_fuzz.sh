#!/usr/bin/env bash
# run_fuzz.sh TARGET SEED_CORPUS_DIR SECONDS: runs a libFuzzer target for a
# bounded time on a scratch copy of the seed corpus (the repo stays clean).
set -euo pipefail
target=$1 seeds=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/ 2>/dev/null || true
# -error_exitcode=1: libFuzzer's default is 77, which meson counts as a
# skip, so a crash must not be allowed to look like one. A crashing input is
# printed (hex) so the failure can be replayed: TARGET FILE.
set +e
"$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -error_exitcode=1 \
  -artifact_prefix="$work/" "$work"
rc=$?
set -e
if ((rc != 0)); then
  for f in "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-*; do
    [[ -f $f ]] && { echo "failing input $(basename "$f"):"; od -A x -t x1z "$f" | head -20; }
  done
  exit 1
fi
