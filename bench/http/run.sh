#!/usr/bin/env bash
# bench/http: sessionmesh's REST layer beside nginx and Redis on this machine,
# in one run, alternating. Prints req/s, p50, p99 and ratios.
#
#   bench/http/run.sh [SECONDS_PER_RUN] [ROUNDS]
#
# sessionmesh: local adapter, --fsync batch, 100,000 sessions with one
# 256-byte variable; wrk -t1 -c50 --latency GET of random sessions and PUT of
# that variable on random sessions. nginx (1 worker, keep-alive, access log
# off, open_file_cache): a 256-byte static file and `return 200` with a
# 300-byte body from memory, each also driven through the same pooled Lua
# requests as sessionmesh's rows (the client's work per request equal). Redis: redis-benchmark -t get,set -c 50 -d 256
# -r 100000 -n 200000, and SET again on a second Redis with appendonly yes,
# appendfsync everysec (the anchor for a PUT on a data dir). TLS rows: a second node (the same 100,000 sessions,
# --tls-cert) beside nginx's `return 200` over TLS, both with one self-signed
# P-256 certificate; wrk keeps its connections, so this is TLS record cost,
# not handshakes. Everything listens on loopback and is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
rounds=${2:-3}
./scripts/setup.sh
pkgs=()
command -v nginx >/dev/null || pkgs+=(nginx-light)
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v redis-benchmark >/dev/null || pkgs+=(redis-tools)
command -v wrk >/dev/null || pkgs+=(wrk)
if ((${#pkgs[@]})); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null; fi
# SM_BUILD: the build directory to measure (default build/, set up as
# scripts/run.sh does: release with assertions).
build=${SM_BUILD:-build}
[[ -f $build/build.ninja ]] || meson setup "$build" --buildtype=release -Db_ndebug=false >/dev/null
ninja -C "$build" sessionmesh >/dev/null

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# --- sessionmesh
SM_PORT=17070
./$build/sessionmesh serve --node-id bench --data-dir "$work/data" --fsync batch --http 127.0.0.1:$SM_PORT \
  --max-sessions 1000000 --log-level warn &
pids+=($!)
# --- sessionmesh over TLS: loaded in plain HTTP, then restarted with TLS
TLS_PORT=17443
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" \
  -out "$work/tls.pem" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
tls_args=(serve --node-id bench-tls --data-dir "$work/tlsdata" --fsync batch --http 127.0.0.1:$TLS_PORT
          --max-sessions 1000000 --log-level warn)
./$build/sessionmesh "${tls_args[@]}" &
tls_loader=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$TLS_PORT/readyz" >/dev/null && break; sleep 0.1; done
python3 bench/http/load.py 127.0.0.1 $TLS_PORT 100000
kill -TERM $tls_loader; wait $tls_loader || true
./$build/sessionmesh "${tls_args[@]}" --tls-cert "$work/tls.pem" --tls-key "$work/tls.key" &
pids+=($!)
# --- nginx
NG_PORT=17080
NGT_PORT=17444
mkdir -p "$work/www" "$work/nginx"
head -c 256 /dev/zero | tr '\0' 'x' > "$work/www/static.txt"
chmod 755 "$work" "$work/www"; chmod 644 "$work/www/static.txt"
body300=$(head -c 300 /dev/zero | tr '\0' 'y')
cat > "$work/nginx/nginx.conf" <<NG
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$NG_PORT;
    root $work/www;
    location = /mem { default_type text/plain; return 200 '$body300'; }
  }
  server {
    listen 127.0.0.1:$NGT_PORT ssl;
    ssl_certificate $work/tls.pem;
    ssl_certificate_key $work/tls.key;
    location = /mem { default_type text/plain; return 200 '$body300'; }
  }
}
NG
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
# --- redis
RD_PORT=17379
redis-server --port $RD_PORT --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!)
# Issue 12's anchor for a PUT on a data dir (--fsync batch): Redis SET with
# its append-only file, appendfsync everysec, on the same disk.
RDA_PORT=17380
mkdir -p "$work/redis-aof"
redis-server --port $RDA_PORT --bind 127.0.0.1 --dir "$work/redis-aof" --save '' --appendonly yes \
  --appendfsync everysec --daemonize no >/dev/null &
pids+=($!)

for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$SM_PORT/readyz" >/dev/null && curl -sf "http://127.0.0.1:$NG_PORT/mem" >/dev/null &&
    curl -sfk "https://127.0.0.1:$TLS_PORT/readyz" >/dev/null && break
  sleep 0.1
done

python3 bench/http/load.py 127.0.0.1 $SM_PORT 100000

# Every scripted row takes its requests from a pool built once in init()
# (100,000 requests, ids in a fixed scrambled order that visits each once
# per round): per request the client only indexes a table, so it spends
# little and the same on every row. nginx ignores the query string.
pool_script() {  # pool_script FILE METHOD PATH_FORMAT [BODY]
  cat > "$1" <<LUA
local reqs, n, i = {}, 100000, 0
init = function(args)
  local body = ${4:-nil}
  local headers = body and { ["Content-Type"] = "application/json" } or nil
  for k = 0, n - 1 do
    reqs[k + 1] = wrk.format("$2", string.format("$3", (k * 7919) % n), headers, body)
  end
end
request = function() i = i % n + 1; return reqs[i] end
LUA
}
pool_script "$work/get.lua" GET "/v1/sessions/sess-%06d"
pool_script "$work/put.lua" PUT "/v1/sessions/sess-%06d/variables/v" "'\"' .. string.rep('z', 254) .. '\"'"
pool_script "$work/ng_mem.lua" GET "/mem?s=sess-%06d"
pool_script "$work/ng_static.lua" GET "/static.txt?s=sess-%06d"

results="$work/results.txt"
: > "$results"
run_wrk() {  # run_wrk NAME URL [SCRIPT]
  local name=$1 url=$2 script=${3:-}
  local out
  if [[ -n "$script" ]]; then out=$(wrk -t1 -c50 -d"${secs}s" --latency -s "$script" "$url"); else out=$(wrk -t1 -c50 -d"${secs}s" --latency "$url"); fi
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$name $rps $p50 $p99 ${non2xx:-0}" >> "$results"
}
for r in $(seq 1 "$rounds"); do
  run_wrk sm_get "http://127.0.0.1:$SM_PORT/" "$work/get.lua"
  run_wrk nginx_mem "http://127.0.0.1:$NG_PORT/mem"
  run_wrk sm_put "http://127.0.0.1:$SM_PORT/" "$work/put.lua"
  run_wrk nginx_static "http://127.0.0.1:$NG_PORT/static.txt"
  run_wrk nginx_mem_lua "http://127.0.0.1:$NG_PORT/" "$work/ng_mem.lua"
  run_wrk nginx_static_lua "http://127.0.0.1:$NG_PORT/" "$work/ng_static.lua"
  run_wrk sm_get_tls "https://127.0.0.1:$TLS_PORT/" "$work/get.lua"
  run_wrk nginx_mem_tls "https://127.0.0.1:$NGT_PORT/mem"
  run_wrk nginx_mem_tls_lua "https://127.0.0.1:$NGT_PORT/" "$work/ng_mem.lua"
  rb=$(redis-benchmark -p $RD_PORT -t get,set -c 50 -d 256 -r 100000 -n 200000 --csv 2>/dev/null)
  ra=$(redis-benchmark -p $RDA_PORT -t set -c 50 -d 256 -r 100000 -n 200000 --csv 2>/dev/null)
  python3 - "$rb" "" "$ra" "_aof" >> "$results" <<'PY'
import csv, io, sys
for text, suffix in zip(sys.argv[1::2], sys.argv[2::2]):
    rows = list(csv.reader(io.StringIO(text)))
    hdr = rows[0]
    for row in rows[1:]:
        d = dict(zip(hdr, row))
        print(f"redis_{d['test'].lower()}{suffix} {d['rps']} {d['p50_latency_ms']}ms {d['p99_latency_ms']}ms 0")
PY
done
python3 bench/http/report.py "$results" "$secs" "$rounds"
