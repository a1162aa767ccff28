// cluster: the driver of replication for one node. It owns one thread with
// an io_context that runs the TCP transport and a 5 ms tick, and the
// gossiper, which is only ever called on that thread. Other threads reach
// it through the replication interface (local deltas are queued in write
// order under a mutex and handed over in one post) and through snapshots
// of the member table taken on the gossip thread.
// Thread: public methods are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gossip/gossiper.hpp"
#include "gossip/local_port.hpp"
#include "store/replication.hpp"
#include "transport/tcp_transport.hpp"

namespace sessionmesh::node {

struct cluster_options {
  std::string node_id;
  std::string listen_host;
  uint16_t listen_port = 7946;
  std::string advertise;
  std::string http_addr;
  std::vector<std::string> seeds;  // host:port, DNS names expanded at start
  std::string cluster_key;
  std::string cluster_name = "sessionmesh";
  uint64_t max_clock_offset_ms = 500;
  std::string contact_file;  // where "last contact with an alive peer" (wall ms) is kept; empty: nowhere
};

class cluster final : public store::replication {
 public:
  cluster(cluster_options opts, store::local_store& local);
  ~cluster() override;

  result<void> start(std::string* why);
  void stop();

  // store::replication
  uint64_t local_delta(std::string_view id, std::string_view delta) override;
  uint64_t last_seq() override;
  void when_acked(uint64_t seq, unsigned acks, uint32_t timeout_ms, std::function<void(bool)> done) override;
  std::string owner_of(std::string_view id) override;
  // Where a conditional write of id is decided: nullopt when this node owns
  // it; else the owner's HTTP address ("" when it is not known).
  std::optional<std::string> owner_http(std::string_view id);

  // Drain: waits (up to timeout) until an alive peer has applied every local
  // change, then marks this node left. Returns whether a peer confirmed.
  bool drain(uint32_t timeout_ms);
  std::string cluster_json();
  std::string health_json();
  std::vector<std::string> alerts();  // clock_skew, clock_behind
  size_t alive_peers();
  std::string metrics_text();
  // Test-only fault switch: drop every frame to and from these node ids.
  void set_blocked(std::set<std::string> nodes);

 private:
  struct view {
    std::vector<gossip::member> members;  // peers
    gossip::member self;
    std::vector<std::string> owners;      // alive + suspect node ids, sorted
    std::map<std::string, uint64_t> acked;  // alive peer -> acked_through
    gossip::counters stats;
    size_t pending = 0;
    uint64_t root = 0;
    bool clock_ahead = false, clock_behind = false;
    int64_t clock_lead_ms = 0;
  };
  void run();
  void tick();
  void pump();             // outbox -> transport, refresh the view
  void on_frame(const std::string& from, const std::string& addr, std::string_view payload);
  void take_deltas();
  void publish_moves(const std::vector<std::string>& before, const std::vector<std::string>& after,
                     const std::string& reason);
  std::vector<std::string> prev_owners_;  // gossip thread only
  uint64_t last_contact_written_ = 0;     // gossip thread only
  void record_contact();
  // Members by status, this node counted alive. REQUIRES: view_mu_ held.
  struct member_counts {
    size_t alive = 1, suspect = 0, dead = 0, left = 0;
  };
  member_counts count_members() const;
  // Ack waiters (when_acked): completed from pump() as acks arrive and from
  // tick() at their deadline; at most max_ack_waiters at once (past that a
  // waiter times out at once). REQUIRES: view_mu_ held to touch the list.
  struct ack_waiter {
    uint64_t seq;
    unsigned acks;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(bool)> done;
  };
  static constexpr size_t max_ack_waiters = 100000;
  // Nodes (this one included) that applied every delta up to seq. REQUIRES: view_mu_ held.
  size_t acked_count(uint64_t seq) const;
  // Completes the waiters that are met (or past their deadline, or all on stop).
  void complete_ack_waiters(bool all);
  std::vector<ack_waiter> ack_waiters_;  // guarded by view_mu_
  bool stopped_ = false;                 // guarded by view_mu_

  cluster_options opts_;
  store::local_store& local_;
  gossip::local_port port_;
  std::unique_ptr<gossip::gossiper> g_;
  struct io;
  std::unique_ptr<io> io_;
  std::thread thread_;

  std::mutex deltas_mu_;
  std::vector<std::pair<uint64_t, std::string>> deltas_;
  uint64_t delta_seq_ = 0;
  bool delta_posted_ = false;

  mutable std::mutex view_mu_;
  std::condition_variable view_cv_;
  view view_;
  std::set<std::string> blocked_;  // gossip thread only (set_blocked posts there)
};

}  // namespace sessionmesh::node
