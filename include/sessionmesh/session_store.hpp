// session_store: the adapter contract. Every adapter (local, replicated, or a
// user's own) implements it with exactly these semantics; the suite in
// tests/conformance/ checks them against this interface only. Over 400
// lines on purpose: it is one contract, and each method's comment is its
// part of it (the types it names come first).
//
// Thread: every method may be called from any thread concurrently.
// Values are JSON text; the store validates and keeps it compact.
// A "live" session exists (created after its last delete) and has not
// expired (now < last_accessed + ttl).
//
// Errors (as errc):
//   invalid_argument  bad id (1-256 bytes of [A-Za-z0-9._:@-]), bad entry name,
//                     invalid JSON, JSON nested deeper than limits.json_depth,
//                     bad list limit or cursor (ttl_s 0 is accepted: see
//                     crdt::expiry_ms, the session lives to the end of the
//                     second of its last access)
//   not_found         no live session (get, patch, touch)
//   version_mismatch  patch's if_match differs from the current version
//   too_large         a value past limits.value_bytes or a map past
//                     limits.entries_per_map live entries
//   too_many_programs a program added past limits.programs
//   session_quota_exceeded  a create (or a set_worker that creates) when the
//                     store already holds max_sessions sessions (expired ones
//                     count until reaped; 0: no limit), or when the id's
//                     namespace holds write_limits.max_sessions; also a new
//                     global program past max_global_programs
//
// Namespaces: an id "NS::rest" belongs to namespace NS; any other id to the
// default namespace "". A namespace is only a unit of counting: a write may
// carry write_limits that the store checks against its namespace's count
// atomically with the create (Snakepit's named stores, each with its own
// max_sessions). Global programs ("NS::name" likewise) are counted apart
// from sessions.
//   cursor_expired    read_changes from a cursor that fell off the ring or
//                     belongs to another store incarnation
//   io_error          the write could not be logged; it was not applied
//   unavailable       the store is closed or read-only after a log failure
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "sessionmesh/options.hpp"
#include "sessionmesh/result.hpp"
#include "sessionmesh/session.hpp"

namespace sessionmesh {

// One entry to set (value = JSON text) or remove (value = nullopt).
struct entry_update {
  std::string name;
  std::optional<std::string> value;
};

// Limits a caller adds to the store's own for one write (0: none). The
// tighter of the two applies.
struct write_limits {
  uint64_t max_sessions = 0;         // sessions in the id's namespace
  uint32_t max_programs = 0;         // programs in this session
  uint64_t max_global_programs = 0;  // global programs in the id's namespace
};

// The namespace of an id: the part before the first "::", or "".
inline std::string_view namespace_of(std::string_view id) {
  const auto p = id.find("::");
  return p == std::string_view::npos ? std::string_view{} : id.substr(0, p);
}

struct create_request {
  std::string id;  // empty: the store makes one
  std::optional<uint32_t> ttl_s;
  std::vector<entry_update> metadata, variables, programs;  // removals ignored
  std::optional<std::string> last_worker_id;
  write_limits limits;
};

struct patch_request {
  std::vector<entry_update> metadata, variables, programs;
  std::optional<uint32_t> ttl_s;
  std::optional<std::string> last_worker_id;
  std::optional<std::string> if_match;  // expected version, raw or quoted
  write_limits limits;
};

// A global program (Snakepit's store_global_program): a JSON value shared by
// every worker, outside any session.
struct global_program {
  std::string id;
  std::string value;           // JSON text
  uint64_t stored_at_ms = 0;   // the last put
  uint64_t expires_at_ms = 0;  // stored_at + global_program_ttl
};

class session_store;

// Where a write stands: its position in the write-ahead log (0: not logged)
// and in this node's replication stream (0: not replicated), and the
// adapter that completes it (when_durable asks that one).
struct write_token {
  uint64_t lsn = 0;
  uint64_t seq = 0;
  session_store* by = nullptr;
};

// How a caller takes a write's acknowledgement, passed explicitly per call
// (never kept per thread). By default (defer false) a write returns once it
// is durable per the fsync mode. With defer, it returns once applied and
// visible, token names what it still needs, and the caller asks
// when_durable(token, ...) for a completion instead of waiting: the HTTP
// layer does so, so no I/O thread waits on a disk or a peer.
struct write_ctx {
  bool defer = false;
  write_token token;
};

// Called once, from any thread (the WAL's syncer, the replication driver,
// or the caller's own when nothing is pending). Must be quick: post the
// rest of the work elsewhere.
using write_completion = std::function<void(result<void>)>;

struct create_result {
  session value;
  bool created = false;  // false: a live session existed and is returned unchanged
};

struct session_summary {
  std::string id;
  std::string owner;
  uint64_t expires_at_ms = 0;
  std::string version;
};

struct list_page {
  std::vector<session_summary> sessions;    // ascending by id
  std::optional<std::string> next_cursor;   // nullopt on the last page
};

struct store_stats {
  uint64_t sessions_created = 0;
  uint64_t sessions_deleted = 0;
  uint64_t sessions_expired = 0;
  uint64_t cleanup_runs = 0;
  uint64_t current_sessions = 0;  // sessions held that are not deleted (expired ones until reaped)
  uint64_t memory_usage_bytes = 0;
  uint64_t tombstones = 0;
  // Durable adapters: the write-ahead log.
  uint64_t wal_appends = 0;
  uint64_t wal_bytes = 0;
  uint64_t wal_fsyncs = 0;
  uint64_t wal_fsync_us_total = 0;
  uint64_t wal_fsync_us_last = 0;
  uint64_t wal_fsync_us_max = 0;
  bool wal_failed = false;  // the log refused a write: the store is read-only
  uint64_t watchers = 0;    // change-feed subscribers
  // Global programs (not counted as sessions anywhere above).
  uint64_t global_programs_stored = 0;   // new ids stored
  uint64_t global_programs_deleted = 0;
  uint64_t global_programs_expired = 0;
  uint64_t current_global_programs = 0;
};

// Settings a running store takes without a restart.
struct runtime_settings {
  uint32_t default_ttl_s = 3600;
  uint64_t max_sessions = 10000;  // 0: no limit
  bool strict_quota = false;      // log every refusal past the quota (refused either way)
  uint32_t global_program_ttl_s = 3600;
  uint64_t max_global_programs = 10000;  // 0: no limit
  // Value bytes, entries per map and programs per session (json_depth and
  // name_bytes keep their opened values). Applies to writes from now on;
  // what is stored stays.
  store_limits limits{};
  // Unset: left as they are. The WAL's fsync mode applies from the next
  // write on (a write already acknowledged keeps the promise it got); the
  // reaper's interval from its next wait (a store opened without a
  // maintenance thread, in memory with reaper_interval_ms 0, starts none).
  std::optional<fsync_mode> fsync;
  std::optional<uint32_t> reaper_interval_ms;
};

enum class change_type { put, del, expire, moved };

struct session_move {
  std::string id, from, to;
};

struct change {
  uint64_t seq = 0;
  change_type type = change_type::put;
  std::string id;
  std::string version;  // empty for expire
  std::string origin;   // node id that made the change
  std::string cursor;   // resume point just after this change
  session value;        // the state after a put
  // moved: ownership changes after a membership change (batched), and why:
  // "node_dead", "node_joined" or "node_left".
  std::vector<session_move> moves;
  std::string reason;
};

struct change_batch {
  std::vector<change> changes;
  std::string next_cursor;
};

// Unsubscribes when destroyed.
class subscription {
 public:
  subscription() = default;
  explicit subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  subscription(subscription&&) = default;
  subscription& operator=(subscription&& o) noexcept {
    reset();
    cancel_ = std::move(o.cancel_);
    return *this;
  }
  ~subscription() { reset(); }
  void reset() {
    if (cancel_) std::exchange(cancel_, nullptr)();
  }

 private:
  std::function<void()> cancel_;
};

// The callback of session_store::read: a borrowed reference to any
// callable taking const session_view& (a lambda, usually a temporary that
// outlives the call). No allocation, no copy of the callable.
class session_reader {
 public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, session_reader>)
  session_reader(F&& f) noexcept  // NOLINT: implicit, so read(id, [&](auto& v) {...}) works
      : ctx_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* c, const session_view& v) { (*static_cast<std::remove_reference_t<F>*>(c))(v); }) {}
  void operator()(const session_view& v) const { call_(ctx_, v); }

 private:
  void* ctx_;
  void (*call_)(void*, const session_view&);
};

class session_store {
 public:
  virtual ~session_store() = default;

  // Writes take a write_ctx (see above); the overloads without one wait
  // for durability in the calling thread (embedded callers).
  // Idempotent: an existing live id returns that session unchanged.
  virtual result<create_result> create(create_request req, write_ctx& ctx) = 0;
  result<create_result> create(create_request req) {
    write_ctx c;
    return create(std::move(req), c);
  }
  // Reads and touches (records the touch only when it moves last_accessed by
  // more than ttl/10).
  virtual result<session> get(std::string_view id) = 0;
  // Reads as get() does (the same errors, the same touch) and lends the
  // session to fn, without taking a reference: the view is valid only
  // inside fn. fn runs before read() returns, once, and only on success.
  // Keep fn short and never block in it: records the store replaces
  // meanwhile are freed only after fn returns.
  virtual result<void> read(std::string_view id, session_reader fn) {
    auto s = get(id);
    if (!s) return s.error();
    fn(*s);
    return {};
  }
  // Reads a live session without touching it (snapshots, migration).
  virtual result<session> peek(std::string_view id) = 0;
  // Exists and live; never touches. Errors only for a bad id.
  virtual result<bool> exists(std::string_view id) = 0;
  // Merges the request: set entries, remove entries with nullopt values,
  // set ttl and worker; touches. Checks if_match first.
  virtual result<session> patch(std::string_view id, patch_request req, write_ctx& ctx) = 0;
  result<session> patch(std::string_view id, patch_request req) {
    write_ctx c;
    return patch(id, std::move(req), c);
  }
  // Idempotent: deleting a missing session succeeds.
  virtual result<void> remove(std::string_view id, write_ctx& ctx) = 0;
  result<void> remove(std::string_view id) {
    write_ctx c;
    return remove(id, c);
  }
  // A conditional delete: only while the session is live and if_match (an
  // If-Match header's value: a list of tags, strong comparison, "*") holds
  // for its version, decided atomically; version_mismatch otherwise (also
  // when the session does not exist). Adapters that cannot: unavailable.
  virtual result<void> remove_if_match(std::string_view id, std::string_view if_match, write_ctx& ctx) {
    (void)id, (void)if_match, (void)ctx;
    return errc::unavailable;
  }
  virtual result<session> touch(std::string_view id, write_ctx& ctx) = 0;
  result<session> touch(std::string_view id) {
    write_ctx c;
    return touch(id, c);
  }
  // Records worker affinity; creates the session (default ttl) if missing
  // (the quota, and lim.max_sessions, apply to that create).
  virtual result<session> set_worker(std::string_view id, std::string_view worker_id, const write_limits& lim,
                                     write_ctx& ctx) = 0;
  result<session> set_worker(std::string_view id, std::string_view worker_id, const write_limits& lim) {
    write_ctx c;
    return set_worker(id, worker_id, lim, c);
  }
  result<session> set_worker(std::string_view id, std::string_view worker_id) {
    return set_worker(id, worker_id, write_limits{});
  }
  // Live sessions whose id starts with prefix and is greater than cursor,
  // ascending, at most limit (1..1000).
  virtual result<list_page> list(std::string_view prefix, size_t limit, std::string_view cursor) = 0;
  // The live sessions' ids under prefix in parts, for streaming a snapshot
  // (the change feed): each live session is in exactly one of the
  // snapshot_parts() parts, and part k (0 <= k < snapshot_parts()) answers
  // its ids sorted. A part holds about 1/snapshot_parts() of the sessions,
  // so a reader walks the whole store once and holds one part at a time.
  // Default: one part, read through list().
  virtual size_t snapshot_parts() { return 1; }
  virtual result<std::vector<std::string>> snapshot_part(std::string_view prefix, size_t part);
  virtual store_stats stats() = 0;
  // Removes expired sessions now (the reaper calls it on its interval);
  // returns how many sessions expired (expired global programs are removed
  // too and counted in stats().global_programs_expired).
  virtual uint64_t cleanup_expired() = 0;
  // Sessions of namespace ns (see namespace_of) expired so far on this node
  // (a named store's share of cleanup_expired). 0 where not kept.
  virtual uint64_t expired_in_namespace(std::string_view ns) {
    (void)ns;
    return 0;
  }

  // Global programs: replicated and logged like sessions, expiring
  // global_program_ttl after their last put; reads do not extend them.
  // Ids as session ids, at most global_program_id_max bytes. A put of a new
  // id past max_global_programs (or lim.max_global_programs in the id's
  // namespace) is session_quota_exceeded; replacing one is always allowed.
  // Adapters that do not keep them answer unavailable.
  static constexpr size_t global_program_id_max = 240;
  virtual result<global_program> put_global_program(std::string_view id, std::string json,
                                                    const write_limits& lim, write_ctx& ctx) {
    (void)id, (void)json, (void)lim, (void)ctx;
    return errc::unavailable;
  }
  result<global_program> put_global_program(std::string_view id, std::string json, const write_limits& lim) {
    write_ctx c;
    return put_global_program(id, std::move(json), lim, c);
  }
  virtual result<global_program> get_global_program(std::string_view id) {
    (void)id;
    return errc::unavailable;
  }
  // Idempotent, as remove.
  virtual result<void> delete_global_program(std::string_view id, write_ctx& ctx) {
    (void)id, (void)ctx;
    return errc::unavailable;
  }
  result<void> delete_global_program(std::string_view id) {
    write_ctx c;
    return delete_global_program(id, c);
  }
  // Live global programs whose id starts with prefix and is greater than
  // cursor, ascending, at most limit (1..1000); values left empty.
  virtual result<std::vector<global_program>> list_global_programs(std::string_view prefix, size_t limit,
                                                                   std::string_view cursor) {
    (void)prefix, (void)limit, (void)cursor;
    return errc::unavailable;
  }

  // The node that owns the session's work.
  virtual std::string owner_of(std::string_view id) = 0;
  virtual const std::string& node_id() const = 0;

  // Change feed. current_cursor() names the point after the last change.
  // read_changes returns up to max changes after cursor, in apply order.
  virtual std::string current_cursor() = 0;
  virtual result<change_batch> read_changes(std::string_view cursor, size_t max) = 0;
  // fn is called for every change, in order, on the writing thread, after the
  // change is applied. It must be quick and must not write to the store.
  virtual subscription subscribe(std::function<void(const change&)> fn) = 0;

  // Completes a deferred write (write_ctx::defer): done runs once the write
  // named by t is durable per the fsync mode and `acks` nodes (this one
  // included) have applied it, or with acks_timeout once timeout_ms passed
  // without enough acks (the write stands either way), or with io_error if
  // the log failed. Never waits in the calling thread. A single-node
  // adapter can only satisfy acks <= 1 (acks_timeout at once otherwise).
  void when_durable(const write_token& t, unsigned acks, uint32_t timeout_ms, write_completion done) {
    (t.by != nullptr ? t.by : this)->await_write(t, acks, timeout_ms, std::move(done));
  }
  // The same, waiting in the calling thread (embedded callers).
  result<void> wait_replicated(const write_token& t, unsigned acks, uint32_t timeout_ms);
  // Waits until `acks` nodes applied every write this node made so far
  // (acks=N after the caller's own writes). acks_timeout past timeout_ms;
  // the writes stand either way.
  virtual result<void> wait_replicated(unsigned acks, uint32_t timeout_ms) {
    (void)timeout_ms;
    if (acks <= 1) return {};
    return errc::acks_timeout;
  }

  // Applies runtime settings (reload without restart).
  virtual void reconfigure(const runtime_settings& s) = 0;
  virtual std::string_view adapter_name() const = 0;

  // Makes every acknowledged write durable and stops background work; later
  // calls answer unavailable. Called by the destructor too.
  virtual void close() = 0;

 protected:
  // when_durable on the adapter that issued t (t.by). The default: nothing
  // to wait for; one node.
  virtual void await_write(const write_token& t, unsigned acks, uint32_t timeout_ms, write_completion done) {
    (void)t, (void)timeout_ms;
    if (acks <= 1) return done(result<void>{});
    done(errc::acks_timeout);
  }
};

// Brings a session_store's overloads without write_ctx into a derived class.
#define SM_SESSION_STORE_OVERLOADS       \
  using session_store::create;           \
  using session_store::patch;            \
  using session_store::remove;           \
  using session_store::touch;            \
  using session_store::set_worker;       \
  using session_store::put_global_program; \
  using session_store::delete_global_program; \
  using session_store::wait_replicated

}  // namespace sessionmesh
