#include "http/cluster_views.hpp"

#include <algorithm>
#include <cstdio>

#include "http/json_render.hpp"

namespace sessionmesh::http {

std::string cluster_json(const gossip::cluster_view& v, const std::map<std::string, uint64_t>& owned,
                         uint64_t merkle_root) {
  std::string o = "{\"node_id\":";
  append_json_string(o, v.self.node_id);
  o += ",\"adapter\":\"replicated\",\"members\":[";
  auto member_json = [&](const gossip::member& m) {
    o += "{\"node_id\":";
    append_json_string(o, m.node_id);
    o += ",\"gossip_addr\":";
    append_json_string(o, m.gossip_addr);
    o += ",\"http_addr\":";
    append_json_string(o, m.http_addr);
    o += ",\"status\":";
    append_json_string(o, gossip::status_name(m.status));
    o += ",\"incarnation\":" + std::to_string(m.incarnation) + "}";
  };
  member_json(v.self);
  for (const auto& m : v.members) {
    o += ",";
    member_json(m);
  }
  o += "],\"owned_sessions\":{";
  bool first = true;
  for (const auto& [n, c] : owned) {
    if (!first) o += ",";
    first = false;
    append_json_string(o, n);
    o += ":" + std::to_string(c);
  }
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(merkle_root));
  o += "},\"digest\":\"";
  o += hex;
  o += "\"";
  // Placement: R, partitions per node, and those with fewer than R owners.
  if (v.layout && !v.layout->full()) {
    o += ",\"replicas\":" + std::to_string(v.layout->r()) + ",\"partitions\":{";
    size_t under = 0;
    for (uint32_t p = 0; p < gossip::partition_count; ++p) under += v.layout->replica_count(p) < v.layout->r();
    bool comma = false;
    for (const auto& n : v.layout->nodes()) {
      if (comma) o += ",";
      comma = true;
      append_json_string(o, n);
      o += ":" + std::to_string(v.layout->held_by(n).count());
    }
    o += "},\"under_replicated_partitions\":" + std::to_string(under);
  }
  o += "}";
  return o;
}

std::string cluster_health_json(const gossip::cluster_view& v, uint64_t now, uint64_t last_seq) {
  size_t alive = 1, suspect = 0, dead = 0;  // this node counted alive
  for (const auto& m : v.members) {
    alive += m.status == gossip::member_status::alive;
    suspect += m.status == gossip::member_status::suspect;
    dead += m.status == gossip::member_status::dead;
  }
  std::string o = "\"cluster\":{\"alive\":" + std::to_string(alive) +
                  ",\"suspect\":" + std::to_string(suspect) + ",\"dead\":" + std::to_string(dead) +
                  "},\"replication\":{\"pending\":" + std::to_string(v.pending) + ",\"peers\":[";
  bool first = true;
  for (const auto& m : v.members) {
    if (m.status == gossip::member_status::left) continue;
    if (!first) o += ",";
    first = false;
    o += "{\"node_id\":";
    append_json_string(o, m.node_id);
    o += ",\"status\":";
    append_json_string(o, gossip::status_name(m.status));
    o += ",\"in_sync\":";
    o += m.in_sync && now - m.last_sync_ms < 10000 ? "true" : "false";
    o += ",\"last_sync_ms_ago\":";
    o += m.last_sync_ms ? std::to_string(now - m.last_sync_ms) : "null";
    o += ",\"lag_writes\":" + std::to_string(last_seq - std::min(last_seq, m.acked_through));
    o += ",\"digest\":";
    if (!m.merkle_root) {
      o += "null";
    } else {
      char hex[24];
      std::snprintf(hex, sizeof hex, "\"%016llx\"", static_cast<unsigned long long>(*m.merkle_root));
      o += hex;
    }
    o += "}";
  }
  o += "]}";
  return o;
}

}  // namespace sessionmesh::http
