// gossiper: one node's replication logic, sans-I/O. The driver (node/ or
// tests/sim) feeds it messages and ticks with the time, and sends what it
// puts in the outbox; it never reads a clock, opens a socket or logs.
//
//   membership   SWIM: a probe per interval, indirect probes through k
//                members, suspicion with incarnations and refutation,
//                dissemination piggybacked on probes, push-pull sync with
//                one member (or the seeds) every sync interval;
//   placement    with replicas R > 0 (gossip/placement.hpp) a delta goes
//                only to the alive replicas of its partition (the others
//                are told the write was not for them, in the same batch
//                ranges), acks count the replicas the write was sent to,
//                and anti-entropy compares only the partitions two nodes
//                share (ae_part). A partition this node holds but no longer
//                replicates is handed off: exchanged with one of its
//                replicas, and forgotten here once that replica's hash of
//                it equals ours with every merge there durable;
//   broadcast    every local delta goes to every alive peer in batches
//                (flushed each tick); a full queue drops and counts, and
//                anti-entropy repairs it;
//   anti-entropy with one random alive peer per interval (and at once with
//                a peer that comes back alive): root and level-2 hashes;
//                unless saturated, the responder answers with a diff sketch
//                sized from the level-2 difference, the initiator decodes
//                it and sends what only it holds, the ids only the peer
//                holds, and its greatest stamp of each id both hold in
//                different versions; each differing record then crosses
//                once, towards the side whose stamp is older (both ways on
//                a tie). With a saturated level 2, a sketch that did not
//                decode, or an older peer: leaf hashes of differing
//                subtrees, then (id hash, digest) entries of differing
//                leaves, then the records that differ, in both directions.
//                Capped per exchange;
//   ownership    rendezvous hashing of the id over alive members;
//   clock check  pings and acks carry the sender's clock; from each direct
//                ack the prober estimates how far its write clock (the HLC)
//                runs ahead of that peer's clock. When it runs more than
//                max_clock_offset_ms ahead of most measured peers, those
//                peers would refuse its stamps: clock_ahead() turns true and
//                the driver makes the store refuse local writes until it
//                falls back in range.
//
// The store is reached through store_port (the replicated adapter wires it
// to the local store). Randomness comes from a seeded generator it owns.
// Thread: not thread-safe; the driver serializes every call.
// Over 400 lines on purpose: one class's declaration, its state commented
// field by field; the definitions are split by concern (membership.cpp,
// gossiper.cpp, anti_entropy.cpp, streams.cpp, placement_sync.cpp).
#pragma once

#include <cstdint>
#include <array>
#include <bitset>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gossip/messages.hpp"
#include "gossip/placement.hpp"
#include "store/diff_sketch.hpp"

namespace sessionmesh::gossip {

struct config {
  std::string node_id;
  std::string gossip_addr;  // advertised
  std::string http_addr;
  std::vector<std::string> seeds;  // gossip addresses
  uint64_t incarnation = 1;        // start above any earlier life (e.g. start time in s)
  // memberlist's LAN preset, faster (probe 1 s / 500 ms and suspicion x4
  // there) so a dead node's sessions move within ~3 s on small clusters;
  // a falsely suspected node refutes with a higher incarnation.
  uint64_t probe_interval_ms = 500;
  uint64_t probe_timeout_ms = 250;
  unsigned indirect_probes = 3;
  unsigned suspicion_mult = 2;
  unsigned retransmit_mult = 4;
  uint64_t sync_interval_ms = 10000;
  uint64_t reconnect_interval_ms = 1000;  // push-pull with one dead member
  uint64_t ae_interval_ms = 1000;
  size_t delta_queue_max = 100000;
  size_t delta_batch_max = 512;
  size_t ae_max_leaves = 1024;
  size_t ae_max_records = 4096;
  uint64_t mark_interval_ms = 50;  // stream marks to a peer at most this often (when they changed)
  uint64_t max_clock_offset_ms = 500;  // as the store's HLC
  uint64_t clock_sample_max_age_ms = 30000;
  // Dead and left members are forgotten this long after they died or left
  // (long after every node has heard), so a table under node churn (pods
  // with fresh names) stays bounded; a forgotten node that comes back
  // simply joins again.
  uint64_t dead_reap_ms = 3600000;
  size_t max_members = 4096;  // beyond: unknown members are not added
  unsigned replicas = 0;      // R: replicas per partition (0: every node holds everything)
  uint64_t seed = 1;
};

struct leaf_item {
  std::string id;
  uint64_t id_hash;
  uint64_t digest;
};

// What the gossiper needs from the store.
class store_port {
 public:
  virtual ~store_port() = default;
  virtual uint64_t merkle_root() = 0;
  virtual std::vector<uint64_t> merkle_level(int level) = 0;  // level 2: 256, level 3: 4096
  virtual std::vector<leaf_item> leaf(uint32_t leaf) = 0;
  virtual std::vector<std::string> records(const std::vector<std::string>& ids) = 0;
  // (id hash, record) for the records held here whose id hashes these are.
  virtual std::vector<std::pair<uint64_t, std::string>> records_with_hash(const std::vector<uint64_t>& hashes) = 0;
  // The store's diff sketch folded to 2^bits cells per sub-table.
  virtual store::sketch sketch(int bits) = 0;
  // Merges a peer's record/delta without waiting for the disk: nullopt if
  // refused (bad clock, garbage), else the log position that must be
  // durable before the merge is acknowledged (0: none). The driver reports
  // durability back with gossiper::on_durable.
  virtual std::optional<uint64_t> apply(std::string_view encoded, std::string_view from) = 0;
  // The physical part (ms) of the last stamp the store issued or adopted.
  virtual uint64_t clock_ms() = 0;
  // Every live session id (the replication driver's `moved` events).
  virtual void for_each_live(const std::function<void(std::string_view id)>& fn) = 0;
  // Placement handoff: drops every record of partition p (its Merkle
  // level-2 node) here, without tombstones, if and only if that node's hash
  // is still expected (nothing arrived since it was compared). Returns how
  // many records went, or nullopt when the hash had moved.
  virtual std::optional<size_t> forget_partition(uint32_t p, uint64_t expected) = 0;
};

struct member {
  std::string node_id;
  std::string gossip_addr;
  std::string http_addr;
  uint64_t incarnation = 0;
  member_status status = member_status::alive;
  uint64_t since_ms = 0;  // when status last changed
  uint64_t last_heard_ms = 0;
  uint64_t acked_through = 0;  // highest local write seq this peer applied
  uint64_t last_sync_ms = 0;   // last anti-entropy exchange that found us equal
  bool in_sync = false;
  std::optional<uint64_t> merkle_root;  // the root this peer last sent us in anti-entropy
  bool sketch_failed = false;  // our last sketch from it did not decode: next exchange uses leaves
  bool reads_marks = false;    // it set ae_streams: stream_mark messages may go to it
  uint64_t marked_through = 0;  // the last stream_mark we sent it
  bool marks_sent = false;      // since its current incarnation
  int64_t clock_lead_ms = 0;      // how far our write clock ran ahead of its clock
  uint64_t clock_sampled_ms = 0;  // when that was measured (0: never)
};

struct envelope {
  std::string to_node;  // empty: to_addr (a seed not yet known by id)
  std::string to_addr;
  message msg;
};

struct counters {
  uint64_t probes = 0, probe_failures = 0, suspicions = 0, deaths = 0, refutations = 0;
  uint64_t deltas_sent = 0, deltas_applied = 0, deltas_dropped = 0, deltas_refused = 0;
  uint64_t ae_exchanges = 0, ae_equal = 0, records_repaired = 0, records_sent = 0;
  uint64_t ae_sketches = 0, ae_sketch_failures = 0;  // sketches decoded here; of them, incomplete
  uint64_t members_reaped = 0, members_refused = 0;
  uint64_t clock_ahead_episodes = 0;
  uint64_t partitions_handed_off = 0, records_handed_off = 0;  // placement: forgotten here after handoff
};

// A partition this node held without replicating it, forgotten once a
// replica had all of it (placement).
struct handoff {
  uint32_t partition = 0;
  std::string to;  // the replica that confirmed it
  size_t records = 0;
};

// Breaks the stream rule on purpose: a delta batch counts as applied
// through its last write even above a gap (as if nothing had been lost),
// so the simulator can show its read-your-writes checker catches it. Never
// set outside tests.
void set_broken_streams_for_testing(bool broken);

// Rendezvous (highest random weight) hashing: the candidate with the
// highest xxh3(id, 0, node id); ties broken by the smaller node id.
std::string rendezvous_owner(std::string_view id, const std::vector<std::string>& candidates);

class gossiper {
 public:
  gossiper(config cfg, store_port& store);

  void start(uint64_t now_ms);
  // from_addr: the sender's advertised gossip address (from the transport
  // handshake); lets a node that lost its member table (a restarted seed)
  // push-pull with whoever talks to it.
  void on_message(const std::string& from_node, const message& m, uint64_t now_ms,
                  const std::string& from_addr = {});
  void on_tick(uint64_t now_ms);
  // The seeds knocked on while no peer is alive (a reload), from the next tick.
  void set_seeds(std::vector<std::string> seeds) { cfg_.seeds = std::move(seeds); }
  uint64_t next_deadline() const;
  // A local write: its encoded delta and its partition (partition_count:
  // unknown, to every peer). Returns its write sequence number.
  uint64_t local_delta(std::string encoded, uint32_t partition = partition_count);
  // The store's log is durable through lsn: acks held for it go out.
  void on_durable(uint64_t lsn);
  // The highest log position an ack (or a repair) waits for, once: the
  // driver asks the store for its durability and calls on_durable. 0: none.
  uint64_t take_sync_wanted() { return std::exchange(sync_wanted_, 0); }
  // Drain leaving: mark self left and tell everyone.
  void leave(uint64_t now_ms);

  std::vector<envelope> take_outbox() { return std::exchange(outbox_, {}); }
  // Membership changes since the last call: (node, new status).
  std::vector<std::pair<std::string, member_status>> take_changes() { return std::exchange(changes_, {}); }
  // Partitions forgotten here after handoff since the last call.
  std::vector<handoff> take_handoffs() { return std::exchange(handoffs_, {}); }
  // Who replicates what: the owners (alive and suspect, this node
  // included) and R; its version rises on every change.
  const gossip::placement& layout() const { return placement_; }
  // Placement: partitions this node replicates but may not hold every
  // earlier write of: gained at a placement change, until an exchange finds
  // one equal with a node that replicated it before (the writes made then
  // went there, and streams count them here as not for this node). A
  // read-your-writes token is never counted met for them, this node's own
  // writes included (it may have handed the partition off and forgotten
  // it). Part of streams_version().
  const std::bitset<partition_count>& incomplete() const { return incomplete_; }
  uint64_t layout_version() const { return placement_version_; }

  const std::map<std::string, member>& members() const { return members_; }
  const member& self() const { return self_; }
  std::string owner_of(std::string_view id) const;
  // Alive peers (not self) that applied every local write through seq;
  // under placement only those the write was sent to (its partition's
  // replicas when it was made) count.
  size_t acked(uint64_t seq) const;
  uint64_t last_local_seq() const { return write_seq_; }
  size_t pending_deltas() const;
  const counters& stats() const { return stats_; }
  // Our write clock runs more than max_clock_offset_ms ahead of more than
  // half of the known (not left) peers (as measured in the last
  // clock_sample_max_age_ms): they would refuse our
  // stamps, so local writes should be refused. Re-evaluated every tick.
  bool clock_ahead() const { return clock_ahead_; }
  // It runs that far behind most of them: their fresh writes are refused
  // here until our clock passes them (replication into this node lags).
  bool clock_behind() const { return clock_behind_; }
  // Median lead over the measured peers (ms; negative: behind).
  int64_t clock_lead_ms() const { return clock_lead_ms_; }
  const std::string& node_id() const { return self_.node_id; }

  // Read-your-writes: what this node has applied of another node's write
  // stream. A stream is one life of its origin (epoch: the origin's start
  // incarnation), its writes numbered 1, 2, ... (local_delta). `through`:
  // every write numbered 1..through is applied here; `ranges`: applied runs
  // above a gap (first -> last). Learned from delta batches applied whole
  // and from the origin's stream_mark messages, which also name the epoch;
  // until the first mark of a life (epoch 0) nothing is claimed. Forgotten
  // when the origin's incarnation rises (it may have restarted): then the
  // life's (epoch, through) moves to `past`, which keeps the last few.
  struct stream_state {
    uint64_t epoch = 0;
    uint64_t through = 0;
    std::map<uint64_t, uint64_t> ranges;
    std::vector<std::pair<uint64_t, uint64_t>> past;  // (epoch, through) of earlier lives, oldest first
  };
  static constexpr size_t stream_past_max = 4;
  static constexpr size_t stream_ranges_max = 4096;  // per origin; past it the highest is forgotten
  static constexpr uint64_t batch_life(uint64_t epoch) { return epoch << 32; }
  const std::map<std::string, stream_state>& streams() const { return streams_; }
  uint64_t streams_version() const { return streams_version_; }  // changes with streams()
  // This node's stream: its start incarnation (replication_driver's
  // applied_view answers for every node, this one included).
  uint64_t epoch() const { return cfg_.incarnation; }

  void set_http_addr(std::string a) { self_.http_addr = std::move(a); }

 private:
  // membership
  void apply_update(const member_update& u, uint64_t now);
  void enqueue_update(const member& m);
  std::vector<member_update> piggyback();
  member_update update_of(const member& m) const;
  void set_status(member& m, member_status s, uint64_t now);
  std::vector<std::string> alive_peers() const;
  void probe(uint64_t now);
  void check_probe(uint64_t now);
  void check_suspects(uint64_t now);
  void send_sync(uint64_t now);
  void reconnect_dead(uint64_t now);
  void reap_dead(uint64_t now);
  std::vector<member_update> table() const;
  void send(const std::string& node, message m);
  void sample_clock(member& m, uint64_t their_clock, uint64_t sent, uint64_t now);
  void evaluate_clock(uint64_t now);
  // broadcast
  void flush_deltas(uint64_t now);
  // placement (placement.cpp in gossip/: the table; here: its upkeep)
  void refresh_placement(uint64_t now);
  // The partitions this node and peer both replicate, ascending.
  std::vector<uint32_t> shared_with(const std::string& peer) const;
  void start_part_exchange(uint64_t now);
  // An exchange that found parts equal may count m as holding every write
  // of ours meant for it: parts cover every partition both replicate, and
  // m's count reached the last placement change (or that was long ago).
  bool may_count_equal(const member& m, const std::vector<uint32_t>& parts, uint64_t now) const;
  void on_ae_part(const std::string& from, const ae_part& m);
  void on_ae_part_equal(const std::string& from, const ae_part_equal& m, uint64_t now);
  // streams (streams.cpp)
  void on_stream_applied(const std::string& from, uint64_t batch, uint64_t first, uint64_t through);
  void on_stream_mark(const std::string& from, const stream_mark& m);
  void send_marks(uint64_t now);
  void forget_stream(const std::string& origin);
  // anti-entropy
  void start_exchange(uint64_t now);
  void on_ae_l2(const std::string& from, const ae_l2& m);
  void on_ae_l3(const std::string& from, const ae_l3& m);
  void on_ae_leaves(const std::string& from, const ae_leaves& m, uint64_t now);
  void on_ae_records(const std::string& from, const ae_records& m, uint64_t now);
  void on_ae_sketch(const std::string& from, const ae_sketch& m, uint64_t now);
  void on_ae_diff(const std::string& from, const ae_diff& m, uint64_t now);
  // Merges records an exchange brought, and looks again soon.
  void apply_repairs(const std::string& from, const std::vector<std::string>& records, uint64_t now);
  // Sketch bits for a difference seen at level 2 (0: saturated, use leaves).
  int sketch_bits(const std::vector<uint64_t>& theirs) const;
  std::vector<std::string> records_by_hash(const std::vector<uint64_t>& hashes);

  config cfg_;
  store_port& store_;
  std::mt19937_64 rng_;
  member self_;
  std::map<std::string, member> members_;  // peers, not self
  std::vector<envelope> outbox_;
  std::vector<std::pair<std::string, member_status>> changes_;
  counters stats_;

  // dissemination: update + remaining transmissions
  std::deque<std::pair<member_update, unsigned>> updates_;

  // probing
  uint64_t next_probe_ms_ = 0;
  uint64_t seq_ = 0;
  std::vector<std::string> probe_order_;
  size_t probe_pos_ = 0;
  struct pending_probe {
    std::string target;
    uint64_t seq = 0;
    uint64_t sent_ms = 0;
    bool indirect = false;
    bool active = false;
  } probe_;
  std::map<uint64_t, std::pair<std::string, uint64_t>> relays_;  // our seq -> (requester, their seq)

  uint64_t next_sync_ms_ = 0;
  uint64_t next_reconnect_ms_ = 0;
  uint64_t next_ae_ms_ = 0;
  uint64_t exchange_ = 0;
  uint64_t ae_seq_ = 0;  // write_seq_ when exchange_ began
  std::string ae_next_peer_;  // exchange with it next (it came back alive)

  // broadcast
  uint64_t write_seq_ = 0;
  // Batch ids carry the stream's life in their top 32 bits (batch_life):
  // a receiver counts a batch only for the life it names, so a late batch
  // of an earlier life is not taken for one of this life. Receivers of
  // older builds echo the id unread.
  uint64_t batch_ = 0;
  // Queued for one peer: the write first..last's delta, or (delta empty)
  // a run of writes that are not for it (placement).
  struct queued {
    uint64_t first, last;
    std::string delta;
  };
  struct peer_queue {
    std::deque<queued> q;
    uint64_t skips_due_ms = 0;  // a batch of skips alone waits until then
    // Batches sent and not yet acknowledged: batch -> (first seq, through).
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> inflight;
    // Acknowledged ranges above a gap (first seq -> through): they count
    // once the gap is closed (an earlier batch's ack, or anti-entropy
    // finding the two stores equal).
    std::map<uint64_t, uint64_t> acked_ranges;
  };
  static constexpr size_t inflight_max = 4096;  // per peer; past it the oldest counts as lost
  // A peer acknowledged a batch: acked_through advances only over ranges
  // that join up with it (a lost or refused batch leaves a gap that only
  // anti-entropy closes).
  void on_batch_acked(const std::string& from, const deltas_ack& m);
  // Raise acked_through and absorb the acked ranges it now reaches.
  void advance_acked(member& m, uint64_t through);
  std::map<std::string, peer_queue> queues_;
  // placement
  gossip::placement placement_;
  uint64_t members_version_ = 1;     // rises whenever a member (or this node) comes, goes or changes status
  uint64_t placed_at_version_ = 0;  // members_version_ the placement was built at
  uint64_t placement_version_ = 0;
  uint64_t placement_seq_ = 0;  // write_seq_ when the placement last changed
  uint64_t placement_ms_ = 0;   // and when
  std::deque<std::pair<uint64_t, gossip::placement>> past_placements_;  // (version, table): the last few
  static constexpr size_t past_placements_max = 8;
  // Per recent local write (seq write_parts_first_ + i): its partition and
  // the placement version it was sent under (acked() counts its targets).
  std::deque<std::pair<uint32_t, uint64_t>> write_parts_;
  uint64_t write_parts_first_ = 1;
  static constexpr size_t write_parts_max = 1u << 20;
  // The ae_part exchange under way: the hashes sent, the placement then.
  std::map<uint32_t, uint64_t> part_sent_;
  uint64_t part_version_ = 0;
  size_t handoff_pos_ = 0;
  std::vector<std::string> ae_order_;  // placement: exchange partners, shuffled, in turn
  size_t ae_pos_ = 0;
  std::bitset<partition_count> incomplete_;
  std::array<std::vector<std::string>, partition_count> gained_from_;  // the replicas before the gain
  // p was found equal with from, which replicated p before this node
  // gained it: this node holds it all.
  void note_complete(uint32_t p, const std::string& from);
  std::vector<handoff> handoffs_;
  // A peer's acked_through below the last placement change is forgiven by
  // an equal exchange only this long after it (every ack waiter of those
  // writes has been answered by then: timeouts are at most 600 s).
  static constexpr uint64_t placement_forgive_ms = 610000;
  std::map<std::string, stream_state> streams_;
  uint64_t streams_version_ = 0;
  uint64_t next_mark_ms_ = 0;
  std::set<std::string> unknown_synced_;  // unknown senders we already push-pulled with
  // sender -> highest write seq we may ack after refusing some
  // of its deltas; cleared when anti-entropy finds us equal.
  std::map<std::string, uint64_t> ack_caps_;

  // Acks of applied deltas held until the log is durable through lsn.
  struct held_ack {
    uint64_t lsn;
    std::string to;
    deltas_ack ack;
  };
  std::deque<held_ack> held_acks_;
  static constexpr size_t held_acks_max = 65536;  // past it the oldest is dropped (the sender sees a gap)
  uint64_t durable_lsn_ = 0;  // as the driver reported
  uint64_t applied_lsn_ = 0;  // the highest log position of a merge here
  uint64_t sync_wanted_ = 0;
  // Every merge made here is durable: our root may be taken as "holds
  // every write merged" (anti-entropy's equality, ae_durable).
  bool merges_durable() const { return applied_lsn_ <= durable_lsn_; }
  // A merge's log position: acks wait for it; the driver is asked for it.
  void note_lsn(uint64_t lsn) {
    if (lsn <= durable_lsn_) return;
    applied_lsn_ = std::max(applied_lsn_, lsn);
    sync_wanted_ = std::max(sync_wanted_, lsn);
  }

  bool clock_ahead_ = false, clock_behind_ = false;
  int64_t clock_lead_ms_ = 0;
};

}  // namespace sessionmesh::gossip
