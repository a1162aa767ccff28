#!/usr/bin/env bash
# The Python client's pytest suite (clients/python) against real nodes it
# starts from SESSIONMESH_BIN, with Debian's python3 (python3-pytest and
# python3-websockets). Usage: run_python.sh SOURCE_ROOT SESSIONMESH_BIN
set -uo pipefail
root=$1
export SESSIONMESH_BIN=$2
py=/usr/bin/python3
[[ -x $py ]] || py=python3
cd "$root/clients/python" || exit 1
exec "$py" -m pytest -q -p no:cacheprovider tests
