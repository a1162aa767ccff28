// metrics: counters and latency histograms of the node, rendered in the
// Prometheus text exposition format. Fed by the store's telemetry (ops) and
// by the HTTP server (connections, requests, rejections).
// Thread: every method is thread-safe (relaxed atomics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "sessionmesh/session_store.hpp"

namespace sessionmesh::http {

// Latency histogram with fixed bucket bounds (microseconds).
class histogram {
 public:
  static constexpr std::array<uint64_t, 15> bounds_us = {50,    100,    250,    500,    1000,
                                                         2500,  5000,   10000,  25000,  50000,
                                                         100000, 250000, 500000, 1000000, 5000000};
  void observe(uint64_t us);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t sum_us() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  // Upper bound of the bucket holding quantile q (0 if empty).
  uint64_t quantile_us(double q) const;

 private:
  std::array<std::atomic<uint64_t>, bounds_us.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0}, sum_{0};
};

class metrics {
 public:
  static constexpr std::array<std::string_view, 10> ops = {
      "create", "get", "exists", "patch", "delete", "touch", "set_worker", "list", "cleanup", "other"};
  static constexpr std::array<std::string_view, 4> results = {"ok", "client_error", "not_found",
                                                              "server_error"};

  void record_op(std::string_view op, std::string_view result, uint64_t us);
  void http_request(unsigned status);
  void connection_opened() { conns_total_++, conns_active_++; }
  void connection_closed() { conns_active_--; }
  void rejected_overload() { overload_++; }
  void tls_handshake_failed() { tls_failures_++; }
  void forwarded() { forwards_++; }
  void forward_failed() { forward_failures_++; }
  // A read that carried a session token: answered at once (met), after
  // waiting for replication (waited), relayed to the write's node
  // (forwarded), or answered here past the wait because that node is gone (unmet).
  enum class token_read { met, waited, forwarded, unmet };
  void token_read_done(token_read o) { token_reads_[static_cast<size_t>(o)]++; }
  void watcher_opened() { watchers_++; }
  void watcher_closed() { watchers_--; }
  void watcher_lagging() { lagging_++; }
  void warning(std::string_view name);

  const histogram& all_ops() const { return all_; }
  int64_t connections_active() const { return conns_active_.load(); }
  // Prometheus text exposition of everything, with the store's gauges.
  // members: alive, suspect, dead, left (this node included).
  std::string render(const store_stats& st, std::string_view node_id, bool ready, bool draining,
                     const std::array<uint64_t, 4>& members = {1, 0, 0, 0}) const;

 private:
  static size_t op_index(std::string_view op);
  static size_t result_index(std::string_view result);
  std::array<std::array<std::atomic<uint64_t>, results.size()>, ops.size()> op_counts_{};
  std::array<std::array<histogram, results.size()>, ops.size()> op_latency_;  // by op and result
  histogram all_;
  std::array<std::atomic<uint64_t>, 6> http_by_class_{};  // 1xx..5xx, index 0 unused
  std::atomic<uint64_t> conns_total_{0}, overload_{0}, lagging_{0}, forwards_{0}, forward_failures_{0};
  std::atomic<uint64_t> tls_failures_{0};
  std::array<std::atomic<uint64_t>, 4> token_reads_{};
  std::atomic<int64_t> conns_active_{0}, watchers_{0};
  std::atomic<uint64_t> quota_warnings_{0}, quota_full_{0}, pruned_events_{0};
};

}  // namespace sessionmesh::http
