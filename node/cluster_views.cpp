// cluster: what the node reads from the driver's view (copied on the
// gossip thread after every step): metrics, alerts, counts. The JSON views
// (GET /v1/cluster, health) are rendered in http/cluster_views.cpp.
#include <spdlog/spdlog.h>

#include "node/cluster.hpp"
#include "transport/tcp_transport.hpp"

namespace sessionmesh::node {

namespace {

struct member_counts {
  size_t alive = 1, suspect = 0, dead = 0, left = 0;  // this node counted alive
};

member_counts count_members(const gossip::cluster_view& v) {
  member_counts n;
  for (const auto& m : v.members) {
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

}  // namespace

gossip::cluster_view cluster::snapshot() const {
  std::lock_guard lk(view_mu_);
  return view_;
}

std::map<std::string, uint64_t> cluster::owned_counts() {
  const auto owners = snapshot().owners;  // never hold the view while walking the store
  std::map<std::string, uint64_t> owned;
  for (const auto& n : owners) owned[n] = 0;
  if (!owners.empty())
    local_.for_each_live([&](std::string_view id) { ++owned[gossip::rendezvous_owner(id, owners)]; });
  return owned;
}

uint64_t cluster::merkle_root() const { return local_.merkle().root(); }

uint64_t cluster::now_ms() const { return local_.now_physical_ms(); }

size_t cluster::alive_peers() {
  std::lock_guard lk(view_mu_);
  return count_members(view_).alive - 1;
}

bool cluster::wait_for_peer(std::chrono::steady_clock::time_point until, const std::function<bool()>& give_up) {
  std::unique_lock lk(view_mu_);
  for (;;) {
    if (count_members(view_).alive > 1) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= until || give_up()) return false;
    view_cv_.wait_until(lk, std::min(until, now + std::chrono::milliseconds(100)));
  }
}

std::array<uint64_t, 4> cluster::member_totals() const {
  std::lock_guard lk(view_mu_);
  const auto n = count_members(view_);
  return {n.alive, n.suspect, n.dead, n.left};
}

std::vector<std::string> cluster::alerts() {
  std::lock_guard lk(view_mu_);
  std::vector<std::string> out;
  if (view_.clock_ahead) out.emplace_back("clock_skew");
  if (view_.clock_behind) out.emplace_back("clock_behind");
  return out;
}

std::string cluster::metrics_text() {
  std::lock_guard lk(view_mu_);
  const auto& s = view_.stats;
  const auto& t = transport_counters();
  std::string o;
  auto c = [&](const char* name, uint64_t v) { o += std::string(name) + " " + std::to_string(v) + "\n"; };
  o += "# TYPE sessionmesh_gossip_probes_total counter\n";
  c("sessionmesh_gossip_probes_total", s.probes);
  c("sessionmesh_gossip_probe_failures_total", s.probe_failures);
  c("sessionmesh_gossip_suspicions_total", s.suspicions);
  c("sessionmesh_gossip_deaths_total", s.deaths);
  c("sessionmesh_gossip_refutations_total", s.refutations);
  c("sessionmesh_gossip_members_reaped_total", s.members_reaped);
  c("sessionmesh_gossip_members_refused_total", s.members_refused);
  c("sessionmesh_replication_deltas_sent_total", s.deltas_sent);
  c("sessionmesh_replication_deltas_applied_total", s.deltas_applied);
  c("sessionmesh_replication_deltas_refused_total", s.deltas_refused);
  c("sessionmesh_replication_deltas_dropped_total", s.deltas_dropped);
  c("sessionmesh_antientropy_exchanges_total", s.ae_exchanges);
  c("sessionmesh_antientropy_equal_total", s.ae_equal);
  c("sessionmesh_antientropy_records_repaired_total", s.records_repaired);
  c("sessionmesh_antientropy_records_sent_total", s.records_sent);
  c("sessionmesh_replication_pending", view_.pending);
  c("sessionmesh_clock_refusals_total", local_.clock_refusals());
  c("sessionmesh_clock_ahead_episodes_total", s.clock_ahead_episodes);
  o += "# TYPE sessionmesh_clock_lead_ms gauge\n";
  o += "sessionmesh_clock_lead_ms " + std::to_string(view_.clock_lead_ms) + "\n";
  c("sessionmesh_clock_ahead", view_.clock_ahead ? 1 : 0);
  c("sessionmesh_clock_behind", view_.clock_behind ? 1 : 0);
  c("sessionmesh_transport_bytes_in_total", t.bytes_in);
  c("sessionmesh_transport_bytes_out_total", t.bytes_out);
  c("sessionmesh_transport_frames_in_total", t.frames_in);
  c("sessionmesh_transport_frames_out_total", t.frames_out);
  c("sessionmesh_transport_refused_auth_total", t.refused_auth);
  c("sessionmesh_transport_refused_cluster_total", t.refused_cluster);
  c("sessionmesh_transport_garbage_total", t.garbage);
  c("sessionmesh_transport_queue_dropped_total", t.queue_dropped);
  c("sessionmesh_transport_connections_dropped_total", t.dropped);
  c("sessionmesh_transport_inbound_refused_total", t.inbound_refused);
  o += "# TYPE sessionmesh_transport_inbound_connections gauge\n";
  c("sessionmesh_transport_inbound_connections", t.inbound_open);
  const auto [alive, suspect, dead, left] = count_members(view_);
  o += "sessionmesh_cluster_members{status=\"alive\"} " + std::to_string(alive) + "\n";
  o += "sessionmesh_cluster_members{status=\"suspect\"} " + std::to_string(suspect) + "\n";
  o += "sessionmesh_cluster_members{status=\"dead\"} " + std::to_string(dead) + "\n";
  o += "sessionmesh_cluster_members{status=\"left\"} " + std::to_string(left) + "\n";
  return o;
}

}  // namespace sessionmesh::node
