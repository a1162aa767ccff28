#include "tests/sim/sim.hpp"

#include <xxhash.h>

#include <algorithm>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>

#include "crdt/codec.hpp"
#include "gossip/local_port.hpp"
#include "store/mem_fs.hpp"

namespace sessionmesh::sim {
namespace {

constexpr uint64_t t0_ms = 1'764'225'600'000ull;
constexpr uint64_t tick_ms = 5;

struct clock_model {
  int64_t offset_ms = 0;
  double drift = 0;  // ms per ms
  int64_t jump_ms = 0;
  uint64_t read(uint64_t true_ms) const {
    const double d = drift * static_cast<double>(true_ms - t0_ms);
    return static_cast<uint64_t>(static_cast<int64_t>(true_ms) + offset_ms + jump_ms + static_cast<int64_t>(d));
  }
};

struct node {
  std::string id;
  store::mem_fs fs;
  std::shared_ptr<std::atomic<uint64_t>> now = std::make_shared<std::atomic<uint64_t>>(t0_ms);
  std::unique_ptr<store::local_store> st;
  std::unique_ptr<gossip::local_port> port;
  std::unique_ptr<gossip::gossiper> g;
  clock_model clock;
  bool up = true;
  uint64_t restarts = 0;
  uint64_t last_stamp = 0;
};

struct msg_event {
  uint64_t at, seq;
  std::string from, to, wire;
  bool operator>(const msg_event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

struct attempted {
  std::string value;
  uint64_t hlc = 0, node = 0;
  bool acked = false;
};

uint64_t parse_hex(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return v;
}

class world {
 public:
  explicit world(const params& p) : p_(p), rng_(p.seed) {
    for (int i = 0; i < p.nodes; ++i) {
      auto n = std::make_unique<node>();
      n->id = "n" + std::to_string(i);
      n->clock.offset_ms = static_cast<int64_t>(rng_() % 200) - 100;
      n->clock.drift = (static_cast<double>(rng_() % 2001) - 1000.0) * 1e-6;  // up to +-1 ms/s
      nodes_.push_back(std::move(n));
    }
    for (auto& n : nodes_) boot(*n);
  }

  report run() {
    uint64_t next_op = 0;
    int ops_done = 0;
    const uint64_t chaos_end = t0_ms + p_.duration_ms;
    while (now_ < chaos_end) {
      step();
      if (now_ >= next_op && ops_done < p_.ops) {
        client_op();
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
      if (!agreed_at && views_agree()) agreed_at = now_;
      if (!views_agree()) agreed_at = 0;
      if (converged_at && agreed_at && now_ >= std::max(converged_at, agreed_at) + 2000) break;
    }
    if (!agreed_at) fail("membership views did not agree within " + std::to_string(p_.quiet_ms) + " ms: " + views());
    rep_.converge_ms = converged_at ? converged_at - heal_at : p_.quiet_ms;
    if (!converged_at) fail("no convergence within " + std::to_string(p_.quiet_ms) + " ms after heal");
    check_model();
    check_ownership();
    if (p_.skew_ms > static_cast<int64_t>(p_.max_clock_offset_ms) && !p_.partitions && !p_.crashes) {
      if (refused_while_ahead_ == 0) fail("the skewed node never refused a write while its clock ran ahead");
      if (!in_range_since_) fail("the skewed node's clock never came back in range");
      else if (acked_after_range_ == 0) fail("the skewed node acknowledged no write after its clock came back");
    }
    for (auto& n : nodes_) rep_.records_repaired += n->g->stats().records_repaired;
    rep_.trace_hash = hash_;
    return rep_;
  }

 private:
  void fail(std::string what) {
    if (rep_.failures.size() < 10) rep_.failures.push_back(std::move(what));
    rep_.ok = false;
  }
  void mix(const void* data, size_t n) {
    const uint64_t h = XXH3_64bits(data, n);
    hash_ = XXH3_64bits_withSeed(&h, sizeof h, hash_);
  }

  void boot(node& n) {
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
    std::string why;
    auto st = store::local_store::open(o, n.fs, &why);
    if (!st) {
      fail(n.id + ": recovery failed: " + why);
      n.up = false;
      return;
    }
    n.st = std::move(st).value();
    n.port = std::make_unique<gossip::local_port>(*n.st);
    gossip::config c;
    c.node_id = n.id;
    c.gossip_addr = n.id;
    c.seeds = {"n0"};
    c.incarnation = 1 + n.restarts;
    c.seed = p_.seed * 1000 + std::hash<std::string>{}(n.id) + n.restarts;
    c.max_clock_offset_ms = p_.max_clock_offset_ms;
    n.g = std::make_unique<gossip::gossiper>(c, *n.port);
    auto* g = n.g.get();
    n.st->set_replication_sink([g](std::string_view, std::string_view d) { g->local_delta(std::string(d)); });
    n.g->start(*n.now);
    n.up = true;
  }

  void crash(node& n) {
    n.up = false;
    n.g.reset();
    n.port.reset();
    n.st->close();
    n.st.reset();
    n.fs.crash(&rng_);  // loses what was not synced, may tear the last write
  }

  void restart(node& n) {
    ++n.restarts;
    boot(n);
  }

  node* by_id(const std::string& id) {
    for (auto& n : nodes_)
      if (n->id == id) return n.get();
    return nullptr;
  }

  void step() {
    now_ += tick_ms;
    scripted_skew();
    for (auto& n : nodes_) {
      *n->now = n->clock.read(now_);
      if (n->up) {
        n->g->on_tick(*n->now);
        n->st->set_clock_ahead(n->g->clock_ahead());  // as node/cluster does
      }
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
      to->g->on_message(e.from, *m, *to->now, e.from);
      collect();
    }
  }

  void collect() {
    for (auto& n : nodes_) {
      if (!n->up) continue;
      for (auto& env : n->g->take_outbox()) {
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
      (void)n->g->take_changes();
    }
  }

  // A random fault: partition shapes, clogs, heals, crashes, clock jumps.
  void chaos() {
    const auto pick = [&] { return nodes_[rng_() % nodes_.size()]->id; };
    const int kind = static_cast<int>(rng_() % 10);
    auto cut_both = [&](const std::string& a, const std::string& b) {
      cut_.insert({a, b});
      cut_.insert({b, a});
    };
    switch (kind) {
      case 0:
      case 1:
        cut_.clear();  // heal
        break;
      case 2:  // isolate one
        if (!p_.partitions) break;
        {
          const std::string x = p_.liveness ? nodes_.back()->id : pick();
          for (auto& n : nodes_)
            if (n->id != x) cut_both(x, n->id);
        }
        break;
      case 3:  // symmetric halves
        if (!p_.partitions || p_.liveness) break;
        for (size_t i = 0; i < nodes_.size(); ++i)
          for (size_t j = 0; j < nodes_.size(); ++j)
            if ((i % 2) != (j % 2)) cut_.insert({nodes_[i]->id, nodes_[j]->id});
        break;
      case 4:  // asymmetric: a hears b, b does not hear a
        if (!p_.partitions || p_.liveness) break;
        cut_.insert({pick(), pick()});
        break;
      case 5:  // clog a link for a while
        clog_until_[{pick(), pick()}] = now_ + 200 + rng_() % 1000;
        break;
      case 6:  // crash or restart
        if (!p_.crashes) break;
        {
          node& n = p_.liveness ? *nodes_.back() : *nodes_[rng_() % nodes_.size()];
          if (n.up) crash(n);
          else restart(n);
        }
        break;
      case 7:  // clock jump within the tolerated offset (with the initial offsets,
               // clocks stay less than max_clock_offset_ms apart)
        nodes_[rng_() % nodes_.size()]->clock.jump_ms = static_cast<int64_t>(rng_() % 200) - 100;
        break;
      case 9:  // a clock jump beyond it, forward or back (in liveness mode
               // on the node outside the stable majority)
        if (p_.skew_ms) break;
        {
          node& n = p_.liveness ? *nodes_.back() : *nodes_[rng_() % nodes_.size()];
          const auto j = static_cast<int64_t>(p_.max_clock_offset_ms + 100 + rng_() % 2500);
          n.clock.jump_ms = rng_() % 3 == 0 ? -j : j;
        }
        break;
      case 8:  // majorities ring: each node hears only its two neighbours
        if (!p_.partitions || p_.liveness || nodes_.size() < 4) break;
        for (size_t i = 0; i < nodes_.size(); ++i)
          for (size_t j = 0; j < nodes_.size(); ++j) {
            const size_t d = (i + nodes_.size() - j) % nodes_.size();
            if (d != 0 && d != 1 && d != nodes_.size() - 1) cut_.insert({nodes_[i]->id, nodes_[j]->id});
          }
        break;
    }
    const uint64_t k = static_cast<uint64_t>(kind);
    mix(&k, sizeof k);
  }

  void client_op() {
    std::vector<node*> up;
    for (auto& n : nodes_)
      if (n->up && (!p_.liveness || n.get() != nodes_.back().get())) up.push_back(n.get());
    if (up.empty()) return;
    node& n = *up[rng_() % up.size()];
    const int kind = static_cast<int>(rng_() % 10);
    const std::string sid = "s" + std::to_string(rng_() % 8);
    if (kind < 6) {  // set a variable (creating the session if needed)
      const std::string var = "v" + std::to_string(rng_() % 3);
      const std::string value = "\"" + n.id + "-" + std::to_string(++counter_) + "\"";
      if (!n.st->exists(sid).value()) {
        create_request cr;
        cr.id = sid;
        cr.ttl_s = 86400;
        (void)n.st->create(cr);
      }
      auto& a = writes_[{sid, var}];
      a.push_back({value, 0, 0, false});
      patch_request pr;
      pr.variables = {{var, value}};
      auto r = n.st->patch(sid, pr);
      if (!r && r.error() == errc::clock_skew) ++rep_.clock_refused;
      if (p_.skew_ms && &n == nodes_.back().get()) check_skew_rule(n, r.has_value());
      if (r) {
        const std::string v = r->version();
        a.back().hlc = parse_hex(v.substr(0, 16));
        a.back().node = parse_hex(v.substr(16));
        a.back().acked = true;
        ++rep_.acked_writes;
        if (a.back().hlc <= n.last_stamp) fail(n.id + ": HLC went backwards");
        n.last_stamp = a.back().hlc;
      }
    } else if (kind < 8) {  // a session created, then deleted: must stay gone
      const std::string did = "d" + std::to_string(++counter_);
      create_request cr;
      cr.id = did;
      cr.ttl_s = 86400;
      if (n.st->create(cr) && n.st->remove(did)) deleted_.insert(did);
    } else if (kind == 8 && rng_() % 2 == 0) {  // reads (lazy touch) and explicit touches
      if (rng_() % 2) (void)n.st->get(sid);
      else (void)n.st->touch(sid);
    } else {  // a short-lived session: must expire everywhere
      const std::string eid = "e" + std::to_string(++counter_);
      create_request cr;
      cr.id = eid;
      cr.ttl_s = 1;
      if (auto r = n.st->create(cr)) expiring_[eid] = r->value.expires_at_ms();
    }
    mix(sid.data(), sid.size());
  }

  // The scripted skew (params::skew_ms) and the ground truth the checkers
  // hold the node to: whether its write clock (HLC or physical, the later)
  // runs more than max_clock_offset_ms ahead of most other up nodes' clocks.
  void scripted_skew() {
    if (!p_.skew_ms) return;
    node& n = *nodes_.back();
    if (now_ == t0_ms + 500) n.clock.jump_ms = p_.skew_ms;
    if (now_ == t0_ms + p_.skew_fix_ms) n.clock.jump_ms = 0;
    if (!n.up) return;
    size_t others = 0, ahead = 0;
    const uint64_t mine = std::max(n.st->clock_ms(), n.now->load());
    for (auto& o : nodes_) {
      if (o.get() == &n || !o->up) continue;
      ++others;
      if (mine > *o->now + p_.max_clock_offset_ms) ++ahead;
    }
    const bool truly = others > 0 && 2 * ahead > others;
    if (truly && !ahead_since_) ahead_since_ = now_;
    if (!truly && ahead_since_) ahead_since_ = 0, in_range_since_ = now_;
  }
  void check_skew_rule(node& n, bool acked) {
    if (p_.partitions || p_.crashes || p_.skew_ms <= static_cast<int64_t>(p_.max_clock_offset_ms)) return;
    if (acked && ahead_since_ && now_ >= ahead_since_ + p_.skew_detect_ms)
      fail(n.id + ": a write was acknowledged " + std::to_string(now_ - ahead_since_) +
           " ms after its clock ran ahead of most peers beyond max_clock_offset_ms");
    if (!acked && !ahead_since_ && in_range_since_ && now_ >= in_range_since_ + p_.skew_detect_ms)
      fail(n.id + ": writes still refused " + std::to_string(now_ - in_range_since_) +
           " ms after its clock came back in range");
    if (acked && ahead_since_) ++acked_while_ahead_;
    if (acked && !ahead_since_ && in_range_since_) ++acked_after_range_;
    if (!acked && ahead_since_) ++refused_while_ahead_;
  }

  void check_liveness() {
    // With a stable majority (all but the last node) connected, a write on
    // one of them reaches the others within 3 s.
    if (now_ < next_liveness_ || nodes_.size() < 3) return;
    next_liveness_ = now_ + 1000;
    node& a = *nodes_[0];
    const std::string id = "live" + std::to_string(++counter_);
    create_request cr;
    cr.id = id;
    cr.ttl_s = 86400;
    if (!a.st->create(cr)) {
      fail("liveness: a write on the majority was refused");
      return;
    }
    pending_live_.emplace_back(id, now_ + 3000);
    std::erase_if(pending_live_, [&](const auto& pl) {
      bool everywhere = true;
      for (size_t i = 0; i + 1 < nodes_.size(); ++i)
        everywhere &= nodes_[i]->up && nodes_[i]->st->peek(pl.first).has_value();
      if (everywhere) return true;
      if (now_ > pl.second) {
        fail("liveness: " + pl.first + " did not reach the majority within 3 s");
        return true;
      }
      return false;
    });
  }

  std::set<std::string> view_of(node& n) {
    std::set<std::string> v;
    if (n.g->self().status == gossip::member_status::alive) v.insert(n.id);
    for (const auto& [id, m] : n.g->members())
      if (m.status == gossip::member_status::alive) v.insert(id);
    return v;
  }
  bool views_agree() {
    for (auto& n : nodes_)
      if (!n->up || view_of(*n).size() != nodes_.size()) return false;
    return true;
  }
  std::string views() {
    std::string s;
    for (auto& n : nodes_) {
      s += n->id + ":{";
      if (n->up) {
        for (const auto& [id, m] : n->g->members()) s += id + "=" + gossip::status_name(m.status) + " ";
      }
      s += "} ";
    }
    return s;
  }

  bool converged() {
    uint64_t root = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->up) return false;
      const uint64_t r = nodes_[i]->st->merkle().root();
      if (i == 0) root = r;
      else if (r != root) return false;
    }
    return true;
  }

  void check_model() {
    for (auto& n : nodes_) {
      n->st->cleanup_expired();
      for (const auto& [key, as] : writes_) {
        const auto& [sid, var] = key;
        uint64_t best_hlc = 0, best_node = 0;
        bool any_acked = false;
        for (const auto& a : as)
          if (a.acked && std::tie(a.hlc, a.node) > std::tie(best_hlc, best_node))
            best_hlc = a.hlc, best_node = a.node, any_acked = true;
        if (!any_acked) continue;
        auto s = n->st->peek(sid);
        if (!s) {
          fail(n->id + ": lost session " + sid);
          ++rep_.lost;
          continue;
        }
        auto v = s->find(section::variables, var);
        if (!v) {
          fail(n->id + ": lost " + sid + "." + var);
          ++rep_.lost;
          continue;
        }
        // The value must be the acknowledged write with the highest stamp,
        // or a write (acked or in flight at a crash) stamped above it.
        bool fine = false;
        for (const auto& a : as)
          if (a.value == *v && (!a.acked || std::tie(a.hlc, a.node) >= std::tie(best_hlc, best_node))) fine = true;
        if (!fine) fail(n->id + ": " + sid + "." + var + " = " + std::string(*v) + " is not the last write");
      }
      for (const auto& d : deleted_)
        if (n->st->peek(d)) fail(n->id + ": deleted session " + d + " came back");
      // Nothing touches these: their expiry never moves, and once a node's
      // own clock passed it they are gone there (a node whose clock runs
      // behind may still serve one: TTLs are wall-clock time).
      for (const auto& [e, expiry] : expiring_)
        if (auto s = n->st->peek(e); s && (s->expires_at_ms() != expiry || n->now->load() >= expiry))
          fail(n->id + ": expired session " + e + " came back");
    }
  }

  void check_ownership() {
    for (int i = 0; i < 20; ++i) {
      const std::string id = "own" + std::to_string(i);
      std::set<std::string> owners;
      for (auto& n : nodes_) owners.insert(n->g->owner_of(id));
      if (owners.size() != 1) fail("nodes disagree on the owner of " + id);
    }
  }

  params p_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<node>> nodes_;
  uint64_t now_ = t0_ms;
  uint64_t seq_ = 0;
  uint64_t hash_ = 0;
  uint64_t counter_ = 0;
  uint64_t next_liveness_ = t0_ms + 3000;
  uint64_t ahead_since_ = 0, in_range_since_ = 0;
  uint64_t acked_while_ahead_ = 0, refused_while_ahead_ = 0, acked_after_range_ = 0;
  std::priority_queue<msg_event, std::vector<msg_event>, std::greater<>> net_;
  std::set<std::pair<std::string, std::string>> cut_;
  std::map<std::pair<std::string, std::string>, uint64_t> clog_until_;
  std::map<std::pair<std::string, std::string>, std::vector<attempted>> writes_;
  std::set<std::string> deleted_;
  std::map<std::string, uint64_t> expiring_;  // id -> expires_at_ms when created
  std::vector<std::pair<std::string, uint64_t>> pending_live_;
  report rep_;
};

}  // namespace

std::string report::describe() const {
  std::string s = ok ? "ok" : "FAILED";
  s += " trace=" + std::to_string(trace_hash) + " converge_ms=" + std::to_string(converge_ms) +
       " messages=" + std::to_string(messages) + " bytes=" + std::to_string(bytes) +
       " acked=" + std::to_string(acked_writes) + " lost=" + std::to_string(lost) +
       " repaired=" + std::to_string(records_repaired) + " clock_refused=" + std::to_string(clock_refused);
  for (const auto& f : failures) s += "\n    " + f;
  return s;
}

report run(const params& p) {
  world w(p);
  return w.run();
}

}  // namespace sessionmesh::sim
