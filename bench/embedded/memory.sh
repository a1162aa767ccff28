#!/usr/bin/env bash
# bench/embedded/memory.sh: heap bytes per session of the embedded store for
# sessions of one JSON variable of 256 B, 1 KB, 10 KB and 100 KB, beside a raw
# absl::flat_hash_map of the same ids and values and beside Redis holding
# the same number of keys with values of the same size, in the same run.
# Release build (build-release/, as scripts/run.sh builds it).
#
#   bench/embedded/memory.sh [SIZES...]      (default: 256 1024 10240 102400)
#
# sessionmesh and the raw map: mallinfo2 deltas over N sessions (about
# 256 MiB of values, at most 200,000), divided by N. Redis 7: DEBUG POPULATE
# N keys of that value size (keys "sess-0000000:<i>", 18 to 19 bytes; ours
# are 16), then MEMORY USAGE of one key (SAMPLES 0) and the used_memory
# delta divided by N (which counts the keyspace's hash table too).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
((${#sizes[@]})) || sizes=(256 1024 10240 102400)
./scripts/setup.sh >/dev/null
pkgs=()
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v redis-cli >/dev/null || pkgs+=(redis-tools)
if ((${#pkgs[@]})); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null; fi
[[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release -Db_ndebug=false >/dev/null
ninja -C build-release bench/bench_memory >/dev/null

work=$(mktemp -d)
port=17482
cleanup() {
  redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
redis-server --port $port --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
  --enable-debug-command yes --daemonize yes --logfile "$work/redis.log" >/dev/null
until [[ $(redis-cli -p $port ping 2>/dev/null) == PONG ]]; do sleep 0.01; done
used() { redis-cli -p $port info memory | awk -F: '$1=="used_memory" {print $2+0}'; }

printf '%-8s %9s %14s %12s %16s %15s %10s\n' size sessions "sessionmesh B" "raw map B" "Redis MEMORY B" "Redis used B" "sm/Redis"
for size in "${sizes[@]}"; do
  read -r _ n sm raw < <(./build-release/bench/bench_memory "$size")
  redis-cli -p $port flushall >/dev/null
  before=$(used)
  redis-cli -p $port debug populate "$n" sess-0000000 "$size" >/dev/null
  after=$(used)
  mu=$(redis-cli -p $port memory usage sess-0000000:1 samples 0)
  per=$(( (after - before) / n ))
  ratio=$(awk -v a="$sm" -v b="$mu" 'BEGIN {printf "%.2fx", a / b}')
  printf '%-8s %9s %14s %12s %16s %15s %10s\n' "$size" "$n" "$sm" "$raw" "$mu" "$per" "$ratio"
done
