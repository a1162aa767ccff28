#!/usr/bin/env bash
# Real-process checks of the sessionmesh command line (API.md section 1).
set -u
bin=${1:?path to sessionmesh}
fail=0
check() {  # check NAME EXPECTED_RC CMD...
  local name=$1 want=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -ne $want ]]; then echo "FAIL $name: exit $rc, want $want: $out"; fail=1; else echo "ok   $name"; fi
  LAST_OUT=$out
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check "version" 0 "$bin" version
check "help lists serve flags" 0 "$bin" --help
for f in --config --node-id --data-dir --in-memory --http --gossip --advertise --seeds --adapter --fsync \
         --default-ttl --max-sessions --strict-quota --api-token-file --admin-token-file --cluster-key-file \
         --log-level --log-format --max-connections --max-connections-per-address --max-body-bytes --max-value-bytes --max-entries --max-programs --max-session-bytes --alert-p99-ms \
         --alert-quota-percent --alert-fsync-ms --alert-lag-writes --alert-suspect-peers --alert-disk-free-percent \
         --huge-pages; do
  grep -q -- "$f" <<<"$LAST_OUT" || { echo "FAIL help lacks $f"; fail=1; }
done
check "unknown flag exits 2" 2 "$bin" serve --bogus
[[ $(wc -l <<<"$LAST_OUT") -eq 1 ]] || { echo "FAIL reason is not one line: $LAST_OUT"; fail=1; }
check "bad fsync exits 2" 2 "$bin" serve --fsync sometimes
check "bad http exits 2" 2 "$bin" serve --http nope
check "bad ttl exits 2" 2 "$bin" serve --default-ttl -5
check "a connection cap of 0 exits 2" 2 "$bin" serve --max-connections 0
check "a value limit above the body limit exits 2" 2 "$bin" serve --max-body-bytes 2048 --max-value-bytes 4096
check "a programs limit of 0 exits 2" 2 "$bin" serve --max-programs 0
check "a per-address cap out of range exits 2" 2 "$bin" serve --max-connections-per-address 2000000
grep -q -- "--max-connections-per-address" <<<"$LAST_OUT" || { echo "FAIL reason does not name the flag: $LAST_OUT"; fail=1; }
check "huge pages neither on nor off exits 2" 2 "$bin" serve --huge-pages maybe
grep -q -- "--huge-pages" <<<"$LAST_OUT" || { echo "FAIL reason does not name the flag: $LAST_OUT"; fail=1; }
SESSIONMESH_LOG_LEVEL=loud check "bad env exits 2" 2 "$bin" serve
grep -q SESSIONMESH_LOG_LEVEL <<<"$LAST_OUT" || { echo "FAIL env reason does not name the variable"; fail=1; }
printf 'fsync = "never"\n' > "$tmp/bad.toml"
check "bad config value exits 2" 2 "$bin" serve --config "$tmp/bad.toml"
printf 'colour = "blue"\n' > "$tmp/unknown.toml"
check "unknown config key exits 2" 2 "$bin" serve --config "$tmp/unknown.toml"
printf 'not toml [[[\n' > "$tmp/garbage.toml"
check "unparsable config exits 2" 2 "$bin" serve --config "$tmp/garbage.toml"
check "missing token file exits 2" 2 "$bin" serve --in-memory --api-token-file "$tmp/none"
# flag beats env beats file: the file says fsync=off, the env a bad fsync value,
# the flag --fsync always: the node must start, since the flag wins.
printf 'log-level = "error"\nfsync = "off"\n' > "$tmp/ok.toml"
SESSIONMESH_FSYNC=bogus "$bin" serve --config "$tmp/ok.toml" --fsync always --data-dir "$tmp/d" &
pid=$!
for _ in $(seq 1 50); do [[ -d "$tmp/d" ]] && break; sleep 0.1; done
kill -TERM $pid; wait $pid; rc=$?
[[ $rc -eq 0 ]] && echo "ok   flag beats a bad env value; SIGTERM exits 0" || { echo "FAIL serve exit $rc"; fail=1; }
ls "$tmp/d"/wal-*.log >/dev/null 2>&1 && echo "ok   data dir has a WAL" || { echo "FAIL no WAL in data dir"; fail=1; }

# A real node: reload through SIGHUP and POST /v1/admin/reload, JSON logs, drain on SIGTERM.
port=$((20000 + RANDOM % 20000))
printf 'default-ttl = 100\nlog-format = "json"\nlog-level = "debug"\n' > "$tmp/node.toml"
"$bin" serve --config "$tmp/node.toml" --node-id cli-node --http 127.0.0.1:$port --data-dir "$tmp/nd" 2> "$tmp/node.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
ttl() { curl -s -X POST "http://127.0.0.1:$port/v1/sessions" -H 'Content-Type: application/json' -d "{\"id\":\"$1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ttl_s"])'; }
[[ $(ttl a1) == 100 ]] && echo "ok   default-ttl from the config file" || { echo "FAIL default-ttl from file"; fail=1; }
curl -s -H 'X-Request-Id: rq-77' "http://127.0.0.1:$port/v1/sessions/a1/variables/none" >/dev/null
for _ in $(seq 1 20); do grep -q rq-77 "$tmp/node.log" && break; sleep 0.05; done
python3 - "$tmp/node.log" <<'PY' && echo "ok   JSON request lines carry request_id, node_id, session_id, op, status, duration_ms" || { echo "FAIL request log line"; grep rq-77 "$tmp/node.log"; fail=1; }
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if "rq-77" in l]
assert len(lines) == 1, lines
l = lines[0]
assert l["request_id"] == "rq-77" and l["node_id"] == "cli-node" and l["session_id"] == "a1", l
assert l["op"] == "GET /v1/sessions/{id}/variables/{name}" and l["status"] == 404 and l["error"] == "not_found", l
assert isinstance(l["duration_ms"], float) and l["level"] == "debug", l
PY
printf 'default-ttl = 200\nlog-format = "json"\n' > "$tmp/node.toml"
kill -HUP $pid
for _ in $(seq 1 50); do grep -q 'configuration reloaded' "$tmp/node.log" && break; sleep 0.05; done
[[ $(ttl a2) == 200 ]] && echo "ok   SIGHUP applies default-ttl" || { echo "FAIL SIGHUP reload"; fail=1; }
printf 'default-ttl = 300\nlog-format = "json"\nfsync = "off"\nmax-clock-offset-ms = 600\n' > "$tmp/node.toml"
out=$(curl -s -X POST "http://127.0.0.1:$port/v1/admin/reload")
grep -q '"restart_required":\["max-clock-offset-ms"\]' <<<"$out" && echo "ok   reload names settings that need a restart" || { echo "FAIL reload answer: $out"; fail=1; }
grep -q '"fsync"' <<<"$out" && grep -q '"reaper-interval"' <<<"$out" && grep -q '"seeds"' <<<"$out" \
  && echo "ok   fsync, reaper-interval and seeds are listed as applied" || { echo "FAIL reload applied: $out"; fail=1; }
[[ $(ttl a3) == 300 ]] && echo "ok   POST /v1/admin/reload applies default-ttl" || { echo "FAIL admin reload"; fail=1; }
# fsync reloads: under "off" writes cause no fsync; back to "always", a write
# is answered only after one.
fsyncs() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^sessionmesh_wal_fsync_seconds_count/ {print $2}'; }
f0=$(fsyncs); for i in 1 2 3 4 5; do ttl off$i >/dev/null; done; sleep 0.3; f1=$(fsyncs)
printf 'default-ttl = 300\nlog-format = "json"\nfsync = "always"\n' > "$tmp/node.toml"
curl -s -X POST "http://127.0.0.1:$port/v1/admin/reload" >/dev/null
ttl always1 >/dev/null; f2=$(fsyncs)
[[ -n $f0 && $f0 == "$f1" && $f2 -gt $f1 ]] && echo "ok   fsync reloads: off wrote $((f1 - f0)) fsyncs for 5 writes, always fsynced before answering" \
  || { echo "FAIL fsync reload: fsyncs $f0 -> $f1 (off) -> $f2 (always)"; fail=1; }
# Operator limits reload: a 2 MiB value is 413 under the default 1 MiB value
# limit, 200 once the config raises it; a bad limit is refused and changes nothing.
python3 -c 'print("\"" + "e" * (2 << 20) + "\"")' > "$tmp/big.json"
put_big() { curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port/v1/sessions/a3/variables/emb" \
  -H 'Content-Type: application/json' --data-binary @"$tmp/big.json"; }
code=$(put_big)
[[ $code == 413 ]] && echo "ok   a 2 MiB value is 413 under the default limit" || { echo "FAIL big value gave $code"; fail=1; }
printf 'default-ttl = 300\nlog-format = "json"\nmax-value-bytes = 3145728\n' > "$tmp/node.toml"
out=$(curl -s -X POST "http://127.0.0.1:$port/v1/admin/reload")
grep -q '"max-value-bytes"' <<<"$out" || { echo "FAIL reload does not list max-value-bytes: $out"; fail=1; }
code=$(put_big)
[[ $code == 200 ]] && echo "ok   reload raises max-value-bytes: the 2 MiB value is stored" || { echo "FAIL after raising the limit: $code"; fail=1; }
printf 'max-value-bytes = 0\n' > "$tmp/node.toml"
out=$(curl -s -w ' %{http_code}' -X POST "http://127.0.0.1:$port/v1/admin/reload")
[[ $out == *max-value-bytes*400 ]] && echo "ok   a limit of 0 is refused by reload (400, named)" || { echo "FAIL zero limit reload: $out"; fail=1; }
code=$(put_big)
[[ $code == 200 ]] && echo "ok   a refused reload leaves the running limits" || { echo "FAIL after refused reload: $code"; fail=1; }
printf 'fsync = "never"\n' > "$tmp/node.toml"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1/admin/reload")
[[ $code == 400 ]] && echo "ok   a bad config is refused by reload (400)" || { echo "FAIL bad reload gave $code"; fail=1; }
# /metrics passes Prometheus' own linter (promtool, from Debian's prometheus).
if command -v promtool >/dev/null; then
  curl -s "http://127.0.0.1:$port/v1/sessions/a1" >/dev/null
  if lint=$(curl -s "http://127.0.0.1:$port/metrics" | promtool check metrics 2>&1); then
    echo "ok   promtool check metrics passes"
  else
    echo "FAIL promtool check metrics: $lint"; fail=1
  fi
else
  echo "FAIL promtool missing (scripts/setup.sh --with-test-tools installs prometheus)"; fail=1
fi
head -1 "$tmp/node.log" | python3 -c 'import json,sys; json.loads(sys.stdin.readline())' \
  && echo "ok   --log-format json writes JSON lines" || { echo "FAIL log line is not JSON"; fail=1; }
kill -TERM $pid; wait $pid; rc=$?
[[ $rc -eq 0 ]] && echo "ok   SIGTERM drains and exits 0" || { echo "FAIL serve exit $rc"; fail=1; }
"$bin" serve --node-id cli-node --http 127.0.0.1:$port --data-dir "$tmp/nd" 2>/dev/null &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/sessions/a3")
[[ $code == 200 ]] && echo "ok   sessions survive a restart on the data dir" || { echo "FAIL after restart: $code"; fail=1; }
kill -TERM $pid; wait $pid
# Alert thresholds are settings: quota at 50% of 4 raises session_quota_high
# (health degraded, a metric, a log line); a reload to 90% clears it.
printf 'alert-quota-percent = 50\nmax-sessions = 4\n' > "$tmp/alert.toml"
"$bin" serve --config "$tmp/alert.toml" --node-id alerting --http 127.0.0.1:$port --in-memory 2> "$tmp/alert.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
for i in 1 2; do curl -s -o /dev/null -X POST "http://127.0.0.1:$port/v1/sessions" -H 'Content-Type: application/json' -d "{\"id\":\"q$i\"}"; done
for _ in $(seq 1 40); do curl -s "http://127.0.0.1:$port/metrics" | grep -q 'sessionmesh_alert{alert="session_quota_high"} 1' && break; sleep 0.1; done
h=$(curl -s "http://127.0.0.1:$port/health/sessions")
if [[ $h == *'"degraded"'* && $h == *session_quota_high* ]] && grep -q "alert raised: session_quota_high" "$tmp/alert.log"; then
  echo "ok   --alert-quota-percent raises session_quota_high: health, metric, log line"
else
  echo "FAIL quota alert: $h"; fail=1
fi
printf 'alert-quota-percent = 90\nmax-sessions = 4\n' > "$tmp/alert.toml"
kill -HUP $pid
for _ in $(seq 1 40); do grep -q "alert cleared: session_quota_high" "$tmp/alert.log" && break; sleep 0.1; done
h=$(curl -s "http://127.0.0.1:$port/health/sessions")
[[ $h == *'"ok"'* ]] && ! curl -s "http://127.0.0.1:$port/metrics" | grep -q 'sessionmesh_alert{' \
  && echo "ok   a reload that raises the threshold clears the alert" || { echo "FAIL alert after reload: $h"; fail=1; }
kill -TERM $pid; wait $pid

# A replicated node with no peer to hand its changes to: the drain says how
# many changes exist only on its disk, and the exit code is 3.
gport=$((20000 + RANDOM % 20000))
"$bin" serve --node-id lone --adapter replicated --gossip 127.0.0.1:$gport --http 127.0.0.1:$port \
  --data-dir "$tmp/lone" 2> "$tmp/lone.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
for i in 1 2 3 4 5; do curl -s -o /dev/null -X POST "http://127.0.0.1:$port/v1/sessions" -H 'Content-Type: application/json' -d "{\"id\":\"lone$i\"}"; done
if lint=$(curl -s "http://127.0.0.1:$port/metrics" | promtool check metrics 2>&1); then
  echo "ok   promtool check metrics passes on a replicated node"
else
  echo "FAIL promtool check metrics (replicated): $lint"; fail=1
fi
out=$(curl -s -X POST "http://127.0.0.1:$port/v1/admin/drain")
n=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["unconfirmed_changes"] if d["confirmed"] is False else -1)' "$out" 2>/dev/null || echo -1)
[[ $n -ge 5 ]] && echo "ok   a drain with no peer reports its unconfirmed changes ($n)" || { echo "FAIL drain answer: $out"; fail=1; }
kill -TERM $pid; wait $pid; rc=$?
[[ $rc -eq 3 ]] && echo "ok   a node whose changes no peer confirmed exits 3" || { echo "FAIL lone node exit $rc"; fail=1; }
grep -q "exist only on its disk" "$tmp/lone.log" && echo "ok   the log says the changes are on this disk only" || { echo "FAIL lone log: $(tail -3 "$tmp/lone.log")"; fail=1; }

# migrate (offline): bad usage exits 2 with one line
check "migrate without --from exits 2" 2 "$bin" migrate --to http://127.0.0.1:1
[[ $(wc -l <<<"$LAST_OUT") -eq 1 ]] || { echo "FAIL migrate reason is not one line: $LAST_OUT"; fail=1; }
check "migrate from a missing dir exits 2" 2 "$bin" migrate --from "$tmp/none" --to http://127.0.0.1:1
mkdir -p "$tmp/empty"
check "migrate from a dir without data exits 2" 2 "$bin" migrate --from "$tmp/empty" --to http://127.0.0.1:1
check "migrate to a non-http URL exits 2" 2 "$bin" migrate --from "$tmp/empty" --to ftp://x
exit $fail
