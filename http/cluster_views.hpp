// cluster_views: the JSON of GET /v1/cluster and of the replication part
// of /health/sessions, rendered from a copy of the replication driver's view.
// Pure functions. Thread: any.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "gossip/replication_driver.hpp"

namespace sessionmesh::http {

// {"node_id", "adapter":"replicated", "members":[...], "owned_sessions":{...}, "digest"}
std::string cluster_json(const gossip::cluster_view& v, const std::map<std::string, uint64_t>& owned,
                         uint64_t merkle_root);
// "cluster":{...},"replication":{...} (members of the health object; now_ms:
// the store's physical clock, for last_sync_ms_ago; last_seq: this node's
// last write sequence, for each peer's lag_writes)
std::string cluster_health_json(const gossip::cluster_view& v, uint64_t now_ms, uint64_t last_seq);

}  // namespace sessionmesh::http
