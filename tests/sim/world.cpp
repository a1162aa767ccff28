// world: nodes, time steps and the network (see world.hpp).
#include "tests/sim/world.hpp"

#include "crdt/codec.hpp"

namespace sessionmesh::sim::detail {

world::world(const params& p) : p_(p), rng_(p.seed) {
  for (int i = 0; i < p.nodes; ++i) {
    auto n = std::make_unique<node>();
    n->id = "n" + std::to_string(i);
    n->clock.offset_ms = static_cast<int64_t>(rng_() % 200) - 100;
    n->clock.drift = (static_cast<double>(rng_() % 2001) - 1000.0) * 1e-6;  // up to +-1 ms/s
    nodes_.push_back(std::move(n));
  }
  for (auto& n : nodes_) boot(*n);
}

report world::run() {
  uint64_t next_op = 0;
  int ops_done = 0;
  const uint64_t chaos_end = t0_ms + p_.duration_ms;
  while (now_ < chaos_end) {
    step();
    if (now_ >= next_op && ops_done < p_.ops) {
      client_op();
      if (ops_done % 4 == 0) check_tokens();  // every 4th: it decodes, which the ASan build feels
      ++ops_done;
      next_op = now_ + rng_() % (2 * p_.duration_ms / std::max(1, p_.ops) + 1);
    }
    if (rng_() % 400 == 0) chaos();
    if (p_.liveness) check_liveness();
  }
  // Heal: every link, every node up, then a quiet period.
  cut_.clear();
  clog_until_.clear();
  for (auto& n : nodes_)
    if (!n->up) restart(*n);
  const uint64_t heal_at = now_;
  uint64_t converged_at = 0;
  uint64_t agreed_at = 0;
  while (now_ < heal_at + p_.quiet_ms) {
    step();
    if (!converged_at && converged()) converged_at = now_;
    // Placement: converged is judged by one node's view, which may change.
    if (p_.replicas && converged_at && !converged()) converged_at = 0;
    if (!agreed_at && views_agree()) agreed_at = now_;
    if (!views_agree()) agreed_at = 0;
    if (converged_at && agreed_at && now_ >= std::max(converged_at, agreed_at) + 2000) break;
  }
  if (!agreed_at)
    fail("membership views did not agree within " + std::to_string(p_.quiet_ms) + " ms: " + views());
  rep_.converge_ms = converged_at ? converged_at - heal_at : p_.quiet_ms;
  if (!converged_at) fail("no convergence within " + std::to_string(p_.quiet_ms) + " ms after heal");
  check_model();
  check_tokens();
  check_ownership();
  if (p_.skew_ms > static_cast<int64_t>(p_.max_clock_offset_ms) && !p_.partitions && !p_.crashes) {
    if (refused_while_ahead_ == 0) fail("the skewed node never refused a write while its clock ran ahead");
    if (!in_range_since_)
      fail("the skewed node's clock never came back in range");
    else if (acked_after_range_ == 0)
      fail("the skewed node acknowledged no write after its clock came back");
  }
  for (auto& n : nodes_) {
    rep_.records_repaired += n->d->gossip().stats().records_repaired;
    rep_.handed_off += n->d->gossip().stats().partitions_handed_off;
  }
  rep_.trace_hash = hash_;
  return rep_;
}

void world::fail(std::string what) {
  if (rep_.failures.size() < 10) rep_.failures.push_back(std::move(what));
  rep_.ok = false;
}

void world::mix(const void* data, size_t n) {
  const uint64_t h = XXH3_64bits(data, n);
  hash_ = XXH3_64bits_withSeed(&h, sizeof h, hash_);
}

void world::boot(node& n) {
  store_options o;
  o.node_id = n.id;
  o.data_dir = "/" + n.id;
  o.fsync = fsync_mode::always;
  o.background_threads = false;
  o.reaper_interval_ms = 0;
  o.max_clock_offset_ms = p_.max_clock_offset_ms;
  auto clk = n.now;
  o.clock = [clk] { return clk->load(); };
  *n.now = n.clock.read(now_);
  auto st = store::local_store::open(o, n.fs);
  if (!st) {
    fail(n.id + ": recovery failed: " + st.describe());
    n.up = false;
    return;
  }
  std::unique_ptr<store::local_store> local = std::move(st).value();
  n.st = local.get();
  n.port = std::make_unique<gossip::local_port>(*n.st);
  gossip::config c;
  c.node_id = n.id;
  c.gossip_addr = n.id;
  c.seeds = {"n0"};
  c.incarnation = 1 + n.restarts;
  c.seed = p_.seed * 1000 + std::hash<std::string>{}(n.id) + n.restarts;
  c.max_clock_offset_ms = p_.max_clock_offset_ms;
  c.replicas = p_.replicas;
  n.d = std::make_unique<gossip::replication_driver>(c, *n.port);
  n.repl.placed = p_.replicas != 0;
  n.repl.d = n.d.get();
  n.repl.now = n.now;
  n.repl.gate = false;
  n.rs = std::make_unique<store::replicated_store>(std::move(local), n.repl);
  n.d->start(*n.now);
  n.up = true;
}

void world::crash(node& n) {
  n.up = false;
  n.d->stop();  // its waiters are answered (not met), as a dying process's are not at all
  (void)n.d->take_output();
  n.rs->close();
  n.rs.reset();
  n.st = nullptr;
  n.d.reset();
  n.repl.d = nullptr;
  n.port.reset();
  n.fs.crash(&rng_);  // loses what was not synced, may tear the last write
}

void world::restart(node& n) {
  ++n.restarts;
  boot(n);
}

node* world::by_id(const std::string& id) {
  for (auto& n : nodes_)
    if (n->id == id) return n.get();
  return nullptr;
}

void world::step() {
  now_ += tick_ms;
  scripted_skew();
  for (auto& n : nodes_) {
    *n->now = n->clock.read(now_);
    if (n->up) n->d->on_tick(*n->now);
  }
  collect();
  while (!net_.empty() && net_.top().at <= now_) {
    msg_event e = net_.top();
    net_.pop();
    node* to = by_id(e.to);
    if (!to || !to->up) continue;
    auto m = gossip::decode(e.wire);
    if (!m) {
      fail("undecodable message");
      continue;
    }
    ++rep_.messages;
    rep_.bytes += e.wire.size();
    mix(e.wire.data(), e.wire.size());
    to->d->on_message(e.from, *m, *to->now, e.from);
    collect();
  }
}

void world::collect() {
  for (auto& n : nodes_) {
    if (!n->up) continue;
    auto out = n->d->take_output();
    // The disk: an fsync covering the merges, then the held acks go out
    // (the production shell asks the WAL's syncer and posts the same call).
    while (out.sync) {
      if (auto r = n->st->sync_lsn(*out.sync); !r) {
        fail(n->id + ": fsync failed");
        break;
      }
      n->d->on_durable(*out.sync, *n->now);
      auto more = n->d->take_output();
      for (auto& e : more.outbox) out.outbox.push_back(std::move(e));
      for (auto& a : more.acks) out.acks.push_back(std::move(a));
      for (auto& b : more.moves) out.moves.push_back(std::move(b));
      if (more.clock_ahead) out.clock_ahead = more.clock_ahead;
      out.sync = more.sync;
    }
    for (auto& env : out.outbox) {
      const std::string to = env.to_node.empty() ? env.to_addr : env.to_node;
      if (cut_.count({n->id, to})) continue;
      if (rng_() % 10000 < static_cast<uint64_t>(p_.loss * 10000)) continue;
      std::string wire;
      gossip::encode(env.msg, wire);
      uint64_t delay = 1 + rng_() % 10;
      if (rng_() % 20 == 0) delay += rng_() % 200;  // a slow path reorders
      if (auto c = clog_until_.find({n->id, to}); c != clog_until_.end() && c->second > now_)
        delay = c->second - now_ + delay;
      net_.push({now_ + delay, ++seq_, n->id, to, wire});
      if (rng_() % 10000 < static_cast<uint64_t>(p_.duplicate * 10000))
        net_.push({now_ + delay + rng_() % 50, ++seq_, n->id, to, std::move(wire)});
    }
    if (out.clock_ahead) n->repl.gate = *out.clock_ahead;
    for (auto& b : out.moves) n->st->publish_moved(std::move(b.moves), b.reason);
    for (auto& [fn, met] : out.acks) fn(met);
  }
}

void world::check_acked(const std::string& origin, const std::string& sid, const std::string& var, crdt::stamp ts,
                        unsigned acks) {
  unsigned holding = 0, down = 0;  // a node down now may hold it on its disk
  for (auto& n : nodes_) {
    if (!n->up) {
      ++down;
      continue;
    }
    auto raw = n->st->raw_records({sid});
    if (raw.empty()) continue;
    auto r = crdt::decode(raw.front());
    if (!r) continue;
    const auto& vars = r->map(section::variables);
    if (auto it = vars.find(var); it != vars.end() && it->second.ts >= ts) ++holding;
  }
  ++rep_.acked_replicated;
  if (holding + down < acks)
    fail(origin + ": acks=" + std::to_string(acks) + " answered for " + sid + "." + var + " while only " +
         std::to_string(holding) + " node(s) held it");
}

}  // namespace sessionmesh::sim::detail
