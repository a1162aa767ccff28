#!/usr/bin/env bash
# Installs the Debian 12 packages sessionmesh needs (only those missing) and
# configures a meson build directory. Idempotent. Usage: setup.sh [--with-test-tools]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(g++ libboost-dev libmsgpack-cxx-dev libxxhash-dev libspdlog-dev doctest-dev libsimdjson-dev
      libabsl-dev libtomlplusplus-dev libcli11-dev libssl-dev meson ninja-build pkg-config cmake)
if [[ "${1:-}" == "--with-test-tools" ]]; then
  pkgs+=(clang libclang-rt-14-dev curl python3 elixir erlang-jiffy erlang-inets python3-pytest python3-websockets prometheus
         chromium fonts-dejavu-core openssl)
  # The browser test (tests/ui) runs playwright-core from npm on Node.js:
  # Debian's nodejs and npm unless a Node.js is already installed.
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# playwright-core for the browser test, at the version package-lock.json pins.
if [[ "${1:-}" == "--with-test-tools" && ! -d tests/ui/node_modules/playwright-core ]]; then
  echo "setup: npm ci in tests/ui (playwright-core)"
  npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error
fi
