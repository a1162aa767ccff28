#include "http/metrics.hpp"

#include <cstdio>

namespace sessionmesh::http {

void histogram::observe(uint64_t us) {
  size_t i = 0;
  while (i < bounds_us.size() && us > bounds_us[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(us, std::memory_order_relaxed);
}

uint64_t histogram::quantile_us(double q) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  const auto target = static_cast<uint64_t>(q * static_cast<double>(n) + 0.999999);
  uint64_t acc = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    acc += bucket(i);
    if (acc >= target) return i < bounds_us.size() ? bounds_us[i] : bounds_us.back() * 2;
  }
  return bounds_us.back() * 2;
}

size_t metrics::op_index(std::string_view op) {
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i] == op) return i;
  return ops.size() - 1;
}

size_t metrics::result_index(std::string_view r) {
  if (r == "ok") return 0;
  if (r == "not_found") return 2;
  if (r == "io_error" || r == "internal" || r == "unavailable" || r == "corrupt_data" || r == "acks_timeout")
    return 3;
  return 1;
}

void metrics::record_op(std::string_view op, std::string_view result, uint64_t us) {
  const size_t o = op_index(op);
  const size_t r = result_index(result);
  op_counts_[o][r].fetch_add(1, std::memory_order_relaxed);
  op_latency_[o][r].observe(us);
  all_.observe(us);
}

void metrics::http_request(unsigned status) {
  const unsigned c = status / 100;
  if (c >= 1 && c <= 5) http_by_class_[c].fetch_add(1, std::memory_order_relaxed);
}

void metrics::warning(std::string_view name) {
  if (name == "session_accumulation_warning") quota_warnings_++;
  else if (name == "session_quota_full") quota_full_++;
  else if (name == "sessions_pruned") pruned_events_++;
}

// Over 80 lines on purpose: one line per exposed metric, in the order of
// the exposition; a reader checks it against API.md top to bottom.
std::string metrics::render(const store_stats& st, std::string_view node_id, bool ready, bool draining,
                            const std::array<uint64_t, 4>& members) const {
  std::string o;
  o.reserve(16384);
  char buf[512];
  auto line = [&](const char* fmt, auto... args) {
    const int n = std::snprintf(buf, sizeof buf, fmt, args...);
    o.append(buf, static_cast<size_t>(n));
  };
  using ull = unsigned long long;
  const std::string node(node_id);
  o += "# HELP sessionmesh_ops_total Store operations by op and result.\n# TYPE sessionmesh_ops_total counter\n";
  for (size_t i = 0; i < ops.size(); ++i)
    for (size_t r = 0; r < results.size(); ++r)
      line("sessionmesh_ops_total{op=\"%.*s\",result=\"%.*s\"} %llu\n", static_cast<int>(ops[i].size()),
           ops[i].data(), static_cast<int>(results[r].size()), results[r].data(),
           static_cast<ull>(op_counts_[i][r].load(std::memory_order_relaxed)));
  o += "# HELP sessionmesh_op_latency_seconds Store operation latency by op and result (ok always; others once seen).\n"
       "# TYPE sessionmesh_op_latency_seconds histogram\n";
  for (size_t i = 0; i < ops.size(); ++i) {
    for (size_t res = 0; res < results.size(); ++res) {
      const auto& h = op_latency_[i][res];
      if (res != 0 && h.count() == 0) continue;
      uint64_t acc = 0;
      const int on = static_cast<int>(ops[i].size());
      const int rn = static_cast<int>(results[res].size());
      for (size_t b = 0; b < histogram::bounds_us.size(); ++b) {
        acc += h.bucket(b);
        line("sessionmesh_op_latency_seconds_bucket{op=\"%.*s\",result=\"%.*s\",le=\"%g\"} %llu\n", on,
             ops[i].data(), rn, results[res].data(), static_cast<double>(histogram::bounds_us[b]) / 1e6,
             static_cast<ull>(acc));
      }
      line("sessionmesh_op_latency_seconds_bucket{op=\"%.*s\",result=\"%.*s\",le=\"+Inf\"} %llu\n", on,
           ops[i].data(), rn, results[res].data(), static_cast<ull>(h.count()));
      line("sessionmesh_op_latency_seconds_sum{op=\"%.*s\",result=\"%.*s\"} %g\n", on, ops[i].data(), rn,
           results[res].data(), static_cast<double>(h.sum_us()) / 1e6);
      line("sessionmesh_op_latency_seconds_count{op=\"%.*s\",result=\"%.*s\"} %llu\n", on, ops[i].data(), rn,
           results[res].data(), static_cast<ull>(h.count()));
    }
  }
  o += "# HELP sessionmesh_sessions Live sessions held by this node.\n# TYPE sessionmesh_sessions gauge\n";
  line("sessionmesh_sessions %llu\n", static_cast<ull>(st.current_sessions));
  o += "# HELP sessionmesh_tombstones Deleted sessions kept for replication.\n# TYPE sessionmesh_tombstones gauge\n";
  line("sessionmesh_tombstones %llu\n", static_cast<ull>(st.tombstones));
  o += "# HELP sessionmesh_sessions_created_total Sessions created on this node.\n# TYPE sessionmesh_sessions_created_total counter\n";
  line("sessionmesh_sessions_created_total %llu\n", static_cast<ull>(st.sessions_created));
  o += "# HELP sessionmesh_sessions_deleted_total Sessions deleted on this node.\n# TYPE sessionmesh_sessions_deleted_total counter\n";
  line("sessionmesh_sessions_deleted_total %llu\n", static_cast<ull>(st.sessions_deleted));
  o += "# HELP sessionmesh_expirations_total Sessions removed by TTL expiry.\n"
       "# TYPE sessionmesh_expirations_total counter\n";
  line("sessionmesh_expirations_total %llu\n", static_cast<ull>(st.sessions_expired));
  o += "# HELP sessionmesh_cleanup_runs_total TTL reaper runs.\n# TYPE sessionmesh_cleanup_runs_total counter\n";
  line("sessionmesh_cleanup_runs_total %llu\n", static_cast<ull>(st.cleanup_runs));
  o += "# HELP sessionmesh_memory_usage_bytes Bytes held by session records.\n# TYPE sessionmesh_memory_usage_bytes gauge\n";
  line("sessionmesh_memory_usage_bytes %llu\n", static_cast<ull>(st.memory_usage_bytes));
  o += "# HELP sessionmesh_wal_appends_total Records appended to the WAL.\n# TYPE sessionmesh_wal_appends_total counter\n";
  line("sessionmesh_wal_appends_total %llu\n", static_cast<ull>(st.wal_appends));
  o += "# HELP sessionmesh_wal_bytes_total Bytes appended to the WAL.\n# TYPE sessionmesh_wal_bytes_total counter\n";
  line("sessionmesh_wal_bytes_total %llu\n", static_cast<ull>(st.wal_bytes));
  o += "# HELP sessionmesh_wal_fsync_seconds WAL fsync latency.\n# TYPE sessionmesh_wal_fsync_seconds summary\n";
  line("sessionmesh_wal_fsync_seconds_sum %g\n", static_cast<double>(st.wal_fsync_us_total) / 1e6);
  line("sessionmesh_wal_fsync_seconds_count %llu\n", static_cast<ull>(st.wal_fsyncs));
  o += "# HELP sessionmesh_wal_fsync_last_seconds Duration of the last WAL fsync.\n# TYPE sessionmesh_wal_fsync_last_seconds gauge\n";
  line("sessionmesh_wal_fsync_last_seconds %g\n", static_cast<double>(st.wal_fsync_us_last) / 1e6);
  o += "# HELP sessionmesh_wal_fsync_max_seconds Longest WAL fsync since start.\n# TYPE sessionmesh_wal_fsync_max_seconds gauge\n";
  line("sessionmesh_wal_fsync_max_seconds %g\n", static_cast<double>(st.wal_fsync_us_max) / 1e6);
  o += "# HELP sessionmesh_wal_failed 1 once the WAL failed (writes are refused).\n# TYPE sessionmesh_wal_failed gauge\n";
  line("sessionmesh_wal_failed %d\n", st.wal_failed ? 1 : 0);
  o += "# HELP sessionmesh_watchers Open WebSocket change-feed watchers.\n# TYPE sessionmesh_watchers gauge\n";
  line("sessionmesh_watchers %lld\n", static_cast<long long>(watchers_.load()));
  o += "# HELP sessionmesh_watchers_lagging_total Watchers cut with 4008 for reading too slowly.\n# TYPE sessionmesh_watchers_lagging_total counter\n";
  line("sessionmesh_watchers_lagging_total %llu\n", static_cast<ull>(lagging_.load()));
  o += "# HELP sessionmesh_http_connections Open HTTP connections.\n# TYPE sessionmesh_http_connections gauge\n";
  line("sessionmesh_http_connections %lld\n", static_cast<long long>(conns_active_.load()));
  o += "# HELP sessionmesh_http_connections_total HTTP connections accepted.\n# TYPE sessionmesh_http_connections_total counter\n";
  line("sessionmesh_http_connections_total %llu\n", static_cast<ull>(conns_total_.load()));
  o += "# HELP sessionmesh_http_requests_total HTTP requests by status class.\n# TYPE sessionmesh_http_requests_total counter\n";
  for (unsigned c = 1; c <= 5; ++c)
    line("sessionmesh_http_requests_total{code=\"%ux\"} %llu\n", c, static_cast<ull>(http_by_class_[c].load()));
  o += "# HELP sessionmesh_http_overload_rejections_total Connections refused past the connection caps.\n# TYPE sessionmesh_http_overload_rejections_total counter\n";
  line("sessionmesh_http_overload_rejections_total %llu\n", static_cast<ull>(overload_.load()));
  o += "# HELP sessionmesh_http_tls_handshake_failures_total TLS handshakes that failed (bad or missing client "
       "certificate, plain HTTP on the TLS port, timeout).\n# TYPE sessionmesh_http_tls_handshake_failures_total counter\n";
  line("sessionmesh_http_tls_handshake_failures_total %llu\n", static_cast<ull>(tls_failures_.load()));
  o += "# HELP sessionmesh_http_forwards_total requests relayed to another node: conditional writes to the session's owner, token reads to the write's node\n";
  o += "# TYPE sessionmesh_http_forwards_total counter\n";
  line("sessionmesh_http_forwards_total %llu\n", static_cast<ull>(forwards_.load()));
  o += "# HELP sessionmesh_http_forward_failures_total relayed writes whose owner did not answer (503)\n";
  o += "# TYPE sessionmesh_http_forward_failures_total counter\n";
  line("sessionmesh_http_forward_failures_total %llu\n", static_cast<ull>(forward_failures_.load()));
  o += "# HELP sessionmesh_token_reads_total reads that carried X-Sessionmesh-Session-Token, by how they were answered\n";
  o += "# TYPE sessionmesh_token_reads_total counter\n";
  {
    static constexpr const char* outcome[] = {"met", "waited", "forwarded", "unmet"};
    for (size_t i = 0; i < token_reads_.size(); ++i)
      line("sessionmesh_token_reads_total{outcome=\"%s\"} %llu\n", outcome[i], static_cast<ull>(token_reads_[i].load()));
  }
  o += "# HELP sessionmesh_quota_warnings_total Quota warnings by level (percent).\n# TYPE sessionmesh_quota_warnings_total counter\n";
  line("sessionmesh_quota_warnings_total{level=\"80\"} %llu\n", static_cast<ull>(quota_warnings_.load()));
  line("sessionmesh_quota_warnings_total{level=\"100\"} %llu\n", static_cast<ull>(quota_full_.load()));
  o += "# HELP sessionmesh_pruned_events_total Session pruning events.\n# TYPE sessionmesh_pruned_events_total counter\n";
  line("sessionmesh_pruned_events_total %llu\n", static_cast<ull>(pruned_events_.load()));
  o += "# HELP sessionmesh_members Cluster members by status, this node included.\n# TYPE sessionmesh_members gauge\n";
  const char* statuses[] = {"alive", "suspect", "dead", "left"};
  for (size_t i = 0; i < 4; ++i)
    line("sessionmesh_members{status=\"%s\"} %llu\n", statuses[i], static_cast<ull>(members[i]));
  o += "# HELP sessionmesh_ready 1 while the node is ready and not draining.\n# TYPE sessionmesh_ready gauge\n";
  line("sessionmesh_ready %d\n", ready && !draining ? 1 : 0);
  o += "# HELP sessionmesh_info Constant 1, labelled with the node id.\n# TYPE sessionmesh_info gauge\n";
  line("sessionmesh_info{node_id=\"%s\"} 1\n", node.c_str());
  return o;
}

}  // namespace sessionmesh::http
