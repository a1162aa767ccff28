#!/usr/bin/env bash
# bench/restart/run.sh: how long a node takes from exec to ready on a data
# directory of N sessions (a snapshot and a WAL tail, as a node leaves it),
# beside redis-server loading an RDB of N keys with values of the same size,
# in the same run. Release build (build-release/, as bench/http makes it).
#
#   bench/restart/run.sh [N] [ROUNDS]        (defaults: 1000000 3)
#
# Both are timed the same way: from exec until the first answer (GET /readyz
# 200; PING PONG), polled every 10 ms. Medians of the rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
rounds=${2:-3}
./scripts/setup.sh >/dev/null
pkgs=()
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v redis-cli >/dev/null || pkgs+=(redis-tools)
if ((${#pkgs[@]})); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null; fi
[[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release -Db_ndebug=false >/dev/null
ninja -C build-release sessionmesh bench/gen_data >/dev/null
BIN=./build-release/sessionmesh

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  redis-cli -p 17481 shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }

./build-release/bench/gen_data "$work/data" "$n" 10
mkdir -p "$work/redis"
redis-server --port 17481 --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly no \
  --enable-debug-command yes --daemonize no >/dev/null &
pids+=($!)
until [[ $(redis-cli -p 17481 ping 2>/dev/null) == PONG ]]; do sleep 0.01; done
# N keys of 256-byte values (DEBUG POPULATE pads "value:<i>" to the size).
redis-cli -p 17481 debug populate "$n" sess 256 >/dev/null
redis-cli -p 17481 save >/dev/null
redis-cli -p 17481 shutdown nosave >/dev/null || true
wait "${pids[-1]}" 2>/dev/null || true
echo "data: $(du -sh "$work/data" | cut -f1) (sessionmesh), $(du -sh "$work/redis/dump.rdb" | cut -f1) (Redis RDB)"

results="$work/results.txt"
: > "$results"
for _ in $(seq 1 "$rounds"); do
  t0=$(now)
  $BIN serve --node-id gen --data-dir "$work/data" --http 127.0.0.1:17191 --max-sessions $((n * 2)) \
    --log-level warn &
  p=$!
  until curl -sf http://127.0.0.1:17191/readyz >/dev/null 2>&1; do
    kill -0 $p 2>/dev/null || { echo "the node exited"; exit 1; }
    sleep 0.01
  done
  t1=$(now)
  live=$(curl -s http://127.0.0.1:17191/metrics | awk '$1=="sessionmesh_sessions" {print $2}')
  kill $p; wait $p 2>/dev/null || true
  echo "sessionmesh $(echo "$t1 - $t0" | bc) $live" >> "$results"

  t0=$(now)
  redis-server --port 17481 --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly no --daemonize no \
    >/dev/null &
  p=$!
  until [[ $(redis-cli -p 17481 ping 2>/dev/null) == PONG ]]; do sleep 0.01; done
  t1=$(now)
  keys=$(redis-cli -p 17481 dbsize)
  redis-cli -p 17481 shutdown nosave >/dev/null || true
  wait $p 2>/dev/null || true
  echo "redis $(echo "$t1 - $t0" | bc) $keys" >> "$results"
done

python3 - "$results" "$n" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, count = line.split()
    rows.setdefault(name, []).append((float(secs), count))
print(f"| what ({int(sys.argv[2]):,} sessions) | exec to ready, s (median) | rounds | loaded |")
print("|---|---:|---|---:|")
med = {}
for name, rs in rows.items():
    med[name] = statistics.median(r[0] for r in rs)
    print(f"| {name} | {med[name]:.2f} | {' '.join(f'{r[0]:.2f}' for r in rs)} | {rs[-1][1]} |")
print(f"\nrestart / Redis loading its RDB: {med['sessionmesh'] / med['redis']:.2f}x (goal <= 1.0x, and <= 1.0 s)")
PY
