// world: the simulated cluster — N real nodes (the production local store
// on a simulated file system + the production replication driver), the network
// between them, their clocks, the fault schedule, the client workload and
// the checkers. One seed decides everything. Internal to tests/sim: the
// public entry point is sim.hpp's run(). Split by concern:
//   world.cpp     nodes (boot, crash, restart), time steps, the network;
//   faults.cpp    the fault schedule (partitions, clogs, crashes, clocks);
//   workload.cpp  client operations and what was acknowledged, liveness;
//   checks.cpp    convergence, the model of acknowledged writes, ownership.
// Thread: one thread; not thread-safe.
#pragma once

#include <xxhash.h>

#include <algorithm>
#include <deque>
#include <atomic>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <functional>
#include <string>
#include <vector>

#include "gossip/local_port.hpp"
#include "gossip/replication_driver.hpp"
#include "crdt/stamp.hpp"
#include "store/mem_fs.hpp"
#include "store/replicated_store.hpp"
#include "tests/sim/sim.hpp"

namespace sessionmesh::sim::detail {

constexpr uint64_t t0_ms = 1'764'225'600'000ull;
constexpr uint64_t tick_ms = 5;

struct clock_model {
  int64_t offset_ms = 0;
  double drift = 0;  // ms per ms
  int64_t jump_ms = 0;
  uint64_t read(uint64_t true_ms) const {
    const double d = drift * static_cast<double>(true_ms - t0_ms);
    return static_cast<uint64_t>(static_cast<int64_t>(true_ms) + offset_ms + jump_ms +
                                 static_cast<int64_t>(d));
  }
};

// store::replication over the driver, as node/cluster is, minus threads:
// the replicated adapter (and its clock gate) runs as in production.
struct sim_replication final : store::replication {
  gossip::replication_driver* d = nullptr;
  std::shared_ptr<std::atomic<uint64_t>> now;
  bool gate = false;  // from the driver's output
  bool placed = false;  // --replicas: deltas name their partition
  uint64_t local_delta(std::string_view id, std::string_view delta) override {
    return d->local_delta(std::string(delta), placed ? gossip::partition_of(id) : gossip::partition_count);
  }
  uint64_t last_seq() override { return d->last_seq(); }
  void when_acked(uint64_t seq, unsigned acks, uint32_t timeout_ms, std::function<void(bool)> done) override {
    d->when_acked(seq, acks, now->load() + timeout_ms, std::move(done));
  }
  std::string owner_of(std::string_view id) override { return d->owner_of(id); }
  bool clock_ahead() override { return gate; }
};

struct node {
  std::string id;
  store::mem_fs fs;
  std::shared_ptr<std::atomic<uint64_t>> now = std::make_shared<std::atomic<uint64_t>>(t0_ms);
  std::unique_ptr<gossip::local_port> port;
  std::unique_ptr<gossip::replication_driver> d;  // the production driver
  sim_replication repl;
  std::unique_ptr<store::replicated_store> rs;  // the production adapter: clients write here
  store::local_store* st = nullptr;             // its local store (checks read it)
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

uint64_t parse_hex(std::string_view s);

class world {
 public:
  explicit world(const params& p);
  report run();

 private:
  void fail(std::string what);
  void mix(const void* data, size_t n);
  void boot(node& n);
  void crash(node& n);
  void restart(node& n);
  node* by_id(const std::string& id);
  void step();
  // Carries out every node's driver output: the outbox onto the network,
  // the clock gate onto the store, answered ack waiters (checked).
  void collect();
  // An acks=N write was answered met: at least N up nodes hold it now.
  void check_acked(const std::string& origin, const std::string& sid, const std::string& var, crdt::stamp ts,
                   unsigned acks);
  // A random fault: partition shapes, clogs, heals, crashes, clock jumps.
  void chaos();
  void client_op();
  // Where a client that talks to n reaches id: n itself, or under
  // placement the first up replica in n's view that n can reach (the HTTP
  // relay); nullptr when there is none (the client gets a 503).
  node* route(node& n, const std::string& id);
  // Placement: whether node id replicates record_id (in n0's final view).
  bool replicates(const std::string& node_id, const std::string& record_id);
  void write_var(node& n, const std::string& sid, const std::string& var);
  // The scripted skew (params::skew_ms) and the ground truth the checkers
  // hold the node to: whether its write clock (HLC or physical, the later)
  // runs more than max_clock_offset_ms ahead of most other up nodes' clocks.
  void scripted_skew();
  void check_skew_rule(node& n, bool acked);
  void check_liveness();
  std::set<std::string> view_of(node& n);
  bool views_agree();
  std::string views();
  bool converged();
  void check_model();
  void check_ownership();
  // Read-your-writes: a node whose applied view covers a recent write's
  // token entry holds that write (or a later one) in its store.
  void check_tokens();

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
  struct token_write {
    gossip::token_entry e;
    std::string origin, sid, var;
    crdt::stamp ts;
    std::shared_ptr<const gossip::placement> layout;  // the writer's, when it wrote
  };
  std::deque<token_write> token_writes_;  // the last acknowledged writes
  std::set<std::string> deleted_;
  std::map<std::string, uint64_t> expiring_;  // id -> expires_at_ms when created
  std::vector<std::pair<std::string, uint64_t>> pending_live_;
  report rep_;
};

}  // namespace sessionmesh::sim::detail
