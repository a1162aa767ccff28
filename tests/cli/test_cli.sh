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
         --log-level --log-format; do
  grep -q -- "$f" <<<"$LAST_OUT" || { echo "FAIL help lacks $f"; fail=1; }
done
check "unknown flag exits 2" 2 "$bin" serve --bogus
[[ $(wc -l <<<"$LAST_OUT") -eq 1 ]] || { echo "FAIL reason is not one line: $LAST_OUT"; fail=1; }
check "bad fsync exits 2" 2 "$bin" serve --fsync sometimes
check "bad http exits 2" 2 "$bin" serve --http nope
check "bad ttl exits 2" 2 "$bin" serve --default-ttl -5
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
exit $fail
