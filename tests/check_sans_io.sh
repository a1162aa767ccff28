#!/usr/bin/env bash
# crdt/ and gossip/ stay sans-I/O: no Asio, Beast or spdlog, no clock reads,
# no sleeping, no random_device. Fails listing the offending lines.
set -u
root=${1:?source root}
bad=$(grep -rEn '#include *[<"](boost/asio|boost/beast|spdlog)' "$root/crdt" "$root/gossip" 2>/dev/null)
clk=$(grep -rEn 'steady_clock::now|system_clock::now|random_device|this_thread::sleep|[^a-z_]time\(' \
      "$root/crdt" "$root/gossip" 2>/dev/null)
if [[ -n "$bad$clk" ]]; then
  echo "sans-I/O violations:"
  echo "$bad"
  echo "$clk"
  exit 1
fi
echo "crdt/ and gossip/ are sans-I/O"
