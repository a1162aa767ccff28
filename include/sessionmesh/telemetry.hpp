// telemetry: in-process observation of store operations, for embedders and
// for the node's own metrics. Every session_store call opened through
// open_store() emits one op_event (name, duration, result, adapter) to every
// handler, on the calling thread, after the call. Handlers must be quick.
// Named events (quota warnings, pruning) come through the same hub.
// Thread: subscribe/emit from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string_view>

#include "sessionmesh/session_store.hpp"

namespace sessionmesh {

struct op_event {
  std::string_view op;       // "create", "get", "exists", "patch", "delete", "touch", "set_worker", "list", ...
  uint64_t duration_us = 0;
  std::string_view result;   // "ok" or an errc name ("not_found", ...)
  std::string_view adapter;  // "local" or "replicated"
};

struct named_event {
  std::string_view name;     // "session_quota_full", "session_accumulation_warning", "sessions_pruned"
  std::string_view message;
  uint64_t value = 0;
};

class telemetry {
 public:
  subscription on_op(std::function<void(const op_event&)> fn) {
    std::unique_lock lk(mu_);
    const uint64_t id = next_++;
    ops_.emplace(id, std::move(fn));
    count_ = ops_.size() + named_.size();
    return subscription([this, id] {
      std::unique_lock lk2(mu_);
      ops_.erase(id);
      count_ = ops_.size() + named_.size();
    });
  }
  subscription on_event(std::function<void(const named_event&)> fn) {
    std::unique_lock lk(mu_);
    const uint64_t id = next_++;
    named_.emplace(id, std::move(fn));
    count_ = ops_.size() + named_.size();
    return subscription([this, id] {
      std::unique_lock lk2(mu_);
      named_.erase(id);
      count_ = ops_.size() + named_.size();
    });
  }
  bool active() const { return count_.load(std::memory_order_relaxed) != 0; }
  void emit(const op_event& e) {
    if (!active()) return;
    std::shared_lock lk(mu_);
    for (auto& [_, fn] : ops_) fn(e);
  }
  void emit(const named_event& e) {
    if (!active()) return;
    std::shared_lock lk(mu_);
    for (auto& [_, fn] : named_) fn(e);
  }

 private:
  std::shared_mutex mu_;
  std::atomic<size_t> count_{0};
  uint64_t next_ = 1;
  std::map<uint64_t, std::function<void(const op_event&)>> ops_;
  std::map<uint64_t, std::function<void(const named_event&)>> named_;
};

}  // namespace sessionmesh
