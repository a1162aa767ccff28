// replication_driver: everything one node does to replicate, sans-I/O, and
// the only copy of it: node/cluster (the Asio shell), embedded mode (through
// node/cluster) and tests/sim all run this class.
//
// It owns the gossiper (membership, delta broadcast, anti-entropy schedule)
// and adds the rules around it:
//   - the delta stream: local deltas numbered 1, 2, ... in write order;
//   - ack tracking by write sequence: a waiter for (seq, acks) is met once
//     `acks` nodes, this one included, applied every delta through seq, or
//     answered false at its deadline (or on stop); at most max_ack_waiters
//     wait at once, past that a new one is answered false at once;
//   - the clock gate: when this node's write clock runs too far ahead of most
//     peers, the output says so (the shell closes the store to local
//     writes) and says again when it is back in range;
//   - ownership: owners are the alive and suspect members (self included);
//     when that set changes, a `moved` batch for every live session held
//     here whose owner changed, with a reason (node_dead, node_left,
//     node_joined). Under placement (--replicas R) a session's owner is its
//     partition's first replica (gossip/placement.hpp);
//   - handoffs: partitions forgotten here once a replica held them all.
//
// Time comes in as an argument (the store's physical clock in ms); nothing
// here reads a clock, opens a socket, logs or takes a lock. Callbacks handed
// to when_acked are never called from here: they come back in the output,
// and the shell runs them.
// Thread: not thread-safe; the shell serializes every call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gossip/gossiper.hpp"
#include "gossip/session_token.hpp"
#include "sessionmesh/session_store.hpp"

namespace sessionmesh::gossip {

using ack_callback = std::function<void(bool met)>;

// Breaks the ack rule on purpose: a waiter counts every alive peer as soon
// as the delta is handed over (acking before the peers applied it), so the
// simulator can show its checkers catch a broken driver rule. Never set
// outside tests.
void set_broken_ack_for_testing(bool broken);

struct moved_batch {
  std::string reason;  // node_dead, node_left, node_joined
  std::vector<session_move> moves;
};

// A copy of the driver's state for views (GET /v1/cluster, health, metrics).
struct cluster_view {
  member self;
  std::vector<member> members;      // peers
  std::vector<std::string> owners;  // alive + suspect node ids, sorted
  std::shared_ptr<const placement> layout;  // who replicates which partition
  counters stats;
  size_t pending = 0;  // deltas queued to peers
  bool clock_ahead = false, clock_behind = false;
  int64_t clock_lead_ms = 0;
};

// What a call produced, for the shell to carry out (take_output()).
struct driver_output {
  std::vector<envelope> outbox;                                // send each (to_node, else to_addr)
  std::vector<std::pair<std::string, member_status>> changes;  // member status changes, to log
  std::optional<bool> clock_ahead;                  // the write gate changed (true: refuse local writes)
  std::vector<moved_batch> moves;                   // at most moved_batch_max moves each
  std::vector<std::pair<ack_callback, bool>> acks;  // waiters answered: run fn(met)
  std::vector<handoff> handoffs;                    // partitions forgotten here (log, count)
  // Merges from peers wait for the store's log through this position: ask
  // the store, then call on_durable(lsn) (never before it is durable).
  std::optional<uint64_t> sync;
};

// What this node has applied of every write stream it knows, for checking
// read-your-writes tokens off the driver's thread (a copy, rebuilt when it
// changes). Its own stream: every life up to self_epoch.
struct applied_view {
  uint64_t self_node = 0, self_epoch = 0;
  struct fact {
    uint64_t node, epoch, through;
  };
  std::vector<fact> facts;  // sorted by (node, epoch)
  // Placement: partitions here that may lack earlier writes (gossiper::incomplete).
  std::bitset<partition_count> incomplete;
  // Whether every write the entry names is applied here.
  bool covers(const token_entry& e) const;
  // The first entry of t not covered (nullopt: all are), for a read of a
  // record in partition p (partition_count: any): in an incomplete
  // partition none is.
  std::optional<token_entry> first_unmet(const session_token& t, uint32_t p = partition_count) const;
  // Whether this node counts that stream at all (it has had a mark of that
  // life): if not, waiting is of no use until the next mark.
  bool knows(const token_entry& e) const;
};

class replication_driver {
 public:
  static constexpr size_t max_ack_waiters_default = 100000;
  static constexpr size_t moved_batch_max = 1000;

  // store also feeds moved events (for_each_live) and the anti-entropy.
  replication_driver(config c, store_port& store, size_t max_ack_waiters = max_ack_waiters_default);

  void start(uint64_t now_ms);
  void on_message(const std::string& from_node, const message& m, uint64_t now_ms,
                  const std::string& from_addr = {});
  // Flushes queued deltas, probes, anti-entropy, ack deadlines.
  void on_tick(uint64_t now_ms);
  // A local write's encoded delta, in write order, and its partition
  // (partition_of of its record id; partition_count: to every peer).
  // Returns its sequence number (the previous one + 1).
  uint64_t local_delta(std::string encoded, uint32_t partition = partition_count);
  // done(true) once `acks` nodes (this one included) applied every delta
  // through seq; done(false) at deadline_ms (driver time) if not. A seq
  // above the last delta handed over waits for deltas yet to come.
  void when_acked(uint64_t seq, unsigned acks, uint64_t deadline_ms, ack_callback done);
  // Read-your-writes: done(true) once every write t names is applied here,
  // done(false) at deadline_ms if not (same limits and output as when_acked).
  void when_applied(session_token t, uint64_t deadline_ms, ack_callback done);
  // Placement drain: done(true) once this node holds no record (it handed
  // every partition off after leaving), done(false) at deadline_ms.
  void when_handed_off(uint64_t deadline_ms, ack_callback done);
  // Rebuilt after a step that changed what is applied (compare pointers).
  std::shared_ptr<const applied_view> applied() const { return applied_; }
  // The store's log is durable through lsn (see driver_output::sync).
  void on_durable(uint64_t lsn, uint64_t now_ms);
  // Drain: mark this node left and tell everyone.
  void leave(uint64_t now_ms);
  // Every waiter answered false; later waiters too.
  void stop();

  driver_output take_output();

  const gossiper& gossip() const { return g_; }
  void set_seeds(std::vector<std::string> seeds) { g_.set_seeds(std::move(seeds)); }
  cluster_view view() const;
  // Alive and suspect members, this node included when alive: sorted.
  const std::vector<std::string>& owners() const { return layout_->nodes(); }
  std::shared_ptr<const placement> layout() const { return layout_; }
  std::string owner_of(std::string_view id) const;
  // Nodes (this one included) that applied every local delta through seq.
  size_t acked_count(uint64_t seq) const;
  uint64_t last_seq() const { return g_.last_local_seq(); }
  size_t waiting() const { return waiters_.size(); }

 private:
  // After every step: collect the gossiper's output, re-evaluate owners,
  // the gate and the waiters.
  void settle(uint64_t now_ms);
  void check_waiters(uint64_t now_ms);
  void publish_moves(const placement& before, const std::string& reason);

  struct waiter {
    uint64_t seq;
    unsigned acks;
    uint64_t deadline_ms;
    ack_callback done;
  };

  struct apply_waiter {
    session_token t;
    uint64_t deadline_ms;
    ack_callback done;
  };
  void check_apply_waiters(uint64_t now_ms);
  template <class W, class Met>
  void answer_due(std::vector<W>& ws, uint64_t now_ms, Met met_of);
  void refresh_applied();
  std::vector<apply_waiter> apply_waiters_;
  struct empty_waiter {
    uint64_t deadline_ms;
    ack_callback done;
  };
  std::vector<empty_waiter> empty_waiters_;
  std::shared_ptr<const applied_view> applied_;
  uint64_t applied_version_ = UINT64_MAX;

  gossiper g_;
  store_port& store_;
  size_t max_waiters_;
  std::vector<waiter> waiters_;
  std::shared_ptr<const placement> layout_ = std::make_shared<placement>();
  uint64_t layout_version_ = 0;
  bool gate_ahead_ = false;
  bool stopped_ = false;
  uint64_t now_ms_ = 0;  // the last time given
  driver_output out_;
};

}  // namespace sessionmesh::gossip
