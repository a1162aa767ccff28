#!/usr/bin/env bash
# bench/http/durable.sh: the write path that waits (issue 9), in one run.
#
#   bench/http/durable.sh [SECONDS_PER_RUN] [ROUNDS]
#
# 1. PUT with --fsync always, 50 clients (wrk -t1 -c50, a 256-byte variable
#    on 10,000 sessions) beside Redis with appendonly yes, appendfsync
#    always (redis-benchmark -t set -c 50 -d 256 -r 10000), alternating;
#    both write to the same disk under $TMPDIR.
# 2. GET p99 (wrk -t1 -c10 on one session) on a node of a 3-node cluster,
#    alone and while 10 clients keep acks=3 writes waiting on a peer cut off
#    with the test fault switch (each waits its 2 s timeout).
# Release build (build-release/, as bench/clients makes it). Medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
rounds=${2:-3}
./scripts/setup.sh >/dev/null
pkgs=()
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v redis-benchmark >/dev/null || pkgs+=(redis-tools)
command -v wrk >/dev/null || pkgs+=(wrk)
if ((${#pkgs[@]})); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null; fi
[[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release -Db_ndebug=false >/dev/null
ninja -C build-release sessionmesh >/dev/null
BIN=./build-release/sessionmesh

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; return 1; }

SM=17170; RD=17479
$BIN serve --node-id dur --data-dir "$work/data" --fsync always --http 127.0.0.1:$SM --max-sessions 1000000 \
  --log-level warn &
pids+=($!)
mkdir -p "$work/redis"
redis-server --port $RD --bind 127.0.0.1 --dir "$work/redis" --save '' --appendonly yes --appendfsync always \
  --daemonize no >/dev/null &
pids+=($!)
wait_http $SM
python3 bench/http/load.py 127.0.0.1 $SM 10000 >/dev/null

# The requests are made once, in init: the load generator's own CPU (Lua
# formatting each request took ~17% more of wrk's time) is not the node's,
# and redis-benchmark formats nothing per request either.
cat > "$work/put.lua" <<'LUA'
local reqs = {}
local n = 0
init = function(args)
  math.randomseed(os.time() + 1)
  local body = '"' .. string.rep("z", 254) .. '"'
  local headers = { ["Content-Type"] = "application/json" }
  for i = 1, 10000 do
    reqs[i] = wrk.format("PUT", string.format("/v1/sessions/sess-%06d/variables/v", math.random(0, 9999)), headers, body)
  end
end
request = function()
  n = n % 10000 + 1
  return reqs[n]
end
LUA
results="$work/results.txt"
: > "$results"
wrk_line() {  # wrk_line NAME [wrk args...]
  local name=$1; shift
  local out
  out=$(wrk -t1 -d"${secs}s" --latency "$@")
  echo "$name $(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") \
$(awk '$1=="99%" {print $2}' <<<"$out") $(awk '/Non-2xx/ {print $5}' <<<"$out" | grep . || echo 0)" >> "$results"
}
for _ in $(seq 1 "$rounds"); do
  wrk_line sm_put_fsync_always -c50 -s "$work/put.lua" "http://127.0.0.1:$SM/"
  # As many requests as Redis answers in about SECONDS (it was secs*8000,
  # about one second: shorter runs, more scatter than the node's).
  rb=$(redis-benchmark -p $RD -t set -c 50 -d 256 -r 10000 -n $((secs * 45000)) --csv 2>/dev/null)
  python3 - "$rb" >> "$results" <<'PY'
import csv, io, sys
rows = list(csv.reader(io.StringIO(sys.argv[1])))
d = dict(zip(rows[0], rows[1]))
print(f"redis_set_appendfsync_always {d['rps']} {d['p50_latency_ms']}ms {d['p99_latency_ms']}ms 0")
PY
done

# What the WAL did for those PUTs: fdatasyncs, their mean, writes per fdatasync.
curl -s "http://127.0.0.1:$SM/metrics" | awk '
  $1=="sessionmesh_wal_appends_total" {a=$2} $1=="sessionmesh_wal_fsync_seconds_sum" {s=$2}
  $1=="sessionmesh_wal_fsync_seconds_count" {c=$2}
  END { if (c > 0) printf "wal: %d fdatasyncs, mean %.0f us, %.1f writes per fdatasync\n", c, s / c * 1e6, a / c }' > "$work/wal.txt"

# --- 2. a 3-node cluster; node a serves the GETs.
declare -A HP=([a]=17270 [b]=17271 [c]=17272) GP=([a]=17370 [b]=17371 [c]=17372)
for n in a b c; do
  $BIN serve --node-id $n --data-dir "$work/c-$n" --http 127.0.0.1:${HP[$n]} --gossip 127.0.0.1:${GP[$n]} \
    --seeds 127.0.0.1:${GP[a]} --adapter replicated --test-faults --log-level error &
  pids+=($!)
done
for n in a b c; do wait_http ${HP[$n]}; done
for _ in $(seq 1 100); do
  [[ $(curl -s "http://127.0.0.1:${HP[a]}/v1/cluster" | grep -o '"status":"alive"' | wc -l) -ge 3 ]] && break
  sleep 0.1
done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"id":"hot","variables":{"v":1}}' \
  "http://127.0.0.1:${HP[a]}/v1/sessions" >/dev/null
for _ in $(seq 1 "$rounds"); do
  wrk_line get_alone -c10 "http://127.0.0.1:${HP[a]}/v1/sessions/hot"
  curl -sf -XPOST -H 'Content-Type: application/json' -d '{"block":["c"]}' "http://127.0.0.1:${HP[a]}/v1/admin/faults" >/dev/null
  python3 - "${HP[a]}" "$secs" <<'PY' &
import http.client, sys, threading, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + secs + 1
def writer(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.time() < end:
        c.request("PUT", f"/v1/sessions/hot/variables/w{i}?acks=3&timeout_ms=2000", body="1",
                  headers={"Content-Type": "application/json"})
        c.getresponse().read()
ts = [threading.Thread(target=writer, args=(i,)) for i in range(10)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
  hold=$!
  sleep 0.5
  wrk_line get_during_held_acks3 -c10 "http://127.0.0.1:${HP[a]}/v1/sessions/hot"
  wait $hold
  curl -sf -XPOST -H 'Content-Type: application/json' -d '{"block":[]}' "http://127.0.0.1:${HP[a]}/v1/admin/faults" >/dev/null
  sleep 3  # the cut peer is alive again before the next round
done

cat "$work/wal.txt"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, non2xx = line.split()
    ms = lambda v: float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-2]) if v.endswith("ms") else float(v[:-1]) * 1000
    rows.setdefault(name, []).append((float(rps), ms(p50), ms(p99), int(non2xx)))
print("| what | req/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|")
med = {}
for name, rs in rows.items():
    m = tuple(statistics.median(r[i] for r in rs) for i in range(4))
    med[name] = m
    print(f"| {name} | {m[0]:,.0f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.0f} |")
if "sm_put_fsync_always" in med and "redis_set_appendfsync_always" in med:
    print(f"\nPUT fsync=always / Redis SET appendfsync always: "
          f"{med['sm_put_fsync_always'][0] / med['redis_set_appendfsync_always'][0]:.2f}x (goal >= 1.0x)")
    # Each round runs the two back to back: the ratio within a round is the
    # one this noisy machine disturbs least.
    pairs = [a[0] / b[0] for a, b in zip(rows["sm_put_fsync_always"], rows["redis_set_appendfsync_always"])]
    print("  per round: " + " ".join(f"{x:.2f}x" for x in pairs) + f"; median {statistics.median(pairs):.2f}x")
if "get_alone" in med and "get_during_held_acks3" in med:
    print(f"GET p99 with 10 held acks=3 writes / alone: "
          f"{med['get_during_held_acks3'][2] / med['get_alone'][2]:.2f}x (goal <= 2x)")
PY
