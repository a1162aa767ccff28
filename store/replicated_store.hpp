// replicated_store: the replicated adapter. Every node holds every session
// in its local store (same WAL, snapshots, feed); each local write's delta
// goes to the replication layer, which pushes it to peers and repairs by
// anti-entropy; remote changes come in through local_store::apply_remote.
// owner is rendezvous hashing over live members; acks=N waits for peers.
// The clock gate (replication::clock_ahead) lives here: while it is closed
// every local write answers clock_skew and reads record no touch.
// Owns the local store. Thread: as session_store (any thread).
#pragma once

#include <memory>

#include "store/local_store.hpp"
#include "store/replication.hpp"

namespace sessionmesh::store {

class replicated_store final : public session_store {
 public:
  replicated_store(std::unique_ptr<local_store> local, replication& repl);

  SM_SESSION_STORE_OVERLOADS;
  // Writes go to the local store; the token is completed here (durable
  // locally, then acks).
  result<create_result> create(create_request req, write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->create(std::move(req), ctx), ctx);
  }
  // While the clock gate is closed a read records no touch (peek).
  result<session> get(std::string_view id) override {
    return repl_.clock_ahead() ? local_->peek(id) : local_->get(id);
  }
  result<void> read(std::string_view id, session_reader fn) override {
    if (repl_.clock_ahead()) return session_store::read(id, fn);  // through get(): a peek
    return local_->read(id, fn);
  }
  result<session> peek(std::string_view id) override { return local_->peek(id); }
  result<bool> exists(std::string_view id) override { return local_->exists(id); }
  result<session> patch(std::string_view id, patch_request req, write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->patch(id, std::move(req), ctx), ctx);
  }
  result<void> remove(std::string_view id, write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->remove(id, ctx), ctx);
  }
  result<void> remove_if_match(std::string_view id, std::string_view if_match, write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->remove_if_match(id, if_match, ctx), ctx);
  }
  result<session> touch(std::string_view id, write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->touch(id, ctx), ctx);
  }
  result<session> set_worker(std::string_view id, std::string_view w, const write_limits& lim,
                             write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->set_worker(id, w, lim, ctx), ctx);
  }
  result<global_program> put_global_program(std::string_view id, std::string json, const write_limits& lim,
                                            write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->put_global_program(id, std::move(json), lim, ctx), ctx);
  }
  result<global_program> get_global_program(std::string_view id) override { return local_->get_global_program(id); }
  result<void> delete_global_program(std::string_view id, write_ctx& ctx) override {
    if (repl_.clock_ahead()) return errc::clock_skew;
    return mine(local_->delete_global_program(id, ctx), ctx);
  }
  result<std::vector<global_program>> list_global_programs(std::string_view prefix, size_t limit,
                                                           std::string_view cursor) override {
    return local_->list_global_programs(prefix, limit, cursor);
  }
  result<list_page> list(std::string_view prefix, size_t limit, std::string_view cursor) override;
  size_t snapshot_parts() override { return local_->snapshot_parts(); }
  result<std::vector<std::string>> snapshot_part(std::string_view prefix, size_t part) override {
    return local_->snapshot_part(prefix, part);
  }
  store_stats stats() override { return local_->stats(); }
  uint64_t expired_in_namespace(std::string_view ns) override { return local_->expired_in_namespace(ns); }
  uint64_t cleanup_expired() override { return local_->cleanup_expired(); }
  std::string owner_of(std::string_view id) override { return repl_.owner_of(id); }
  const std::string& node_id() const override { return local_->node_id(); }
  std::string current_cursor() override { return local_->current_cursor(); }
  result<change_batch> read_changes(std::string_view c, size_t max) override { return local_->read_changes(c, max); }
  subscription subscribe(std::function<void(const change&)> fn) override { return local_->subscribe(std::move(fn)); }
  void reconfigure(const runtime_settings& s) override { local_->reconfigure(s); }
  std::string_view adapter_name() const override { return "replicated"; }
  result<void> wait_replicated(unsigned acks, uint32_t timeout_ms) override;
  void close() override { local_->close(); }

  local_store& local() { return *local_; }

 protected:
  void await_write(const write_token& t, unsigned acks, uint32_t timeout_ms, write_completion done) override;

 private:
  template <class R>
  R mine(R r, write_ctx& ctx) {
    if (ctx.defer) ctx.token.by = this;
    return r;
  }
  std::unique_ptr<local_store> local_;
  replication& repl_;
};

}  // namespace sessionmesh::store
