#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run every test:
# the full suite (build/), the unit tests again under ASan+UBSan
# (build-asan/), the libFuzzer targets for a bounded time (build-fuzz/), and
# the concurrent tests (store, HTTP, embedded replicated, migration) under
# ThreadSanitizer (build-tsan/).
# The last line is "N passed, M failed" summed from meson's summaries.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --with-test-tools || { echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc)
passed=0
failed=0
log=$(mktemp)

run_suite() {  # run_suite DIR [meson test args...]
  local dir=$1; shift
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" "$@" 2>&1 | tee "$log"
  local ok fail to up
  ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
  fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -1)
  to=$(awk '/^Timeout:/ {print $2}' "$log" | tail -1)
  up=$(awk '/^Unexpected Pass:/ {print $3}' "$log" | tail -1)
  if [[ -z "$ok" ]]; then
    echo "test: no meson summary from $dir (build failed?)"
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + ok))
  failed=$((failed + ${fail:-0} + ${to:-0} + ${up:-0}))
}

build() {  # build DIR [meson setup args...] [-- ninja targets...]
  local dir=$1; shift
  local setup=() targets=()
  while (($#)); do
    if [[ $1 == -- ]]; then shift; targets=("$@"); break; fi
    setup+=("$1"); shift
  done
  if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "${setup[@]}" >/dev/null || return 1
  fi
  ninja -C "$dir" "${targets[@]}" >/dev/null || ninja -C "$dir" "${targets[@]}"
}
start=$(date +%s)
stamp() { echo "   ($(( $(date +%s) - start )) s so far)"; }

echo "== build/ (debugoptimized): every test"
if build build; then run_suite build; else echo "build/ failed"; failed=$((failed + 1)); fi
stamp

echo "== build-asan/: unit tests under ASan+UBSan"
# -O0 with line tables (-g1): the sanitizers check the same code, and the
# Beast-heavy units compile six times faster than at -O2 -g (320 s to 50 s
# for http/watch.cpp on 2 cores). The simulator runs 250 of its 1,000
# default seeds here (it runs all of them in build/ above).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
unit_targets=(tests/test_crdt tests/test_transport tests/test_conformance tests/test_migrating tests/test_store tests/test_crash tests/test_gossip tests/test_http tests/test_sim)
if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Doptimization=0 -Ddebug=false -Dcpp_args=-g1 \
    -- "${unit_targets[@]}"; then
  run_suite build-asan --suite unit --no-suite sim --no-rebuild
  SESSIONMESH_CASES=250 run_suite build-asan --suite sim --no-rebuild
else
  echo "build-asan/ failed"; failed=$((failed + 1))
fi

echo "== build-tsan/: the concurrent tests under ThreadSanitizer"
stamp
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
tsan_targets=(tests/test_store tests/test_conformance tests/test_migrating tests/test_http tests/test_embedded)
# -O1 with line tables: twice as fast to compile as -O2 -g, and TSan's reports keep their lines.
if build build-tsan -Db_sanitize=thread -Db_lundef=false -Doptimization=1 -Ddebug=false -Dcpp_args=-g1 \
    -- "${tsan_targets[@]}"; then
  run_suite build-tsan --no-rebuild store conformance migrating http embedded
else
  echo "build-tsan/ failed"; failed=$((failed + 1))
fi

echo "== build-fuzz/: libFuzzer targets (bounded time)"
stamp
if CC=clang CXX=clang++ build build-fuzz -Dfuzz=true -Db_lundef=false; then
  run_suite build-fuzz --suite fuzz
else
  echo "build-fuzz/ failed"; failed=$((failed + 1))
fi
stamp

rm -f "$log"
echo "${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
