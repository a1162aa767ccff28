#include "node/serve_setup.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <fstream>

namespace sessionmesh::node {

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

result<std::string> read_token(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream f(path);
  std::string tok;
  if (!f || !std::getline(f, tok)) {
    return {errc::invalid_argument, "cannot read a token from " + path};
  }
  while (!tok.empty() && (tok.back() == '\r' || tok.back() == ' ' || tok.back() == '\t')) tok.pop_back();
  if (tok.empty()) {
    return {errc::invalid_argument, "the token file " + path + " is empty"};
  }
  return tok;
}

store_limits store_limits_of(const node_config& cfg) {
  store_limits l;
  l.value_bytes = static_cast<size_t>(cfg.max_value_bytes);
  l.entries_per_map = static_cast<size_t>(cfg.max_entries);
  l.programs = static_cast<size_t>(cfg.max_programs);
  l.session_bytes = static_cast<size_t>(cfg.max_session_bytes);
  return l;
}

store_options store_options_of(const node_config& cfg) {
  store_options o;
  o.node_id = cfg.node_id;
  if (!cfg.in_memory) o.data_dir = cfg.data_dir;
  o.fsync = cfg.fsync;
  o.default_ttl_s = cfg.default_ttl_s;
  o.max_sessions = cfg.max_sessions;
  o.strict_quota = cfg.strict_quota;
  o.huge_pages = cfg.huge_pages;
  o.global_program_ttl_s = cfg.global_program_ttl_s;
  o.max_global_programs = cfg.max_global_programs;
  o.reaper_interval_ms = cfg.reaper_interval_s * 1000;
  o.tombstone_grace_ms = cfg.tombstone_grace_s * 1000;
  o.max_clock_offset_ms = cfg.max_clock_offset_ms;
  o.limits = store_limits_of(cfg);
  o.on_warning = [](std::string_view name, std::string_view msg) { spdlog::warn("{}: {}", name, msg); };
  if (cfg.test_clock_offset_ms != 0) {
    const int64_t off = cfg.test_clock_offset_ms;
    o.clock = [off] {
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      return static_cast<uint64_t>(now + off);
    };
  }
  return o;
}

cluster_options cluster_options_of(const node_config& cfg, const std::string& cluster_key) {
  cluster_options co;
  co.node_id = cfg.node_id;
  co.listen_host = cfg.gossip.host;
  co.listen_port = cfg.gossip.port;
  co.advertise = cfg.advertise.host.empty() ? cfg.gossip.str() : cfg.advertise.str();
  co.http_addr = cfg.http.str();
  co.seeds = cfg.seeds;
  co.cluster_key = cluster_key;
  co.cluster_name = cfg.cluster_name;
  co.max_clock_offset_ms = cfg.max_clock_offset_ms;
  co.replicas = cfg.replicas;
  return co;
}

result<http::api_settings> api_settings_of(const node_config& cfg) {
  http::api_settings s;
  auto api_tok = read_token(cfg.api_token_file);
  if (!api_tok) return failed<http::api_settings>(api_tok);
  auto admin_tok = read_token(cfg.admin_token_file);
  if (!admin_tok) return failed<http::api_settings>(admin_tok);
  s.api_token = *api_tok;
  s.admin_token = *admin_tok;
  s.max_sessions = cfg.max_sessions;
  s.body_bytes = static_cast<size_t>(cfg.max_body_bytes);
  s.value_bytes = static_cast<size_t>(cfg.max_value_bytes);
  s.alert_p99_us = cfg.alert_p99_ms * 1000;
  s.alert_quota_ratio = static_cast<double>(cfg.alert_quota_percent) / 100.0;
  s.alert_fsync_us = cfg.alert_fsync_ms * 1000;
  s.alert_lag_writes = cfg.alert_lag_writes;
  s.alert_suspect_peers = cfg.alert_suspect_peers;
  s.alert_disk_free_ratio = static_cast<double>(cfg.alert_disk_free_percent) / 100.0;
  return s;
}

// Settings that only take effect after a restart.
std::vector<std::string> restart_needed(const node_config& a, const node_config& b) {
  std::vector<std::string> out;
  auto diff = [&](bool changed, const char* name) {
    if (changed) out.emplace_back(name);
  };
  diff(a.node_id != b.node_id, "node-id");
  diff(a.data_dir != b.data_dir, "data-dir");
  diff(a.in_memory != b.in_memory, "in-memory");
  diff(a.http.str() != b.http.str(), "http");
  diff(a.gossip.str() != b.gossip.str(), "gossip");
  diff(a.advertise.str() != b.advertise.str(), "advertise");
  diff(a.adapter != b.adapter, "adapter");
  diff(a.tls.enabled() != b.tls.enabled(), "tls-cert");
  diff(a.log_format != b.log_format, "log-format");
  diff(a.cluster_key_file != b.cluster_key_file, "cluster-key-file");
  diff(a.max_clock_offset_ms != b.max_clock_offset_ms, "max-clock-offset-ms");
  diff(a.replicas != b.replicas, "replicas");
  return out;
}

}  // namespace sessionmesh::node
