#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, run a node on the
# embedded durable store in ./data (extra arguments go to `serve`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
[[ -f build/build.ninja ]] || meson setup build --buildtype=release -Db_ndebug=false
ninja -C build sessionmesh
exec ./build/sessionmesh serve --data-dir ./data "$@"
