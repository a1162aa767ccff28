// cluster: where a request goes (owner_http, replica_http, sources): reads
// of the view the gossip thread refreshes, under its lock.
#include <algorithm>

#include "node/cluster.hpp"

namespace sessionmesh::node {

std::optional<std::string> cluster::owner_http(std::string_view id) {
  std::lock_guard lk(view_mu_);
  if (!view_.layout || view_.layout->nodes().empty()) return std::nullopt;
  const std::string owner = view_.layout->owner_of(id);
  if (owner == opts_.node_id) return std::nullopt;
  for (const auto& m : view_.members)
    if (m.node_id == owner) return m.http_addr;
  return std::string();
}

std::string cluster::serving_replica(uint32_t p) const {
  std::string first;
  for (const auto& r : view_.layout->replicas(p)) {
    bool alive = r == opts_.node_id;
    for (const auto& m : view_.members)
      alive = alive || (m.node_id == r && m.status == gossip::member_status::alive);
    if (!alive) continue;
    const bool complete = r == opts_.node_id ? !(applied_ && applied_->incomplete.test(p))
                                             : !prev_layout_ || prev_layout_->holds(p, r);
    if (complete) return r;
    if (first.empty()) first = r;
  }
  return first;
}

std::string cluster::http_of(const std::string& node) const {
  if (node == opts_.node_id) return opts_.http_addr;
  for (const auto& m : view_.members)
    if (m.node_id == node) return m.http_addr;
  return {};
}

std::optional<std::string> cluster::replica_http(std::string_view record_id) {
  if (!opts_.replicas) return std::nullopt;
  std::lock_guard lk(view_mu_);
  if (!view_.layout || view_.layout->nodes().empty()) return std::nullopt;
  const uint32_t p = gossip::partition_of(record_id);
  const bool here = view_.layout->holds(p, opts_.node_id);
  if (here && !(applied_ && applied_->incomplete.test(p))) return std::nullopt;
  const std::string to = serving_replica(p);
  if (to == opts_.node_id || (here && to.empty())) return std::nullopt;
  return http_of(to);  // "" when no replica is alive: 503
}

std::vector<cluster::source> cluster::sources(unsigned* uncovered) const {
  *uncovered = 0;
  std::vector<source> out;
  if (!opts_.replicas) return out;
  std::lock_guard lk(view_mu_);
  if (!view_.layout || view_.layout->nodes().empty()) return out;
  for (uint32_t p = 0; p < gossip::partition_count; ++p) {
    const std::string node = serving_replica(p);
    if (node.empty()) {
      ++*uncovered;
      continue;
    }
    auto it = std::find_if(out.begin(), out.end(), [&](const source& s) { return s.node_id == node; });
    if (it == out.end()) it = out.insert(out.end(), {node, http_of(node), node == opts_.node_id, {}});
    it->parts.set(p);
  }
  return out;
}

}  // namespace sessionmesh::node
