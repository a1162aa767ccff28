// cluster: the Asio shell around the replication driver (see the header).
// Over 400 lines (448) on purpose: one concern, the driver's thread-safe face;
// every public method is a short post to the gossip thread or a read of the
// view it refreshes (ack waiters, ownership, token reads, drain), and they
// share that view's lock and the thread's lifetime checks. Where requests go
// (cluster_routing.cpp) already lives apart; the next split moves start-up
// (seed expansion, transport wiring) to its own file.
#include "node/cluster.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>

#include <chrono>

#include "store/file_io.hpp"
#include "store/thread_name.hpp"

namespace sessionmesh::node {

namespace asio = boost::asio;

namespace {

uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A seed host:port whose host is a DNS name: {host, port}; nullopt for an
// address literal (used as it is).
std::optional<std::pair<std::string, std::string>> seed_name(const std::string& s) {
  const auto colon = s.rfind(':');
  std::string host = s.substr(0, colon), port = s.substr(colon + 1);
  boost::system::error_code ec;
  (void)asio::ip::make_address(host, ec);
  if (!ec) return std::nullopt;
  return std::make_pair(std::move(host), std::move(port));
}

// Appends what a seed name resolved to: every A/AAAA address (a Kubernetes
// headless service lists its pods this way), or the name itself while it
// does not resolve.
void add_resolved(std::vector<std::string>& out, const std::string& host, const std::string& port,
                  boost::system::error_code ec, const asio::ip::tcp::resolver::results_type& res) {
  if (ec || res.empty()) {
    spdlog::warn("seed {}:{} does not resolve yet; keeping the name", host, port);
    out.push_back(host + ":" + port);
    return;
  }
  for (const auto& e : res) {
    const auto a = e.endpoint().address();
    out.push_back((a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + port);
  }
}

// At start (before the gossip thread runs): names resolved in turn.
std::vector<std::string> expand_seeds(const std::vector<std::string>& seeds) {
  std::vector<std::string> out;
  asio::io_context ioc;
  asio::ip::tcp::resolver r(ioc);
  for (const auto& s : seeds) {
    auto name = seed_name(s);
    if (!name) {
      out.push_back(s);
      continue;
    }
    boost::system::error_code ec;
    auto res = r.resolve(name->first, name->second, ec);
    add_resolved(out, name->first, name->second, ec, res);
  }
  return out;
}

}  // namespace

struct cluster::io {
  asio::io_context ctx{1};
  asio::steady_timer timer{ctx};
  asio::ip::tcp::resolver resolver{ctx};  // seeds on reload
  std::unique_ptr<transport::tcp_transport> transport;
};

cluster::cluster(cluster_options opts, store::local_store& local)
    : opts_(std::move(opts)), local_(local), port_(local), io_(std::make_shared<io>()) {}

cluster::~cluster() { stop(); }

result<void> cluster::start() {
  // Anti-entropy reads the Merkle index from the first round: build it
  // here, before gossip runs, not on the gossip thread.
  local_.build_index();
  gossip::config c;
  c.node_id = opts_.node_id;
  c.gossip_addr = opts_.advertise;
  c.http_addr = opts_.http_addr;
  c.seeds = expand_seeds(opts_.seeds);
  // A restarted node outranks its earlier life, its leave (+1) included:
  // milliseconds, so a restart within the same second still does (nodes of
  // versions that counted seconds are outranked too).
  c.incarnation = wall_ms();
  epoch_ = c.incarnation;
  c.seed = std::random_device{}();
  c.max_clock_offset_ms = opts_.max_clock_offset_ms;
  c.replicas = opts_.replicas;
  d_ = std::make_unique<gossip::replication_driver>(c, port_);
  if (!opts_.contact_file.empty()) {
    contact_writer_ = std::make_unique<store::file_writer>(
        store::posix_fs(), [](const std::string& path, std::error_code ec) {
          spdlog::warn("cannot record the last contact time in {}: {}", path, ec.message());
        });
  }

  transport::transport_options to;
  to.listen_host = opts_.listen_host;
  to.listen_port = opts_.listen_port;
  to.advertise = opts_.advertise;
  // Placement is part of the cluster's identity: a node with another
  // --replicas (or none) is refused at the handshake, and the log says so.
  to.cluster = opts_.replicas ? opts_.cluster_name + "/replicas=" + std::to_string(opts_.replicas) : opts_.cluster_name;
  to.node_id = opts_.node_id;
  to.key = opts_.cluster_key;
  io_->transport = std::make_unique<transport::tcp_transport>(
      io_->ctx, to,
      [this](const std::string& from, const std::string& addr, std::string_view payload) {
        on_frame(from, addr, payload);
      },
      [](const std::string& msg) { spdlog::warn("{}", msg); });
  if (auto r = io_->transport->listen(); !r) return r;
  d_->start(local_.now_physical_ms());
  settle();
  tick();
  thread_ = std::thread([this] {
    store::name_this_thread("sm-cluster");
    io_->ctx.run();
  });
  return {};
}

void cluster::stop() {
  {
    std::lock_guard lk(view_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (!thread_.joinable()) {
    if (d_) {
      d_->stop();
      settle();
    }
    return;
  }
  asio::post(io_->ctx, [this] {
    d_->stop();  // every ack waiter answered
    settle();
    closing_ = true;
    io_->timer.cancel();
    flush_then_close(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  });
  thread_.join();
}

// What is queued to connected peers (a drain's leave) goes out first —
// the transport says when — for at most until `until` (a peer that stopped
// reading); then the transport closes and the thread ends.
void cluster::flush_then_close(std::chrono::steady_clock::time_point until) {
  auto finish = [this] {
    if (closed_io_) return;
    closed_io_ = true;
    io_->timer.cancel();
    io_->transport->close();
    io_->ctx.stop();
  };
  io_->timer.expires_at(until);
  io_->timer.async_wait([finish](boost::system::error_code ec) {
    if (!ec) finish();
  });
  io_->transport->when_flushed(finish);
}

void cluster::tick() {
  io_->timer.expires_after(std::chrono::milliseconds(5));
  io_->timer.async_wait([this](boost::system::error_code ec) {
    if (ec || closing_) return;
    take_deltas();
    d_->on_tick(local_.now_physical_ms());
    settle();
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
  for (const auto& [_, m] : d_->gossip().members()) any_alive |= m.status == gossip::member_status::alive;
  if (!any_alive) return;
  last_contact_written_ = now;
  // Every few seconds one small fsync'd write, on the writer's thread: the
  // gossip thread does not wait on the disk (a busy disk would delay its
  // probes and acks, and peers would suspect this node).
  contact_writer_->write(opts_.contact_file, std::to_string(now) + "\n");
}

void cluster::on_frame(const std::string& from, const std::string& addr, std::string_view payload) {
  if (blocked_.count(from)) return;
  auto m = gossip::decode(payload);
  if (!m) {
    spdlog::warn("cluster: undecodable message from {} dropped", from);
    return;
  }
  d_->on_message(from, *m, local_.now_physical_ms(), addr);
  settle();
}

void cluster::take_deltas() {
  std::vector<queued_delta> batch;
  {
    std::lock_guard lk(deltas_mu_);
    batch.swap(deltas_);
    delta_posted_ = false;
  }
  for (auto& q : batch) {
    const uint64_t s = d_->local_delta(std::move(q.delta), q.partition);
    SM_ASSERT(s == q.seq);
  }
}

void cluster::settle() {
  auto out = d_->take_output();
  for (auto& e : out.outbox) {
    if (blocked_.count(e.to_node)) continue;
    std::string wire;
    gossip::encode(e.msg, wire);
    io_->transport->send(e.to_addr, std::move(wire));
  }
  for (const auto& [node, st] : out.changes) spdlog::info("member {} is {}", node, gossip::status_name(st));
  if (out.clock_ahead) {
    clock_ahead_.store(*out.clock_ahead, std::memory_order_relaxed);
    const auto& g = d_->gossip();
    if (*out.clock_ahead)
      spdlog::error(
          "this node's clock runs {} ms ahead of most peers (max offset {} ms): refusing writes "
          "until it is back in range",
          g.clock_lead_ms(), opts_.max_clock_offset_ms);
    else
      spdlog::info("clock back in range ({} ms from the peers' median): accepting writes", g.clock_lead_ms());
  }
  for (const auto& h : out.handoffs)
    spdlog::info("partition {} handed off to {}: {} records forgotten here", h.partition, h.to, h.records);
  for (auto& b : out.moves) {
    // One line and one count per batch (a membership change moves many).
    spdlog::info("ownership moved: {} sessions ({})", b.moves.size(), b.reason);
    const size_t r = b.reason == "node_dead" ? 0 : b.reason == "node_joined" ? 1 : 2;
    moved_total_[r].fetch_add(b.moves.size(), std::memory_order_relaxed);
    local_.publish_moved(std::move(b.moves), b.reason);
  }
  if (out.sync) {
    // Merges from peers are acknowledged once the log holds them: the WAL's
    // syncer answers (group commit); this thread never waits on the disk.
    const uint64_t lsn = *out.sync;
    std::weak_ptr<io> w = io_;
    local_.when_lsn_durable(lsn, [this, w, lsn](result<void> r) {
      if (!r) return;  // the log failed or closed: those acks never go out
      if (auto i = w.lock())
        asio::post(i->ctx, [this, lsn] {
          if (closing_) return;
          d_->on_durable(lsn, local_.now_physical_ms());
          settle();
        });
    });
  }
  {
    auto v = d_->view();
    std::lock_guard lk(view_mu_);
    if (v.layout && view_.layout && v.layout->nodes() != view_.layout->nodes()) prev_layout_ = view_.layout;
    view_ = std::move(v);
    applied_ = d_->applied();
  }
  view_cv_.notify_all();
  for (auto& [fn, met] : out.acks) fn(met);
}

uint64_t cluster::local_delta(std::string_view id, std::string_view delta) {
  bool post = false;
  uint64_t seq = 0;
  const uint32_t part = opts_.replicas ? gossip::partition_of(id) : gossip::partition_count;
  {
    std::lock_guard lk(deltas_mu_);
    seq = ++delta_seq_;
    deltas_.push_back({seq, std::string(delta), part});
    post = !delta_posted_;
    delta_posted_ = true;
  }
  if (post)
    asio::post(io_->ctx, [this] {
      take_deltas();
      d_->on_tick(local_.now_physical_ms());  // flushes the batch now, not at the next tick
      settle();
    });
  return seq;
}

uint64_t cluster::last_seq() {
  std::lock_guard lk(deltas_mu_);
  return delta_seq_;
}

void cluster::when_acked(uint64_t seq, unsigned acks, uint32_t timeout_ms, std::function<void(bool)> done) {
  {
    std::lock_guard lk(view_mu_);
    if (stopped_ || !thread_.joinable()) return done(false);
  }
  // Posted after the delta's own post (same thread, in order): the driver
  // has every delta through seq, or gets it before this waiter's deadline.
  asio::post(io_->ctx, [this, seq, acks, timeout_ms, done = std::move(done)]() mutable {
    d_->when_acked(seq, acks, local_.now_physical_ms() + timeout_ms, std::move(done));
    settle();
  });
}

namespace {
uint32_t read_partition(unsigned replicas, std::string_view record_id) {
  return replicas && !record_id.empty() ? gossip::partition_of(record_id) : gossip::partition_count;
}
}  // namespace

int cluster::token_state(const gossip::session_token& t, std::string_view record_id) const {
  std::shared_ptr<const gossip::applied_view> a;
  {
    std::lock_guard lk(view_mu_);
    a = applied_;
  }
  if (!a) return -1;
  const uint32_t p = read_partition(opts_.replicas, record_id);
  const auto e = a->first_unmet(t, p);
  if (!e) return 1;
  // Waiting helps only for a stream this node counts, in a partition it holds whole.
  return a->knows(*e) && !(p < gossip::partition_count && a->incomplete.test(p)) ? 0 : -1;
}

void cluster::when_token_applied(gossip::session_token t, uint32_t timeout_ms, std::function<void(bool)> done) {
  {
    std::lock_guard lk(view_mu_);
    if (stopped_ || !thread_.joinable()) return done(false);
  }
  asio::post(io_->ctx, [this, t = std::move(t), timeout_ms, done = std::move(done)]() mutable {
    d_->when_applied(std::move(t), local_.now_physical_ms() + timeout_ms, std::move(done));
    settle();
  });
}

std::string cluster::token_node_http(const gossip::session_token& t, std::string_view record_id) const {
  std::lock_guard lk(view_mu_);
  if (!applied_) return {};
  const auto e = applied_->first_unmet(t, read_partition(opts_.replicas, record_id));
  if (!e) return {};
  for (const auto& m : view_.members)
    if (gossip::token_node(m.node_id) == e->node &&
        (m.status == gossip::member_status::alive || m.status == gossip::member_status::suspect))
      return m.http_addr;
  return {};
}

gossip::token_entry cluster::token_entry_for(uint64_t seq) const {
  return {gossip::token_node(opts_.node_id), epoch_, seq};
}

std::string cluster::owner_of(std::string_view id) {
  std::lock_guard lk(view_mu_);
  if (!view_.layout || view_.layout->nodes().empty()) return opts_.node_id;
  return view_.layout->owner_of(id);
}

void cluster::drain(uint32_t timeout_ms, std::function<void(uint64_t)> done) {
  const uint64_t seq = last_seq();
  asio::post(io_->ctx, [this, seq, timeout_ms, done = std::move(done)]() mutable {
    take_deltas();
    const uint64_t now = local_.now_physical_ms();
    bool any_peer = false;  // one that may still take the changes
    for (const auto& [_, m] : d_->gossip().members())
      any_peer |= m.status == gossip::member_status::alive || m.status == gossip::member_status::suspect;
    if (opts_.replicas && any_peer) {
      // Placement: leave at once (requests move to the new replicas), then
      // hand every partition held here to its replicas; what is still held
      // at the deadline counts as unconfirmed.
      d_->leave(now);
      d_->when_handed_off(now + timeout_ms, [this, done = std::move(done)](bool met) {
        const auto s = local_.stats();
        done(met ? 0 : s.current_sessions + s.tombstones + s.current_global_programs);
      });
      settle();
      return;
    }
    auto leave = [this, seq, done = std::move(done)](bool confirmed) {
      uint64_t best = 0;  // the most any peer confirmed
      for (const auto& [_, m] : d_->gossip().members()) best = std::max(best, m.acked_through);
      d_->leave(local_.now_physical_ms());
      settle();  // the leave is queued on the transport before done runs
      done(confirmed ? 0 : seq - std::min(seq, best));
    };
    if (!any_peer) return leave(seq == 0);  // nothing to hand over, or nobody to hand it to
    d_->when_acked(seq, 2, now + timeout_ms, std::move(leave));
    settle();
  });
}

const transport::transport_counters& cluster::transport_counters() const { return io_->transport->counters(); }

// Posted, not left for the next tick: a delta queued after this call is
// already filtered (the gossip thread runs handlers in order).
void cluster::set_blocked(std::set<std::string> nodes) {
  asio::post(io_->ctx, [this, nodes = std::move(nodes)] {
    blocked_ = nodes;
    io_->transport->set_blocked(blocked_);
  });
}

// On the gossip thread, never waiting: names resolve asynchronously, then
// the driver takes the whole list at once.
void cluster::set_seeds(std::vector<std::string> seeds) {
  asio::post(io_->ctx, [this, seeds = std::move(seeds)] {
    struct pending {
      std::vector<std::string> out;
      size_t left = 0;
    };
    auto p = std::make_shared<pending>();
    std::vector<std::pair<std::string, std::string>> names;
    for (const auto& s : seeds) {
      if (auto n = seed_name(s)) names.push_back(std::move(*n));
      else p->out.push_back(s);
    }
    p->left = names.size();
    auto finish = [this, p] {
      if (d_) d_->set_seeds(p->out);
      spdlog::info("seeds reloaded: {} address(es)", p->out.size());
    };
    if (names.empty()) return finish();
    for (auto& [host, port] : names)
      io_->resolver.async_resolve(host, port,
                                  [p, host = host, port = port, finish](boost::system::error_code ec,
                                                                        asio::ip::tcp::resolver::results_type res) {
                                    add_resolved(p->out, host, port, ec, res);
                                    if (--p->left == 0) finish();
                                  });
  });
}

}  // namespace sessionmesh::node
