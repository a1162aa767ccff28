#!/usr/bin/env bash
# bench/clients: client-side latency of the Elixir drop-in (get_session,
# update_session) and the Python client (get, update) against one node on
# loopback, paced at 1,000 ops/s, p50/p99, beside each client's transport
# floor (GET /healthz) and Snakepit's target (R3.3: < 1 ms).
#
#   bench/clients/run.sh [SECONDS_PER_OP] [ROUNDS]
#
# The node: the release build (build-release/, as scripts/run.sh builds it),
# local adapter, --fsync batch.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-5}
rounds=${2:-3}
./scripts/setup.sh --with-test-tools >/dev/null
[[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release -Db_ndebug=false >/dev/null
ninja -C build-release sessionmesh >/dev/null
work=$(mktemp -d)
port=17170
./build-release/sessionmesh serve --node-id bench-clients --data-dir "$work/data" --fsync batch \
  --http 127.0.0.1:$port --max-sessions 0 --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/readyz >/dev/null && break; sleep 0.1; done
export MIX_HOME="$work/mix" MIX_BUILD_PATH="$work/_build" MIX_ENV=prod
(cd clients/elixir && mix compile >/dev/null)
for r in $(seq "$rounds"); do
  echo "-- round $r"
  (cd clients/elixir && mix run --no-compile ../../bench/clients/elixir_bench.exs "http://127.0.0.1:$port" "$secs")
  /usr/bin/python3 bench/clients/python_bench.py "http://127.0.0.1:$port" "$secs"
done
