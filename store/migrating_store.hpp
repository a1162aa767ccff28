// migrating_store: the adapter a node serves from while it switches
// adapters online (API.md section 6). Phases:
//   source  every call goes to the source (the local adapter);
//   dual    reads come from the source; a write goes to the source, which
//           acknowledges it, and then the session's record (CRDT state,
//           stamps and all) is merged into the target before the call
//           returns, so both hold every acknowledged write;
//   target  every call goes to the target (the replicated adapter).
// The migrator (node/) copies the rest in the background with copy(),
// validates, and moves the phase on to target or back to source (rollback).
// A phase change is one atomic store; a call that read the old phase
// finishes on it (a dual write forwards even if the phase moved on), and
// set_phase returns once every such call has finished (an epoch gate: no
// sleep, no lock on the call path).
// Neither store is destroyed while this object lives: the owner keeps them,
// so a late call never touches freed memory.
// Change-feed subscriptions are attached to both feeds (the target's from
// when it is attached) and deliver from the phase's store only — the
// source's until the switch (the target's copies in dual are duplicates),
// the target's after — as read_changes does; a cursor of the source read against the target
// answers as an unknown cursor (watchers get reset + snapshot).
// Thread: as session_store (any thread).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "store/epoch_gate.hpp"
#include "store/local_store.hpp"

namespace sessionmesh::store {

class migrating_store final : public session_store {
 public:
  enum class phase : int { source = 0, dual = 1, target = 2 };

  explicit migrating_store(std::unique_ptr<local_store> source);
  ~migrating_store() override;

  // target: the store to serve from after the switch; target_local: its
  // local store (where copies are merged). Both outlive this object.
  // REQUIRES: phase source.
  void attach_target(session_store* target, local_store* target_local);
  // After a rollback (phase source again): forget the target.
  void detach_target();
  // Moves to p; returns once no call that may have read the old phase is
  // still running. REQUIRES: not called from inside a call on this store.
  void set_phase(phase p) {
    phase_.store(static_cast<int>(p));
    gate_.wait_past();
  }
  // Returns once every call under way now has finished (a write in flight
  // has reached both stores in dual).
  void quiesce() { gate_.wait_past(); }
  phase current_phase() const { return static_cast<phase>(phase_.load(std::memory_order_relaxed)); }
  // Merges the source's record of id (tombstones too) into the target.
  // Returns whether the target changed; errors from the target (io, clock).
  result<bool> copy(std::string_view id);
  local_store& source() { return *source_; }

  SM_SESSION_STORE_OVERLOADS;
  // Writes: in phases source and target the write_ctx passes through (the
  // token names the store that completes it); in dual the source write is
  // deferred like any other and the copy into the target is made (and
  // logged) before the call returns.
  result<create_result> create(create_request req, write_ctx& ctx) override;
  // In dual, a read's touch (when it records one) is forwarded too, so the
  // target does not expire the session earlier than the source would.
  result<session> get(std::string_view id) override;
  result<session> peek(std::string_view id) override {
    const auto g = gate_.enter();
    return reader().peek(id);
  }
  result<bool> exists(std::string_view id) override {
    const auto g = gate_.enter();
    return reader().exists(id);
  }
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
  result<list_page> list(std::string_view prefix, size_t limit, std::string_view cursor) override {
    const auto g = gate_.enter();
    return reader().list(prefix, limit, cursor);
  }
  size_t snapshot_parts() override {
    const auto g = gate_.enter();
    return reader().snapshot_parts();
  }
  result<std::vector<std::string>> snapshot_part(std::string_view prefix, size_t part) override {
    const auto g = gate_.enter();
    return reader().snapshot_part(prefix, part);
  }
  store_stats stats() override {
    const auto g = gate_.enter();
    return reader().stats();
  }
  uint64_t expired_in_namespace(std::string_view ns) override {
    const auto g = gate_.enter();
    return reader().expired_in_namespace(ns);
  }
  uint64_t cleanup_expired() override;
  std::string owner_of(std::string_view id) override {
    const auto g = gate_.enter();
    return reader().owner_of(id);
  }
  const std::string& node_id() const override { return source_->node_id(); }
  std::string current_cursor() override {
    const auto g = gate_.enter();
    return reader().current_cursor();
  }
  result<change_batch> read_changes(std::string_view cursor, size_t max) override {
    const auto g = gate_.enter();
    return reader().read_changes(cursor, max);
  }
  subscription subscribe(std::function<void(const change&)> fn) override;
  result<void> wait_replicated(unsigned acks, uint32_t timeout_ms) override {
    return reader().wait_replicated(acks, timeout_ms);
  }
  void reconfigure(const runtime_settings& s) override;
  std::string_view adapter_name() const override;
  void close() override;

 private:
  session_store& reader() {
    return current_phase() == phase::target ? *target_.load(std::memory_order_acquire) : *source_;
  }
  // After a source write in phase dual: forward the session to the target.
  template <typename R>
  R forward(R r, std::string_view id, bool dual);
  std::function<void(const change&)> on_target_fn(std::function<void(const change&)> f);

  std::unique_ptr<local_store> source_;
  std::atomic<session_store*> target_{nullptr};
  std::atomic<local_store*> target_local_{nullptr};
  std::atomic<int> phase_{0};
  epoch_gate gate_;

  struct sub_entry {
    std::function<void(const change&)> fn;
    subscription on_source, on_target;
  };
  std::mutex subs_mu_;
  uint64_t next_sub_ = 0;
  std::map<uint64_t, std::shared_ptr<sub_entry>> subs_;
};

}  // namespace sessionmesh::store
