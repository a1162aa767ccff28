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
  const auto layout = snapshot().layout;  // never hold the view while walking the store
  std::map<std::string, uint64_t> owned;
  if (!layout) return owned;
  for (const auto& n : layout->nodes()) owned[n] = 0;
  if (!layout->nodes().empty())
    local_.for_each_live([&](std::string_view id) { ++owned[layout->owner_of(id)]; });
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

uint64_t cluster::max_peer_lag() {
  const uint64_t seq = last_seq();
  std::lock_guard lk(view_mu_);
  uint64_t worst = 0;
  for (const auto& p : view_.members)
    if (p.status == gossip::member_status::alive || p.status == gossip::member_status::suspect)
      worst = std::max(worst, seq - std::min(seq, p.acked_through));
  return worst;
}

std::vector<std::string> cluster::alerts() {
  std::lock_guard lk(view_mu_);
  std::vector<std::string> out;
  if (view_.clock_ahead) out.emplace_back("clock_skew");
  if (view_.clock_behind) out.emplace_back("clock_behind");
  // Placement: some partition has fewer than R owners (health: degraded).
  if (opts_.replicas && view_.layout)
    for (uint32_t p = 0; p < gossip::partition_count; ++p)
      if (view_.layout->replica_count(p) < opts_.replicas) {
        out.emplace_back("partitions_under_replicated");
        break;
      }
  return out;
}

// Over 80 lines on purpose: one line per exposed metric, with its help.
std::string cluster::metrics_text() {
  std::lock_guard lk(view_mu_);
  const auto& s = view_.stats;
  const auto& t = transport_counters();
  std::string o;
  auto m = [&](const char* name, const char* type, const char* help, auto v) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
         std::to_string(v) + "\n";
  };
  auto c = [&](const char* name, const char* help, uint64_t v) { m(name, "counter", help, v); };
  auto g = [&](const char* name, const char* help, auto v) { m(name, "gauge", help, v); };
  c("sessionmesh_gossip_probes_total", "SWIM probes sent.", s.probes);
  c("sessionmesh_gossip_probe_failures_total", "SWIM probes that got no answer.", s.probe_failures);
  c("sessionmesh_gossip_suspicions_total", "Members this node suspected.", s.suspicions);
  c("sessionmesh_gossip_deaths_total", "Members declared dead.", s.deaths);
  c("sessionmesh_gossip_refutations_total", "Suspicions of this node it refuted.", s.refutations);
  c("sessionmesh_gossip_members_reaped_total", "Dead or left members forgotten.", s.members_reaped);
  c("sessionmesh_gossip_members_refused_total", "Members refused at join (cluster name, key).", s.members_refused);
  c("sessionmesh_replication_deltas_sent_total", "Delta batches sent to peers.", s.deltas_sent);
  c("sessionmesh_replication_deltas_applied_total", "Deltas from peers applied.", s.deltas_applied);
  c("sessionmesh_replication_deltas_refused_total", "Deltas from peers refused (clock, damage).", s.deltas_refused);
  c("sessionmesh_replication_deltas_dropped_total", "Deltas dropped on a full queue (anti-entropy repairs).",
    s.deltas_dropped);
  c("sessionmesh_antientropy_exchanges_total", "Merkle anti-entropy exchanges.", s.ae_exchanges);
  c("sessionmesh_antientropy_equal_total", "Exchanges that found both stores equal.", s.ae_equal);
  c("sessionmesh_antientropy_records_repaired_total", "Records repaired by anti-entropy.", s.records_repaired);
  c("sessionmesh_antientropy_records_sent_total", "Records sent by anti-entropy.", s.records_sent);
  c("sessionmesh_antientropy_sketches_total", "Diff sketches from peers decoded here.", s.ae_sketches);
  c("sessionmesh_antientropy_sketch_failures_total",
    "Diff sketches that did not decode whole (the next exchange with that peer compares leaves).",
    s.ae_sketch_failures);
  g("sessionmesh_replication_pending", "Local deltas not yet sent.", view_.pending);
  c("sessionmesh_partitions_handed_off_total",
    "Partitions this node held without replicating them, forgotten once a replica held them all (--replicas).",
    s.partitions_handed_off);
  c("sessionmesh_partition_records_handed_off_total", "Records forgotten here with those partitions.",
    s.records_handed_off);
  {
    uint64_t mine = 0, under = 0;
    if (view_.layout)
      for (uint32_t p = 0; p < gossip::partition_count; ++p) {
        mine += view_.layout->holds(p, opts_.node_id);
        under += opts_.replicas && view_.layout->replica_count(p) < opts_.replicas;
      }
    g("sessionmesh_partitions_replicated", "Partitions (of 256) this node replicates.", mine);
    g("sessionmesh_partitions_under_replicated", "Partitions with fewer than --replicas owners alive or suspect.",
      under);
  }
  c("sessionmesh_clock_refusals_total", "Remote stamps refused as too far ahead.", local_.clock_refusals());
  c("sessionmesh_clock_ahead_episodes_total", "Times this node's clock ran too far ahead of its peers.",
    s.clock_ahead_episodes);
  g("sessionmesh_clock_lead_seconds", "How far this node's write clock leads its peers.",
    static_cast<double>(view_.clock_lead_ms) / 1000.0);
  g("sessionmesh_clock_ahead", "1 while writes are refused for a clock too far ahead.", view_.clock_ahead ? 1 : 0);
  g("sessionmesh_clock_behind", "1 while this node's clock is behind its peers'.", view_.clock_behind ? 1 : 0);
  c("sessionmesh_transport_bytes_in_total", "Cluster transport bytes received.", t.bytes_in);
  c("sessionmesh_transport_bytes_out_total", "Cluster transport bytes sent.", t.bytes_out);
  c("sessionmesh_transport_frames_in_total", "Cluster transport frames received.", t.frames_in);
  c("sessionmesh_transport_frames_out_total", "Cluster transport frames sent.", t.frames_out);
  c("sessionmesh_transport_refused_auth_total", "Connections dropped for a bad HMAC.", t.refused_auth);
  c("sessionmesh_transport_refused_cluster_total", "Connections dropped for another cluster name.",
    t.refused_cluster);
  c("sessionmesh_transport_garbage_total", "Connections dropped for undecodable frames.", t.garbage);
  c("sessionmesh_transport_queue_dropped_total", "Frames dropped on a full send queue.", t.queue_dropped);
  c("sessionmesh_transport_connections_dropped_total", "Connections dropped for any reason.", t.dropped);
  c("sessionmesh_transport_inbound_refused_total", "Inbound connections refused past the caps.", t.inbound_refused);
  g("sessionmesh_transport_inbound_connections", "Open inbound cluster connections.", t.inbound_open.load());
  o += "# HELP sessionmesh_replication_peer_lag_writes Writes made on this node that the peer has not "
       "confirmed (alive and suspect peers).\n# TYPE sessionmesh_replication_peer_lag_writes gauge\n";
  const uint64_t seq = last_seq();
  for (const auto& p : view_.members) {
    if (p.status != gossip::member_status::alive && p.status != gossip::member_status::suspect) continue;
    o += "sessionmesh_replication_peer_lag_writes{peer=\"";
    for (char ch : p.node_id) {  // a label value: \\, " and newline escaped
      if (ch == '\\' || ch == '"') o += '\\';
      if (ch == '\n') {
        o += "\\n";
        continue;
      }
      o += ch;
    }
    o += "\"} " + std::to_string(seq - std::min(seq, p.acked_through)) + "\n";
  }
  o += "# HELP sessionmesh_ownership_moved_total Sessions whose owner changed, by reason.\n"
       "# TYPE sessionmesh_ownership_moved_total counter\n";
  const char* reasons[] = {"node_dead", "node_joined", "node_left"};
  for (size_t i = 0; i < 3; ++i)
    o += std::string("sessionmesh_ownership_moved_total{reason=\"") + reasons[i] + "\"} " +
         std::to_string(moved_total_[i].load(std::memory_order_relaxed)) + "\n";
  const auto [alive, suspect, dead, left] = count_members(view_);
  o += "# HELP sessionmesh_cluster_members Members by status as this node sees them (itself included).\n"
       "# TYPE sessionmesh_cluster_members gauge\n";
  o += "sessionmesh_cluster_members{status=\"alive\"} " + std::to_string(alive) + "\n";
  o += "sessionmesh_cluster_members{status=\"suspect\"} " + std::to_string(suspect) + "\n";
  o += "sessionmesh_cluster_members{status=\"dead\"} " + std::to_string(dead) + "\n";
  o += "sessionmesh_cluster_members{status=\"left\"} " + std::to_string(left) + "\n";
  return o;
}

}  // namespace sessionmesh::node
