// node_config: the settings of `sessionmesh serve` (API.md section 1).
// Every flag is also settable as SESSIONMESH_<FLAG> in the environment and
// as a key of the TOML config file (`node-id` or `node_id`); precedence is
// flag > env > file > default. A bad value yields a one-line reason.
// Thread: plain value type.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "http/tls_files.hpp"
#include "sessionmesh/options.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::node {

struct host_port {
  std::string host;
  uint16_t port = 0;
  std::string str() const { return host + ":" + std::to_string(port); }
};

struct node_config {
  std::string config_file;
  std::string node_id;
  std::string data_dir = "./data";
  bool in_memory = false;
  host_port http{"127.0.0.1", 7070};
  host_port gossip{"127.0.0.1", 7946};
  host_port advertise;
  std::vector<std::string> seeds;
  std::string adapter = "local";
  fsync_mode fsync = fsync_mode::batch;
  uint32_t default_ttl_s = 3600;
  uint64_t max_sessions = 10000;
  bool strict_quota = false;
  bool huge_pages = true;
  uint32_t global_program_ttl_s = 3600;
  uint64_t max_global_programs = 10000;
  std::string api_token_file, admin_token_file, cluster_key_file;
  http::tls_files tls;  // empty cert: plain HTTP
  std::string log_level = "info";
  std::string log_format = "text";
  uint32_t reaper_interval_s = 60;
  uint64_t tombstone_grace_s = 86400;
  uint64_t max_clock_offset_ms = 500;
  unsigned replicas = 0;  // --replicas: 0 = all (full replication)
  unsigned http_threads = 0;
  uint64_t max_body_bytes = 4u << 20;
  uint64_t max_value_bytes = 1u << 20;
  uint64_t max_entries = 1024;
  uint64_t max_programs = 200;
  uint64_t max_session_bytes = 8u << 20;
  uint64_t alert_p99_ms = 100, alert_quota_percent = 80, alert_fsync_ms = 100;
  uint64_t alert_lag_writes = 10000, alert_suspect_peers = 1, alert_disk_free_percent = 10;
  uint64_t max_connections = 10000;
  uint64_t max_connections_per_address = 2048;
  std::string cluster_name = "sessionmesh";
  bool test_faults = false;
  int64_t test_clock_offset_ms = 0;
};

// The raw settings table: name -> (default, help). Names are flag names.
struct setting_spec {
  const char* name;
  const char* fallback;  // "" = none
  const char* help;
  bool boolean;
  bool reloads;  // SIGHUP and POST /v1/admin/reload apply it; else it needs a restart
};
const std::vector<setting_spec>& settings();
// A commented TOML file with every setting (but config and test-*) at its
// default, each with its help and whether it reloads: what
// `sessionmesh config-sample` prints and `meson install` puts in
// <sysconfdir>/sessionmesh/sessionmesh.toml. Uncommented, it is valid.
std::string sample_toml();

// Resolves raw values (cli wins, then env, then file, then default) and
// converts them. cli holds only the flags given on the command line.
result<node_config> resolve_config(const std::map<std::string, std::string>& cli);

}  // namespace sessionmesh::node
