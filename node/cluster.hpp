// cluster: the Asio shell around the replication driver
// (gossip/replication_driver.hpp) for one node. It owns one thread with an
// io_context that runs the TCP transport and a 5 ms tick; the driver is only
// ever called on that thread, and the shell carries out what it outputs
// (frames to send, the clock gate, `moved` events, answered ack waiters).
// Other threads reach it through the replication interface (local deltas
// are queued in write order under a mutex and handed over in one post; ack
// waiters are posted) and through a snapshot of the member table taken on
// the gossip thread after every step.
// Thread: public methods are thread-safe.
#pragma once

#include <bitset>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gossip/local_port.hpp"
#include "gossip/replication_driver.hpp"
#include "store/file_writer.hpp"
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
  unsigned replicas = 0;     // R per partition (0: every node holds everything)
  std::string contact_file;  // where "last contact with an alive peer" (wall ms) is kept; empty: nowhere
};

class cluster final : public store::replication {
 public:
  cluster(cluster_options opts, store::local_store& local);
  ~cluster() override;

  result<void> start();  // errors carry a detail (a gossip port in use)
  void stop();

  // store::replication
  uint64_t local_delta(std::string_view id, std::string_view delta) override;
  uint64_t last_seq() override;
  void when_acked(uint64_t seq, unsigned acks, uint32_t timeout_ms, std::function<void(bool)> done) override;
  std::string owner_of(std::string_view id) override;
  bool clock_ahead() override { return clock_ahead_.load(std::memory_order_relaxed); }
  // Where a conditional write of id is decided: nullopt when this node owns
  // it; else the owner's HTTP address ("" when it is not known).
  std::optional<std::string> owner_http(std::string_view id);
  // Placement: nullopt when this node replicates the record (id as stored:
  // a session id, or "~gp:" + a global program's) and holds its partition
  // whole; else the HTTP address of the replica that serves it (the first
  // alive one that held the partition before the last placement change,
  // else the first alive one; "" when none is alive). A partition gained
  // here and still being filled is served by a replica that held it, when
  // one is alive.
  std::optional<std::string> replica_http(std::string_view record_id);
  unsigned replicas() const { return opts_.replicas; }
  // Placement: per node (this one included), the partitions whose first
  // alive replica it is, with its HTTP address; and how many partitions
  // have no alive replica. Empty before the first placement and without
  // placement.
  struct source {
    std::string node_id;
    std::string http_addr;
    bool self = false;
    std::bitset<256> parts;
  };
  std::vector<source> sources(unsigned* uncovered) const;

  // Drain, never waiting: once an alive peer has applied every local change
  // (or timeout_ms passed first), this node is marked left and told to
  // everyone, then done(unconfirmed) runs on the gossip thread: 0 when a
  // peer confirmed every change, else how many of this node's changes no
  // peer confirmed (they are on this node alone). With no alive or suspect
  // peer it does not wait: 0 if there was no change.
  void drain(uint32_t timeout_ms, std::function<void(uint64_t unconfirmed)> done);
  // A copy of the driver's view (http/cluster_views.hpp renders it),
  // taken on the gossip thread after its last step.
  gossip::cluster_view snapshot() const;
  // Live sessions per owner (walks the store: not on a hot path).
  std::map<std::string, uint64_t> owned_counts();
  uint64_t merkle_root() const;
  uint64_t now_ms() const;  // the store's physical clock
  std::vector<std::string> alerts();  // clock_skew, clock_behind
  size_t alive_peers();
  // For a thread that may wait (the migrator's, never an I/O thread):
  // returns true once an alive peer is known, false at `until` or once
  // give_up() (checked at least every 100 ms) is true.
  bool wait_for_peer(std::chrono::steady_clock::time_point until, const std::function<bool()>& give_up);
  std::string metrics_text();
  // Members by status, this node counted alive: alive, suspect, dead, left.
  std::array<uint64_t, 4> member_totals() const;
  // Writes made here that the furthest-behind alive or suspect peer has not confirmed.
  uint64_t max_peer_lag();
  // Reload: the gossip addresses to knock on while alone (DNS names
  // resolved again, without waiting on any thread).
  void set_seeds(std::vector<std::string> seeds);
  // Read-your-writes (gossip/session_token.hpp), from any thread, never
  // waiting: whether every write t names is applied here; done(met) once it
  // is or timeout_ms passed (on the gossip thread); the HTTP address of the
  // first node t names whose writes are not all applied here, when it is
  // alive or suspect ("" if not); this node's entry for its write seq.
  // token_state: 1 met, 0 not yet, -1 not yet and no count of the first
  // unmet entry's stream here (waiting is of no use).
  // record_id: the record the read is of ("" when none): under placement
  // a partition gained here and not yet synced counts no other node's writes.
  int token_state(const gossip::session_token& t, std::string_view record_id = {}) const;
  void when_token_applied(gossip::session_token t, uint32_t timeout_ms, std::function<void(bool)> done);
  std::string token_node_http(const gossip::session_token& t, std::string_view record_id = {}) const;
  gossip::token_entry token_entry_for(uint64_t seq) const;
  // Test-only fault switch: drop every frame to and from these node ids.
  void set_blocked(std::set<std::string> nodes);

 private:
  void tick();
  void flush_then_close(std::chrono::steady_clock::time_point until);
  void on_frame(const std::string& from, const std::string& addr, std::string_view payload);
  void take_deltas();
  // Carries out the driver's output and refreshes the view. Gossip thread.
  void settle();
  uint64_t last_contact_written_ = 0;  // gossip thread only
  // Writes the contact file off the gossip thread (set when there is one).
  std::unique_ptr<store::file_writer> contact_writer_;
  void record_contact();
  const transport::transport_counters& transport_counters() const;

  cluster_options opts_;
  store::local_store& local_;
  gossip::local_port port_;
  std::unique_ptr<gossip::replication_driver> d_;  // gossip thread only (after start)
  struct io;
  std::shared_ptr<io> io_;  // shared: a late disk completion finds it (weak) or not
  std::thread thread_;

  std::mutex deltas_mu_;
  struct queued_delta {
    uint64_t seq;
    std::string delta;
    uint32_t partition;
  };
  std::vector<queued_delta> deltas_;
  uint64_t delta_seq_ = 0;
  bool delta_posted_ = false;

  // The replica that serves partition p: the first alive one that is
  // complete (here: not a gained partition still being filled; another
  // node: it held p before the last placement change), else the first
  // alive one; "" when none is alive. view_mu_ held.
  std::string serving_replica(uint32_t p) const;
  std::string http_of(const std::string& node) const;  // view_mu_ held
  mutable std::mutex view_mu_;
  std::condition_variable view_cv_;  // notified when the view is refreshed
  gossip::cluster_view view_;
  std::shared_ptr<const gossip::placement> prev_layout_;  // the placement before the last change (view_mu_)
  std::shared_ptr<const gossip::applied_view> applied_;  // the driver's, after its last step
  uint64_t epoch_ = 0;  // this node's stream (its start incarnation)
  bool stopped_ = false;           // guarded by view_mu_
  std::set<std::string> blocked_;  // gossip thread only (set_blocked posts there)
  bool closing_ = false;           // gossip thread only: stop() began
  bool closed_io_ = false;         // gossip thread only: the transport closed
  std::atomic<bool> clock_ahead_{false};  // the gate, set from the driver's output
  std::array<std::atomic<uint64_t>, 3> moved_total_{};  // sessions moved: node_dead, node_joined, node_left
};

}  // namespace sessionmesh::node
