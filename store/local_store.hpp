// local_store: the local adapter. Sessions live in a sharded in-memory map
// of packed records (reads are a shard read-lock and a refcount bump); every
// write is an HLC-stamped delta merged into the map, appended to the WAL
// under the shard lock, published on the change feed, and acknowledged per
// fsync mode once the shard lock is released. A maintenance thread reaps
// expired sessions and old tombstones on the reaper interval and takes a
// snapshot once the WAL has grown past options.snapshot_wal_bytes.
// Thread: implements session_store; every method is thread-safe.
// Lock order: shard -> feed; the HLC lock is a leaf.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "crdt/record.hpp"
#include "sessionmesh/options.hpp"
#include "sessionmesh/session_store.hpp"
#include "store/change_feed.hpp"
#include "store/coarse_clock.hpp"
#include "store/file_io.hpp"
#include "store/merkle_index.hpp"
#include "store/record_map.hpp"
#include "store/shared_clock.hpp"
#include "store/validate.hpp"
#include "store/wal.hpp"

namespace sessionmesh::store {

class local_store final : public session_store {
 public:
  // Opens (and recovers from options.data_dir, if set) through fs.
  static result<std::unique_ptr<local_store>> open(const store_options& options, file_system& fs);
  ~local_store() override;

  SM_SESSION_STORE_OVERLOADS;
  result<create_result> create(create_request req, write_ctx& ctx) override;
  result<session> get(std::string_view id) override;
  result<void> read(std::string_view id, session_reader fn) override;
  result<bool> exists(std::string_view id) override;
  result<session> peek(std::string_view id) override;
  result<session> patch(std::string_view id, patch_request req, write_ctx& ctx) override;
  result<void> remove(std::string_view id, write_ctx& ctx) override;
  result<void> remove_if_match(std::string_view id, std::string_view if_match, write_ctx& ctx) override;
  result<session> touch(std::string_view id, write_ctx& ctx) override;
  result<session> set_worker(std::string_view id, std::string_view worker_id, const write_limits& lim,
                             write_ctx& ctx) override;
  result<global_program> put_global_program(std::string_view id, std::string json, const write_limits& lim,
                                            write_ctx& ctx) override;
  result<global_program> get_global_program(std::string_view id) override;
  result<void> delete_global_program(std::string_view id, write_ctx& ctx) override;
  result<std::vector<global_program>> list_global_programs(std::string_view prefix, size_t limit,
                                                           std::string_view cursor) override;
  // Global programs are records of the same map under ids "~gp:" + id (a
  // character no session id may hold): replicated, logged and expired like
  // sessions, but left out of lists, counts, quotas and the change feed.
  static std::string global_record_id(std::string_view id) {
    return std::string(global_record_prefix).append(id);
  }
  static bool is_global_record(std::string_view record_id) {
    return record_id.substr(0, global_record_prefix.size()) == global_record_prefix;
  }
  result<list_page> list(std::string_view prefix, size_t limit, std::string_view cursor) override;
  size_t snapshot_parts() override;  // one per shard of the record map
  result<std::vector<std::string>> snapshot_part(std::string_view prefix, size_t part) override;
  store_stats stats() override;
  uint64_t cleanup_expired() override;
  uint64_t expired_in_namespace(std::string_view ns) override;
  // Counts one expired record in its namespace. REQUIRES: not holding ns_mu_.
  void count_expired(std::string_view record_id);
  std::string owner_of(std::string_view id) override;
  const std::string& node_id() const override { return options_.node_id; }
  std::string current_cursor() override { return feed_.current_cursor(); }
  result<change_batch> read_changes(std::string_view cursor, size_t max) override {
    return feed_.read(cursor, max);
  }
  subscription subscribe(std::function<void(const change&)> fn) override {
    return feed_.subscribe(std::move(fn));
  }
  void close() override;
  void reconfigure(const runtime_settings& s) override;
  std::string_view adapter_name() const override { return "local"; }

 protected:
  void await_write(const write_token& t, unsigned acks, uint32_t timeout_ms, write_completion done) override;

 public:

  // --- replication seams (used by the replicated adapter; see replication.hpp)
  // Merges a delta or state from a peer (canonical encoding). Refuses a
  // remote clock more than max_clock_offset_ms ahead (clock_skew). Returns
  // whether anything changed; a change is logged and published with origin.
  result<bool> apply_remote(std::string_view encoded, std::string_view origin);
  // The same, without waiting for the disk: applied and visible on return;
  // `lsn` is the log position to wait for (durable_lsn / when_lsn_durable)
  // before telling anyone it is held here (0: nothing to wait for, as with
  // fsync batch or off).
  struct applied {
    bool changed = false;
    uint64_t lsn = 0;
  };
  result<applied> apply_remote_deferred(std::string_view encoded, std::string_view origin);
  // Calls done once the log holds lsn durably (io_error, unavailable);
  // never waits (see wal::when_durable).
  void when_lsn_durable(uint64_t lsn, std::function<void(result<void>)> done);
  // Waits until lsn is durable (for single-threaded drivers: the simulator).
  result<void> sync_lsn(uint64_t lsn);
  // Called with every local write's encoded delta, under the shard lock
  // (must be quick); returns the delta's place in the replication stream.
  using replication_sink = std::function<uint64_t(std::string_view id, std::string_view delta)>;
  void set_replication_sink(replication_sink sink);
  // The Merkle index (and diff sketch) of every record, for anti-entropy.
  // It is built on first use (build_index), so a store that never
  // replicates never hashes its records; after that every write keeps it
  // in step.
  const merkle_index& merkle() {
    build_index();
    return merkle_;
  }
  // Builds the index if it is not built yet: each shard's records are
  // hashed under its lock, then added at once. A cluster calls it before it
  // starts to gossip (up to a second per million records, on the caller's
  // thread). Thread: any; a second caller waits for the first.
  void build_index();
  struct leaf_entry {
    std::string id;
    uint64_t id_hash;
    uint64_t digest;
  };
  std::vector<leaf_entry> leaf_entries(uint32_t leaf);  // in id-hash order
  // The encoded records (tombstones and expired ones included) of these ids.
  std::vector<std::string> raw_records(const std::vector<std::string>& ids);
  // The encoded records whose id hashes (id_hash64) are these, with their
  // hash, in hash order: one pass over each shard they fall in, no digests
  // computed.
  std::vector<std::pair<uint64_t, std::string>> records_by_hash(const std::vector<uint64_t>& hashes);
  uint64_t clock_refusals() const { return clock_refusals_.load(); }
  // Calls fn(id) for every live session, shard by shard under read locks
  // (one pass over the map; no order). fn must not call back into the store.
  void for_each_live(const std::function<void(std::string_view id)>& fn);
  // Publishes a `moved` event on the change feed (ownership is not stored state).
  void publish_moved(std::vector<session_move> moves, std::string reason);
  uint64_t now_physical_ms() const { return now_ms(); }
  // The physical part (ms) of the last stamp issued or adopted (the HLC).
  uint64_t clock_ms();

  // Placement handoff: drops every record of partition p (the top 8 bits of
  // the id hash, the Merkle level-2 node p) without tombstones, if and only
  // if that node's hash is `expected` (checked and dropped under the one
  // shard lock p falls in, so a write that raced in keeps it). Asks the
  // maintenance thread for a snapshot, so the records do not come back from
  // the log at the next start. Returns how many went, or nullopt.
  std::optional<size_t> forget_partition(uint32_t p, uint64_t expected);

  // Takes a snapshot now (data_dir only). Returns records written.
  result<uint64_t> snapshot_now();
  wal_counters wal_stats() const;
  size_t watchers() const { return feed_.subscribers(); }

 private:
  // remove and remove_if_match (if_match null: unconditional).
  result<void> remove_impl(std::string_view id, const std::string_view* if_match, write_ctx& ctx);
  local_store(const store_options& options, file_system& fs, uint64_t incarnation);

  uint64_t now_ms() const;
  // now_ms() for a decision against edge (now < edge) that the coarse clock
  // can take when it is far enough from the edge (store/coarse_clock.hpp).
  uint64_t now_ms_before(uint64_t edge) const {
    return read_clock_ms(read_slack_ms_, edge, [this] { return now_ms(); });
  }
  // get and read: calls found(view) on the live session id, under a read
  // guard and with no lock; when a touch is due, records it first and calls
  // found on the touched record.
  template <class F>
  std::error_code read_live(std::string_view id, F&& found);
  result<crdt::stamp> tick(uint64_t now);
  // Validates and canonicalizes entry updates of one section.
  result<void> check_entries(std::vector<entry_update>& updates, bool allow_removal);
  // Merges delta into the record the shard holds for delta.id (if any),
  // logs it, swaps the map entry and publishes the change.
  // REQUIRES: unique lock on sh. *tok receives the WAL position to commit
  // and the replication sequence of the delta.
  result<session> apply_locked(shard& sh, const crdt::session_record* current,
                               const crdt::session_record& delta, change_type type, write_token* tok);
  // Same, with the merged state already computed by the caller.
  result<session> apply_locked(shard& sh, const crdt::session_record* current, crdt::session_record next,
                               const crdt::session_record& delta, change_type type, write_token* tok);
  // A local write (change_type::put) onto the live record p the shard
  // holds: spliced into its bytes when crdt::merge_encoded can, else
  // decoded and merged. lim: limits the result must respect (only growth
  // is refused), or null. REQUIRES: unique lock on sh.
  result<session> write_packed_locked(shard& sh, const detail::packed_record* p, const crdt::session_record& delta,
                                      const store_limits* lim, write_token* tok);
  // Whether a record was held, existed before, and exists after a write.
  struct existence {
    bool had, was, is;
  };
  // The tail of every local write: log the delta, count, swap the new
  // encoding in, publish the change (version: the merged record's content
  // version, or its tombstone for a delete), hand the delta to replication.
  // header: encoded's header if the caller has it (else it is read).
  result<session> install_locked(shard& sh, const crdt::session_record& delta, change_type type, std::string_view encoded,
                                 existence e, const crdt::stamp& version, write_token* tok,
                                 const crdt::packed_header* header = nullptr);
  // Acknowledges a write per ctx: waits for durability, or (defer) hands
  // the token to the caller.
  result<session> commit(result<session> r, const write_token& tok, write_ctx& ctx);
  // Creates req.id unless a live record holds it (then returns that one,
  // *created false). global: a global program record (its own quota and counters).
  result<session> create_locked(shard& sh, create_request& req, uint64_t now, write_token* tok,
                                bool* created, bool global = false);
  // Keeps the live counts (sessions or global programs, total and per
  // namespace) in step when a record's liveness changes.
  void count_live(std::string_view record_id, bool was, bool is);
  // Live records under one ns_live_ key ("s:" or "g:" + namespace).
  int64_t namespace_count(const std::string& key);
  // Publishes a change on the feed unless it is of a global program
  // (change_feed::publish: version null for none, origin empty for ours).
  // release_into: the pool of the shard whose lock the caller holds
  // (change_feed::publish).
  void publish(change_type type, std::string_view id, const crdt::stamp* version, session value,
               std::string_view origin = {}, record_pool* release_into = nullptr);
  result<list_page> list_records(std::string_view full_prefix, size_t strip, size_t limit,
                                 std::string_view cursor);
  // only_if_due: a read's lazy touch, which never waits for the disk (a
  // touch lost in a crash costs at most the last group commit's touches).
  result<session> touch_impl(std::string_view id, bool only_if_due, write_ctx& ctx);
  void quota_check_warn(uint64_t current);
  void maintenance_loop();
  bool apply_recovered(std::string_view payload);
  // A snapshot's records (unique ids): checked and packed on two threads
  // (halves; background_threads off: here), then inserted on this one in
  // order. A record with a tombstone or an id seen before is merged by
  // apply_recovered. The workers write only their own slots.
  bool apply_snapshot(const std::vector<std::string_view>& records);
  // Inserts p, the record of an id the map does not hold (its reference is
  // taken), with the live and tombstone counts. REQUIRES: unique lock on sh.
  void insert_new_locked(shard& sh, detail::packed_record* p);
  // Swaps the record of `id` for p (nullptr: erase), keeping memory
  // accounting in step, and the Merkle index when sh is indexed.
  // REQUIRES: unique lock on sh.
  void swap_locked(shard& sh, std::string_view id, detail::packed_record* p);
  void expire_locked(shard& sh, detail::packed_record* p);

  store_options options_;
  file_system& fs_;
  record_map map_;
  merkle_index merkle_;  // holds the shards marked indexed (build_index)
  std::mutex index_mu_;  // one build_index at a time
  std::atomic<bool> index_built_{false};
  replication_sink sink_;
  std::atomic<uint64_t> clock_refusals_{0};
  change_feed feed_;
  std::unique_ptr<wal> wal_;

  uint64_t read_slack_ms_ = 0;  // 0: reads use the precise (or injected) clock
  shared_clock clock_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;

  std::atomic<uint64_t> created_{0}, deleted_{0}, expired_{0}, cleanup_runs_{0};
  std::atomic<int64_t> current_{0}, tombstones_{0}, record_bytes_{0};
  std::atomic<bool> warned80_{false}, warned100_{false};
  std::atomic<bool> closed_{false};
  std::atomic<uint32_t> default_ttl_s_;
  std::atomic<uint64_t> max_sessions_;
  std::atomic<bool> strict_quota_;
  std::atomic<uint32_t> global_program_ttl_s_;
  std::atomic<uint64_t> max_global_programs_;
  // The reloadable part of options_.limits (reconfigure); limits() reads them.
  std::atomic<size_t> value_bytes_, entries_per_map_, programs_, session_bytes_;
  store_limits limits() const;
  std::atomic<uint64_t> gp_stored_{0}, gp_deleted_{0}, gp_expired_{0};
  std::atomic<int64_t> gp_live_{0};
  // Quotas. A create reserves its place under quota_mu_ (the check and the
  // reservation: a short section), apply_locked counts it, then the
  // reservation is given back. A check counts live records plus reserved
  // places, so concurrent creates cannot pass a quota together, and they no
  // longer run one at a time behind one lock. Lock order: shard ->
  // quota_mu_ -> ns_mu_.
  class quota_hold {
   public:
    quota_hold() = default;
    quota_hold(const quota_hold&) = delete;
    quota_hold& operator=(const quota_hold&) = delete;
    ~quota_hold();

   private:
    friend class local_store;
    local_store* store_ = nullptr;
    bool global_ = false;
    std::string ns_key_;  // empty: no namespace place reserved
  };
  // The limit that is full (the namespace's ns_max, else the node's
  // node_max; 0 is no limit), counting reserved places; or 0 once one place
  // is reserved in each limit that applies, held by h.
  uint64_t reserve_create(std::string_view record_id, bool global, uint64_t ns_max, uint64_t node_max,
                          quota_hold& h);
  std::mutex quota_mu_;
  int64_t reserved_ = 0, gp_reserved_ = 0;                 // under quota_mu_
  absl::flat_hash_map<std::string, int64_t> ns_reserved_;  // under quota_mu_; only namespaces with a limit
  std::mutex ns_mu_;
  // Live records per namespace; keys: "s:" + ns for sessions, "g:" + ns for
  // global programs (only namespaces with live records are kept); "x:" + ns
  // counts the namespace's sessions expired so far.
  absl::flat_hash_map<std::string, int64_t> ns_live_;

  std::mutex maint_mu_;
  std::condition_variable maint_cv_;
  bool stop_ = false;
  std::atomic<uint64_t> reap_ms_{0};  // the reaper's interval (reconfigure may change it)
  std::mutex snapshot_mu_;
  std::atomic<uint64_t> wal_bytes_at_snapshot_{0};
  std::atomic<bool> snapshot_wanted_{false};  // forget_partition: the next maintenance pass snapshots
  std::thread maint_;
};

}  // namespace sessionmesh::store
