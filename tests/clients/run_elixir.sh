#!/usr/bin/env bash
# The Elixir client's ExUnit suite (clients/elixir) against real nodes it
# starts from the binary given (SESSIONMESH_BIN). Nothing is fetched: no Hex.
# Usage: run_elixir.sh SOURCE_ROOT SESSIONMESH_BIN
set -uo pipefail
root=$1
export SESSIONMESH_BIN=$2
export SESSIONMESH_TEST_TAG="ci$$"
work=$(mktemp -d)
export MIX_HOME="$work/mix" HEX_OFFLINE=1 MIX_ENV=test
export MIX_BUILD_PATH="$work/_build"
cleanup() {
  pkill -9 -f -- "--node-id ex-${SESSIONMESH_TEST_TAG}-" 2>/dev/null
  rm -rf "$work" /tmp/ex-"${SESSIONMESH_TEST_TAG}"-*
}
trap cleanup EXIT
cd "$root/clients/elixir" || exit 1
mix test --color=false 2>&1
