// instrumented_store: a session_store decorator that times every call and
// emits an op_event (name, duration, result, adapter) to a telemetry hub.
// Owns the inner store. Thread: as the inner store.
#pragma once

#include <memory>

#include "sessionmesh/session_store.hpp"
#include "sessionmesh/telemetry.hpp"

namespace sessionmesh::store {

class instrumented_store final : public session_store {
 public:
  instrumented_store(std::unique_ptr<session_store> inner, std::shared_ptr<telemetry> hub)
      : inner_(std::move(inner)), hub_(std::move(hub)) {}

  SM_SESSION_STORE_OVERLOADS;
  result<create_result> create(create_request req, write_ctx& ctx) override;
  result<session> get(std::string_view id) override;
  result<void> read(std::string_view id, session_reader fn) override;
  result<bool> exists(std::string_view id) override;
  result<session> peek(std::string_view id) override { return inner_->peek(id); }
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
  result<list_page> list(std::string_view prefix, size_t limit, std::string_view cursor) override;
  size_t snapshot_parts() override { return inner_->snapshot_parts(); }
  result<std::vector<std::string>> snapshot_part(std::string_view prefix, size_t part) override {
    return inner_->snapshot_part(prefix, part);
  }
  store_stats stats() override { return inner_->stats(); }
  uint64_t expired_in_namespace(std::string_view ns) override { return inner_->expired_in_namespace(ns); }
  uint64_t cleanup_expired() override;
  std::string owner_of(std::string_view id) override { return inner_->owner_of(id); }
  const std::string& node_id() const override { return inner_->node_id(); }
  std::string current_cursor() override { return inner_->current_cursor(); }
  result<change_batch> read_changes(std::string_view cursor, size_t max) override {
    return inner_->read_changes(cursor, max);
  }
  subscription subscribe(std::function<void(const change&)> fn) override {
    return inner_->subscribe(std::move(fn));
  }
  void reconfigure(const runtime_settings& s) override { inner_->reconfigure(s); }
  result<void> wait_replicated(unsigned acks, uint32_t timeout_ms) override {
    return inner_->wait_replicated(acks, timeout_ms);
  }
  std::string_view adapter_name() const override { return inner_->adapter_name(); }
  void close() override {
    if (before_close_) std::exchange(before_close_, nullptr)();
    inner_->close();
  }
  ~instrumented_store() override { close(); }

  // Takes ownership of something that uses the inner store (the embedded
  // replicated adapter's cluster driver): before_close runs first on close
  // (it stops that thing), and it is destroyed before the inner store.
  void own(std::shared_ptr<void> owned, std::function<void()> before_close) {
    owned_ = std::move(owned);
    before_close_ = std::move(before_close);
  }

  session_store& inner() { return *inner_; }
  const std::shared_ptr<telemetry>& hub() const { return hub_; }

 private:
  template <class F>
  auto timed(std::string_view op, F&& f);
  std::unique_ptr<session_store> inner_;
  std::shared_ptr<telemetry> hub_;
  std::function<void()> before_close_;
  std::shared_ptr<void> owned_;  // declared after inner_: destroyed first
};

}  // namespace sessionmesh::store
