#include "node/cluster.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>

#include <chrono>

#include "http/json_render.hpp"
#include "store/file_io.hpp"

namespace sessionmesh::node {

namespace asio = boost::asio;

namespace {

uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// host:port with a DNS name -> every A/AAAA address (a Kubernetes headless
// service lists its pods this way).
std::vector<std::string> expand_seeds(const std::vector<std::string>& seeds) {
  std::vector<std::string> out;
  asio::io_context ioc;
  asio::ip::tcp::resolver r(ioc);
  for (const auto& s : seeds) {
    const auto colon = s.rfind(':');
    const std::string host = s.substr(0, colon), port = s.substr(colon + 1);
    boost::system::error_code ec;
    (void)asio::ip::make_address(host, ec);
    if (!ec) {
      out.push_back(s);
      continue;
    }
    auto res = r.resolve(host, port, ec);
    if (ec || res.empty()) {
      spdlog::warn("seed {} does not resolve yet; keeping the name", s);
      out.push_back(s);
      continue;
    }
    for (const auto& e : res) {
      const auto a = e.endpoint().address();
      out.push_back((a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + port);
    }
  }
  return out;
}

}  // namespace

struct cluster::io {
  asio::io_context ctx{1};
  asio::steady_timer timer{ctx};
  std::unique_ptr<transport::tcp_transport> transport;
};

cluster::cluster(cluster_options opts, store::local_store& local)
    : opts_(std::move(opts)), local_(local), port_(local), io_(std::make_unique<io>()) {}

cluster::~cluster() { stop(); }

result<void> cluster::start(std::string* why) {
  gossip::config c;
  c.node_id = opts_.node_id;
  c.gossip_addr = opts_.advertise;
  c.http_addr = opts_.http_addr;
  c.seeds = expand_seeds(opts_.seeds);
  c.incarnation = wall_ms() / 1000;  // a restarted node outranks its earlier life
  c.seed = std::random_device{}();
  c.max_clock_offset_ms = opts_.max_clock_offset_ms;
  g_ = std::make_unique<gossip::gossiper>(c, port_);

  transport::transport_options to;
  to.listen_host = opts_.listen_host;
  to.listen_port = opts_.listen_port;
  to.advertise = opts_.advertise;
  to.cluster = opts_.cluster_name;
  to.node_id = opts_.node_id;
  to.key = opts_.cluster_key;
  io_->transport = std::make_unique<transport::tcp_transport>(
      io_->ctx, to,
      [this](const std::string& from, const std::string& addr, std::string_view payload) {
        on_frame(from, addr, payload);
      },
      [](const std::string& msg) { spdlog::warn("{}", msg); });
  if (auto r = io_->transport->listen(why); !r) return r;
  g_->start(local_.now_physical_ms());
  pump();
  tick();
  thread_ = std::thread([this] { run(); });
  return {};
}

void cluster::run() { io_->ctx.run(); }

void cluster::stop() {
  {
    std::lock_guard lk(view_mu_);
    stopped_ = true;
  }
  complete_ack_waiters(true);
  if (!thread_.joinable()) return;
  asio::post(io_->ctx, [this] {
    io_->timer.cancel();
    io_->transport->close();
    io_->ctx.stop();
  });
  thread_.join();
}

void cluster::tick() {
  io_->timer.expires_after(std::chrono::milliseconds(5));
  io_->timer.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    take_deltas();
    g_->on_tick(local_.now_physical_ms());
    pump();
    complete_ack_waiters(false);
    record_contact();
    tick();
  });
}

// Every few seconds while some peer is alive, remember that we were in
// contact (the restart check compares it with the tombstone grace).
void cluster::record_contact() {
  if (opts_.contact_file.empty()) return;
  const uint64_t now = wall_ms();
  if (now < last_contact_written_ + 5000) return;
  bool any_alive = false;
  for (const auto& [_, m] : g_->members()) any_alive |= m.status == gossip::member_status::alive;
  if (!any_alive) return;
  last_contact_written_ = now;
  // On the gossip thread, every few seconds: one small fsync'd write.
  if (auto r = store::write_file_atomic(store::posix_fs(), opts_.contact_file, std::to_string(now) + "\n"); !r)
    spdlog::warn("cannot record the last contact time in {}: {}", opts_.contact_file, r.error().message());
}

void cluster::on_frame(const std::string& from, const std::string& addr, std::string_view payload) {
  if (blocked_.count(from)) return;
  auto m = gossip::decode(payload);
  if (!m) {
    spdlog::warn("cluster: undecodable message from {} dropped", from);
    return;
  }
  g_->on_message(from, *m, local_.now_physical_ms(), addr);
  pump();
}

void cluster::take_deltas() {
  std::vector<std::pair<uint64_t, std::string>> batch;
  {
    std::lock_guard lk(deltas_mu_);
    batch.swap(deltas_);
    delta_posted_ = false;
  }
  for (auto& [seq, d] : batch) {
    const uint64_t s = g_->local_delta(std::move(d));
    SM_ASSERT(s == seq);
  }
}

void cluster::pump() {
  for (auto& e : g_->take_outbox()) {
    if (blocked_.count(e.to_node)) continue;
    std::string wire;
    gossip::encode(e.msg, wire);
    io_->transport->send(e.to_addr, std::move(wire));
  }
  std::string reason;
  for (auto& [node, st] : g_->take_changes()) {
    spdlog::info("member {} is {}", node, gossip::status_name(st));
    if (st == gossip::member_status::dead)
      reason = "node_dead";
    else if (st == gossip::member_status::left && reason.empty())
      reason = "node_left";
    else if (st == gossip::member_status::alive && reason.empty())
      reason = "node_joined";
  }
  view v;
  v.self = g_->self();
  for (const auto& [_, m] : g_->members()) {
    v.members.push_back(m);
    if (m.status == gossip::member_status::alive) v.acked[m.node_id] = m.acked_through;
  }
  auto live = [](const gossip::member& m) {
    return m.status == gossip::member_status::alive || m.status == gossip::member_status::suspect;
  };
  if (live(v.self)) v.owners.push_back(v.self.node_id);
  for (const auto& m : v.members)
    if (live(m)) v.owners.push_back(m.node_id);
  std::sort(v.owners.begin(), v.owners.end());
  if (v.owners != prev_owners_) {
    publish_moves(prev_owners_, v.owners, reason.empty() ? "node_joined" : reason);
    prev_owners_ = v.owners;
  }
  v.stats = g_->stats();
  v.clock_ahead = g_->clock_ahead();
  v.clock_behind = g_->clock_behind();
  v.clock_lead_ms = g_->clock_lead_ms();
  if (v.clock_ahead != local_.clock_ahead()) {
    local_.set_clock_ahead(v.clock_ahead);
    if (v.clock_ahead)
      spdlog::error(
          "this node's clock runs {} ms ahead of most peers (max offset {} ms): refusing writes "
          "until it is back in range",
          v.clock_lead_ms, opts_.max_clock_offset_ms);
    else
      spdlog::info("clock back in range ({} ms from the peers' median): accepting writes", v.clock_lead_ms);
  }
  v.pending = g_->pending_deltas();
  v.root = local_.merkle().root();
  {
    std::lock_guard lk(view_mu_);
    view_ = std::move(v);
  }
  view_cv_.notify_all();
}

// Batched `moved` events for every live session whose owner changed.
void cluster::publish_moves(const std::vector<std::string>& before, const std::vector<std::string>& after,
                            const std::string& reason) {
  if (before.empty() || after.empty()) return;
  std::vector<session_move> moves;
  local_.for_each_live([&](std::string_view id) {
    auto from = gossip::rendezvous_owner(id, before), to = gossip::rendezvous_owner(id, after);
    if (from != to) moves.push_back({std::string(id), std::move(from), std::move(to)});
  });
  for (size_t i = 0; i < moves.size(); i += 1000)
    local_.publish_moved(std::vector<session_move>(
                             moves.begin() + static_cast<std::ptrdiff_t>(i),
                             moves.begin() + static_cast<std::ptrdiff_t>(std::min(moves.size(), i + 1000))),
                         reason);
}

uint64_t cluster::local_delta(std::string_view, std::string_view delta) {
  bool post = false;
  uint64_t seq = 0;
  {
    std::lock_guard lk(deltas_mu_);
    seq = ++delta_seq_;
    deltas_.emplace_back(seq, std::string(delta));
    post = !delta_posted_;
    delta_posted_ = true;
  }
  if (post)
    asio::post(io_->ctx, [this] {
      take_deltas();
      g_->on_tick(local_.now_physical_ms());  // flushes the batch now, not at the next tick
      pump();
      complete_ack_waiters(false);
    });
  return seq;
}

uint64_t cluster::last_seq() {
  std::lock_guard lk(deltas_mu_);
  return delta_seq_;
}

size_t cluster::acked_count(uint64_t seq) const {
  size_t n = 1;
  for (const auto& [_, through] : view_.acked) n += through >= seq ? 1 : 0;
  return n;
}

void cluster::when_acked(uint64_t seq, unsigned acks, uint32_t timeout_ms, std::function<void(bool)> done) {
  bool met = false;
  {
    std::lock_guard lk(view_mu_);
    met = acked_count(seq) >= acks;
    if (!met && timeout_ms > 0 && ack_waiters_.size() < max_ack_waiters && !stopped_) {
      ack_waiters_.push_back(
          {seq, acks, std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms), std::move(done)});
      return;
    }
  }
  done(met);  // met, or answered now: timeout 0, too many waiters, or stopped
}

void cluster::complete_ack_waiters(bool all) {
  std::vector<std::pair<std::function<void(bool)>, bool>> ready;
  {
    std::lock_guard lk(view_mu_);
    if (ack_waiters_.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ack_waiters_.size();) {
      auto& w = ack_waiters_[i];
      const bool met = acked_count(w.seq) >= w.acks;
      if (met || all || now >= w.deadline) {
        ready.emplace_back(std::move(w.done), met);
        w = std::move(ack_waiters_.back());
        ack_waiters_.pop_back();
      } else {
        ++i;
      }
    }
  }
  for (auto& [fn, ok] : ready) fn(ok);
}

std::string cluster::owner_of(std::string_view id) {
  std::lock_guard lk(view_mu_);
  if (view_.owners.empty()) return opts_.node_id;
  return gossip::rendezvous_owner(id, view_.owners);
}

std::optional<std::string> cluster::owner_http(std::string_view id) {
  std::lock_guard lk(view_mu_);
  if (view_.owners.empty()) return std::nullopt;
  const std::string owner = gossip::rendezvous_owner(id, view_.owners);
  if (owner == opts_.node_id) return std::nullopt;
  for (const auto& m : view_.members)
    if (m.node_id == owner) return m.http_addr;
  return std::string();
}

bool cluster::drain(uint32_t timeout_ms) {
  uint64_t seq;
  {
    std::lock_guard lk(deltas_mu_);
    seq = delta_seq_;
  }
  bool confirmed = false;
  {
    std::unique_lock lk(view_mu_);
    confirmed = view_cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] {
      if (view_.acked.empty()) return false;
      for (const auto& [_, through] : view_.acked)
        if (through >= seq && view_.pending == 0) return true;
      return false;
    });
    if (view_.acked.empty() && seq == 0) confirmed = true;  // nothing to hand over
  }
  asio::post(io_->ctx, [this] {
    g_->leave(local_.now_physical_ms());
    pump();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the leave go out
  return confirmed;
}

// Posted, not left for the next tick: a delta queued after this call is
// already filtered (the gossip thread runs handlers in order).
void cluster::set_blocked(std::set<std::string> nodes) {
  asio::post(io_->ctx, [this, nodes = std::move(nodes)] {
    blocked_ = nodes;
    io_->transport->set_blocked(blocked_);
  });
}

std::string cluster::metrics_text() {
  std::lock_guard lk(view_mu_);
  const auto& s = view_.stats;
  const auto& t = io_->transport->counters();
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
  const auto [alive, suspect, dead, left] = count_members();
  o += "sessionmesh_cluster_members{status=\"alive\"} " + std::to_string(alive) + "\n";
  o += "sessionmesh_cluster_members{status=\"suspect\"} " + std::to_string(suspect) + "\n";
  o += "sessionmesh_cluster_members{status=\"dead\"} " + std::to_string(dead) + "\n";
  o += "sessionmesh_cluster_members{status=\"left\"} " + std::to_string(left) + "\n";
  return o;
}

}  // namespace sessionmesh::node
