// The embedded replicated adapter: the same node as `sessionmesh serve
// --adapter replicated`, in-process — a local store (WAL and snapshots in
// store_options::data_dir) plus the cluster driver (its own thread, the TCP
// gossip transport) that joins through the seeds, pushes every write to
// the peers and repairs by Merkle anti-entropy.
//
//   sessionmesh::store_options o;  o.node_id = "a";  o.data_dir = "./data-a";
//   sessionmesh::replication_options r;  r.gossip_port = 7946;  r.seeds = {"10.0.0.5:7946"};
//   auto st = sessionmesh::open_replicated_store(o, r, &why);
//
// close() (or destruction) stops the cluster driver, then the store. The
// driver logs through spdlog's default logger.
// Thread: the returned store is thread-safe like any session_store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sessionmesh/options.hpp"
#include "sessionmesh/result.hpp"
#include "sessionmesh/session_store.hpp"

namespace sessionmesh {

struct replication_options {
  std::string gossip_host = "127.0.0.1";
  uint16_t gossip_port = 7946;
  std::string advertise;           // host:port peers dial; empty: gossip_host:gossip_port
  std::string http_addr;           // shown to peers in /v1/cluster (optional)
  std::vector<std::string> seeds;  // host:port; a DNS name expands to all its addresses
  std::string cluster_key;         // shared secret; empty: frames are not authenticated
  std::string cluster_name = "sessionmesh";
};

// Opens the replicated adapter. On failure, the result's detail() says why
// (a store that cannot recover, a gossip port in use); `why`, if given, gets
// the same text (kept for callers written before results carried a detail).
result<std::unique_ptr<session_store>> open_replicated_store(const store_options& opts,
                                                             const replication_options& repl,
                                                             std::string* why = nullptr);

}  // namespace sessionmesh
