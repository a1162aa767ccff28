#!/usr/bin/env bash
# bench/feed/run.sh: change-feed fan-out on one node (release build, data
# dir, --fsync batch): for each WATCHERSxRATE, bench/fanout opens the
# watchers, writes at RATE for SECONDS, and reports the events received and
# the delay from each write's send to each watcher's receipt (p50, p99);
# beside it the node's CPU per delivered event (from /proc, over the run).
#
#   bench/feed/run.sh [SECONDS] [CONFIG...]   (defaults: 5  100x1000 100x5000 1000x500 1000x5000)
#   SM_BIN=path: another node binary (an A/B of two builds in one run)
#
# The goal (issue 12): 1,000 watchers each get every event of 5k writes/s,
# p99 <= 20 ms. Client and node share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
shift || true
configs=("$@")
((${#configs[@]})) || configs=(100x1000 100x5000 1000x500 1000x5000)
./scripts/setup.sh >/dev/null
[[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release -Db_ndebug=false >/dev/null
ninja -C build-release sessionmesh bench/fanout >/dev/null
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=17193
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf '| watchers x writes/s | events received | cut (4008) | p50 ms | p99 ms | max ms | node CPU µs per event |\n|---|---:|---:|---:|---:|---:|---:|\n'
for cfg in "${configs[@]}"; do
  w=${cfg%x*} r=${cfg#*x}
  rm -rf "$work/data"
  "${SM_BIN:-./build-release/sessionmesh}" serve --node-id fan --data-dir "$work/data" --fsync batch \
    --http 127.0.0.1:$port --log-level warn &  # up to 1,024 watchers (the default bound)
  pid=$!
  until curl -sf "localhost:$port/readyz" >/dev/null; do sleep 0.05; done
  c0=$(ticks "$pid")
  out=$(./build-release/bench/fanout 127.0.0.1 $port "$w" "$r" "$secs" 1)
  c1=$(ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  python3 - "$out" "$c0" "$c1" "$hz" "$cfg" <<'PY'
import json, sys
o = json.loads(sys.argv[1]); c = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
ev = max(o["events_received"], 1)
print(f"| {sys.argv[5]} | {o['events_received']:,} of {o['events_expected']:,} ({o['received_share']:.1%}) | {o['cut_lagging']} | "
      f"{o['p50_ms']:.2f} | {o['p99_ms']:.2f} | {o['max_ms']:.1f} | {c / ev * 1e6:.2f} |")
PY
done
