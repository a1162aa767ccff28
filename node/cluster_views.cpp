// cluster: the views HTTP serves (GET /v1/cluster, the replication part
// of /health/sessions, alerts), rendered from the snapshot of the member
// table the gossip thread keeps (see cluster.hpp).
#include <cstdio>

#include "http/json_render.hpp"
#include "node/cluster.hpp"

namespace sessionmesh::node {

std::string cluster::cluster_json() {
  view v;
  {
    std::lock_guard lk(view_mu_);  // copy: never hold the view while walking the store
    v = view_;
  }
  std::map<std::string, uint64_t> owned;
  for (const auto& n : v.owners) owned[n] = 0;
  if (!v.owners.empty())
    local_.for_each_live([&](std::string_view id) { ++owned[gossip::rendezvous_owner(id, v.owners)]; });
  std::string o = "{\"node_id\":";
  http::append_json_string(o, opts_.node_id);
  o += ",\"adapter\":\"replicated\",\"members\":[";
  auto member_json = [&](const gossip::member& m) {
    o += "{\"node_id\":";
    http::append_json_string(o, m.node_id);
    o += ",\"gossip_addr\":";
    http::append_json_string(o, m.gossip_addr);
    o += ",\"http_addr\":";
    http::append_json_string(o, m.http_addr);
    o += ",\"status\":";
    http::append_json_string(o, gossip::status_name(m.status));
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
    http::append_json_string(o, n);
    o += ":" + std::to_string(c);
  }
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(local_.merkle().root()));
  o += "},\"digest\":\"";
  o += hex;
  o += "\"}";
  return o;
}

cluster::member_counts cluster::count_members() const {
  member_counts n;
  for (const auto& m : view_.members) {
    if (m.status == gossip::member_status::alive)
      ++n.alive;
    else if (m.status == gossip::member_status::suspect)
      ++n.suspect;
    else if (m.status == gossip::member_status::dead)
      ++n.dead;
    else
      ++n.left;
  }
  return n;
}

size_t cluster::alive_peers() {
  std::lock_guard lk(view_mu_);
  return count_members().alive - 1;
}

std::vector<std::string> cluster::alerts() {
  std::lock_guard lk(view_mu_);
  std::vector<std::string> out;
  if (view_.clock_ahead) out.emplace_back("clock_skew");
  if (view_.clock_behind) out.emplace_back("clock_behind");
  return out;
}

std::string cluster::health_json() {
  std::lock_guard lk(view_mu_);
  const auto [alive, suspect, dead, left] = count_members();
  (void)left;
  const uint64_t now = local_.now_physical_ms();
  std::string o = "\"cluster\":{\"alive\":" + std::to_string(alive) +
                  ",\"suspect\":" + std::to_string(suspect) + ",\"dead\":" + std::to_string(dead) +
                  "},\"replication\":{\"pending\":" + std::to_string(view_.pending) + ",\"peers\":[";
  bool first = true;
  for (const auto& m : view_.members) {
    if (m.status == gossip::member_status::left) continue;
    if (!first) o += ",";
    first = false;
    o += "{\"node_id\":";
    http::append_json_string(o, m.node_id);
    o += ",\"status\":";
    http::append_json_string(o, gossip::status_name(m.status));
    o += ",\"in_sync\":";
    o += m.in_sync && now - m.last_sync_ms < 10000 ? "true" : "false";
    o += ",\"last_sync_ms_ago\":";
    o += m.last_sync_ms ? std::to_string(now - m.last_sync_ms) : "null";
    o += "}";
  }
  o += "]}";
  return o;
}

}  // namespace sessionmesh::node
