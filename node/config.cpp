#include "node/config.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <toml++/toml.h>

namespace sessionmesh::node {
namespace {

std::string env_name(std::string_view flag) {
  std::string e = "SESSIONMESH_";
  for (char c : flag) e.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return e;
}

bool parse_u64(const std::string& s, uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && !s.empty();
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "true" || s == "1" || s == "yes" || s == "on") return out = true, true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return out = false, true;
  return false;
}

bool parse_host_port(const std::string& s, host_port& out) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  uint64_t port = 0;
  if (!parse_u64(s.substr(colon + 1), port) || port > 65535) return false;
  out.host = s.substr(0, colon);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  out.port = static_cast<uint16_t>(port);
  return true;
}

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "node";
  return buf;
}

// Reads the TOML file into name -> string value; unknown keys are errors.
result<std::map<std::string, std::string>> read_file(const std::string& path) {
  std::map<std::string, std::string> out;
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return {errc::invalid_argument, "config file " + path + ": " + std::string(e.description()) + " at line " + std::to_string(e.source().begin.line)};
  }
  for (const auto& [k, v] : tbl) {
    std::string key(k.str());
    for (char& c : key)
      if (c == '_') c = '-';
    bool known = false;
    for (const auto& s : settings()) known |= key == s.name;
    if (!known || key == "config") {
      return {errc::invalid_argument, "config file " + path + ": unknown key '" + std::string(k.str()) + "'"};
    }
    if (auto sv = v.value<std::string>()) out[key] = *sv;
    else if (auto iv = v.value<int64_t>()) out[key] = std::to_string(*iv);
    else if (auto bv = v.value<bool>()) out[key] = *bv ? "true" : "false";
    else if (auto arr = v.as_array()) {
      std::string joined;
      for (const auto& el : *arr) {
        auto s = el.value<std::string>();
        if (!s) {
          return {errc::invalid_argument, "config file " + path + ": '" + std::string(k.str()) + "' must be a list of strings"};
        }
        joined += (joined.empty() ? "" : ",") + *s;
      }
      out[key] = joined;
    } else {
      return {errc::invalid_argument, "config file " + path + ": '" + std::string(k.str()) + "' has an unsupported type"};
    }
  }
  return out;
}

}  // namespace

const std::vector<setting_spec>& settings() {
  static const std::vector<setting_spec> s = {
      {"config", "", "TOML config file; re-read on SIGHUP and POST /v1/admin/reload", false, false},
      {"node-id", "", "unique, stable name of this node (default: host name)", false, false},
      {"data-dir", "./data", "embedded durable store (WAL + snapshots)", false, false},
      {"in-memory", "false", "keep nothing on disk", true, false},
      {"http", "127.0.0.1:7070", "REST + WebSocket + health + metrics address", false, false},
      {"gossip", "127.0.0.1:7946", "cluster transport address (replicated adapter only)", false, false},
      {"advertise", "", "address peers should dial (default: --gossip)", false, false},
      {"seeds", "", "comma-separated host:port list of peers", false, true},
      {"adapter", "", "local|replicated (default: local, replicated when --seeds is given)", false, false},
      {"fsync", "batch", "WAL durability: always|batch|off", false, true},
      {"default-ttl", "3600", "TTL in seconds of sessions created without one", false, true},
      {"max-sessions", "10000", "session quota: creates past it answer 429 (0: no limit); warnings at 80% and 100%", false, true},
      {"strict-quota", "false", "also log every create refused past the quota (loud warnings)", true, true},
      {"global-program-ttl", "3600", "seconds a global program lives after its last put", false, true},
      {"max-global-programs", "10000", "global program quota (0: no limit)", false, true},
      {"api-token-file", "", "require Authorization: Bearer <token> on /v1/*", false, true},
      {"tls-cert", "", "PEM certificate chain: serve REST and the feed over TLS only (files re-read on reload)", false, true},
      {"tls-key", "", "PEM private key of --tls-cert", false, true},
      {"tls-client-ca", "", "PEM CAs a client certificate must chain to (mutual TLS); relays verify owners against it", false, true},
      {"admin-token-file", "", "token required on /v1/admin/* (falls back to the API token)", false, true},
      {"cluster-key-file", "", "shared secret of the cluster transport", false, false},
      {"log-level", "info", "trace|debug|info|warn|error", false, true},
      {"log-format", "text", "text|json", false, false},
      {"reaper-interval", "60", "seconds between TTL reaper runs", false, true},
      {"max-clock-offset-ms", "500", "refuse remote clocks further ahead than this", false, false},
      {"replicas", "all", "nodes that hold each session: all (full replication) or R, 1 to 16 (placement)", false, false},
      {"http-threads", "0", "HTTP I/O threads (0: one per core but one)", false, false},
      {"huge-pages", "on", "on|off: ask the kernel for huge pages for session records (on: faster reads; off: no "
                           "write waits for the kernel compacting memory)", false, false},
      {"max-body-bytes", "4194304", "largest request body; past it 413 (1024 to 12582912)", false, true},
      {"max-value-bytes", "1048576", "largest JSON value (a variable, program or metadata entry); past it 413 (1 to max-body-bytes)", false, true},
      {"max-entries", "1024", "live entries per map (metadata, variables, programs) of a session; past it 413 (1 to 100000)", false, true},
      {"max-session-bytes", "8388608", "bytes of one session's live entries (names and values, all maps); a write past it is 413 (1024 to 12582912)", false, true},
      {"max-programs", "200", "programs per session; one more is 429 too_many_programs (1 to 100000)", false, true},
      {"alert-p99-ms", "100", "alert latency_p99_high past this p99 of store operations (ms, 1 to 600000)", false, true},
      {"alert-quota-percent", "80", "alert session_quota_high at this share of --max-sessions (1 to 100)", false, true},
      {"alert-fsync-ms", "100", "alert wal_fsync_slow past this WAL fsync (ms, 1 to 600000)", false, true},
      {"alert-lag-writes", "10000", "alert replication_lag_high when a peer has not confirmed this many writes (1 to 10^12)", false, true},
      {"alert-suspect-peers", "1", "alert peers_unhealthy at this many suspect or dead peers (1 to 10000)", false, true},
      {"alert-disk-free-percent", "10", "alert disk_free_low at this free share of the data dir's file system (0 to 99; 0: off)", false, true},
      {"max-connections", "10000", "HTTP connections in all; past it: 503 overloaded, then close", false, false},
      {"max-connections-per-address", "2048", "HTTP connections from one client address; past it: 503 overloaded", false, false},
      {"tombstone-grace", "86400", "seconds deleted and expired sessions are kept for replication; a node out of "
                                   "contact longer than this resyncs from its peers", false, false},
      {"cluster-name", "sessionmesh", "peers must share this name to join", false, false},
      {"test-faults", "false", "enable POST /v1/admin/faults (a test-only network fault switch)", true, false},
      {"test-clock-offset-ms", "0", "testing only: shift this node's wall clock (ms, may be negative)", false, false},
  };
  return s;
}

std::string sample_toml() {
  std::string o =
      "# sessionmesh configuration (TOML). Every setting is shown at its default,\n"
      "# commented out; a flag (--name) or an environment variable (SESSIONMESH_NAME)\n"
      "# overrides this file. SIGHUP or POST /v1/admin/reload re-reads it: settings\n"
      "# marked (reloads) apply at once, the others at the next start.\n";
  for (const auto& s : settings()) {
    const std::string name = s.name;
    if (name == "config" || name.rfind("test-", 0) == 0) continue;
    o += "\n# " + std::string(s.help) + (s.reloads ? " (reloads)" : " (restart)") + "\n# " + name + " = ";
    const std::string v = s.fallback;
    const bool number = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
    if (s.boolean || number) o += v;
    else o += "\"" + v + "\"";
    o += "\n";
  }
  return o;
}

// Over 80 lines on purpose: one conversion per setting, in the order of the
// settings table, each with its own one-line error.
result<node_config> resolve_config(const std::map<std::string, std::string>& cli) {
  std::map<std::string, std::string> file;
  std::string config_path;
  if (auto it = cli.find("config"); it != cli.end()) config_path = it->second;
  else if (const char* e = std::getenv("SESSIONMESH_CONFIG")) config_path = e;
  if (!config_path.empty()) {
    auto f = read_file(config_path);
    if (!f) return failed<node_config>(f);
    file = std::move(f).value();
  }
  std::map<std::string, std::string> v;
  std::map<std::string, std::string> origin;
  for (const auto& s : settings()) {
    if (auto it = cli.find(s.name); it != cli.end()) {
      v[s.name] = it->second;
      origin[s.name] = std::string("--") + s.name;
    } else if (const char* e = std::getenv(env_name(s.name).c_str())) {
      v[s.name] = e;
      origin[s.name] = env_name(s.name);
    } else if (auto fit = file.find(s.name); fit != file.end()) {
      v[s.name] = fit->second;
      origin[s.name] = "config key '" + std::string(s.name) + "'";
    } else {
      v[s.name] = s.fallback;
      origin[s.name] = std::string("--") + s.name;
    }
  }
  auto bad = [&](const char* name, const std::string& expect) {
    return result<node_config>(errc::invalid_argument,
                               origin[name] + ": invalid value '" + v[name] + "' (expected " + expect + ")");
  };

  node_config c;
  c.config_file = config_path;
  c.node_id = v["node-id"].empty() ? host_name() : v["node-id"];
  if (c.node_id.size() > 256) return bad("node-id", "at most 256 bytes");
  c.data_dir = v["data-dir"];
  if (c.data_dir.empty()) return bad("data-dir", "a directory");
  if (!parse_bool(v["in-memory"], c.in_memory)) return bad("in-memory", "true or false");
  if (!parse_host_port(v["http"], c.http)) return bad("http", "HOST:PORT");
  if (!parse_host_port(v["gossip"], c.gossip)) return bad("gossip", "HOST:PORT");
  c.advertise = c.gossip;
  if (!v["advertise"].empty() && !parse_host_port(v["advertise"], c.advertise)) return bad("advertise", "HOST:PORT");
  std::string seeds = v["seeds"];
  for (size_t pos = 0; pos < seeds.size();) {
    size_t comma = seeds.find(',', pos);
    if (comma == std::string::npos) comma = seeds.size();
    std::string one = seeds.substr(pos, comma - pos);
    host_port hp;
    if (!one.empty()) {
      if (!parse_host_port(one, hp)) return bad("seeds", "comma-separated HOST:PORT");
      c.seeds.push_back(one);
    }
    pos = comma + 1;
  }
  c.adapter = v["adapter"].empty() ? (c.seeds.empty() ? "local" : "replicated") : v["adapter"];
  if (c.adapter != "local" && c.adapter != "replicated") return bad("adapter", "local or replicated");
  const std::string& f = v["fsync"];
  if (f == "always") c.fsync = fsync_mode::always;
  else if (f == "batch") c.fsync = fsync_mode::batch;
  else if (f == "off") c.fsync = fsync_mode::off;
  else return bad("fsync", "always, batch or off");
  uint64_t n = 0;
  if (!parse_u64(v["default-ttl"], n) || n == 0 || n > 10ull * 365 * 86400) return bad("default-ttl", "seconds, 1 to 315360000");
  c.default_ttl_s = static_cast<uint32_t>(n);
  if (!parse_u64(v["max-sessions"], c.max_sessions)) return bad("max-sessions", "an integer (0: no limit)");
  if (!parse_u64(v["global-program-ttl"], n) || n == 0 || n > 10ull * 365 * 86400)
    return bad("global-program-ttl", "seconds, 1 to 315360000");
  c.global_program_ttl_s = static_cast<uint32_t>(n);
  if (!parse_u64(v["max-global-programs"], c.max_global_programs))
    return bad("max-global-programs", "an integer (0: no limit)");
  if (!parse_bool(v["strict-quota"], c.strict_quota)) return bad("strict-quota", "true or false");
  if (!parse_bool(v["huge-pages"], c.huge_pages)) return bad("huge-pages", "on or off");  // a TOML boolean too
  c.api_token_file = v["api-token-file"];
  c.tls.cert = v["tls-cert"];
  c.tls.key = v["tls-key"];
  c.tls.client_ca = v["tls-client-ca"];
  if (c.tls.cert.empty() != c.tls.key.empty()) return bad("tls-key", "--tls-cert and --tls-key go together");
  if (!c.tls.client_ca.empty() && c.tls.cert.empty()) return bad("tls-client-ca", "needs --tls-cert and --tls-key");
  c.admin_token_file = v["admin-token-file"];
  c.cluster_key_file = v["cluster-key-file"];
  c.log_level = v["log-level"];
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error")
    return bad("log-level", "trace, debug, info, warn or error");
  c.log_format = v["log-format"];
  if (c.log_format != "text" && c.log_format != "json") return bad("log-format", "text or json");
  if (!parse_u64(v["reaper-interval"], n) || n == 0 || n > 86400) return bad("reaper-interval", "seconds, 1 to 86400");
  c.reaper_interval_s = static_cast<uint32_t>(n);
  if (!parse_u64(v["tombstone-grace"], n) || n == 0 || n > 10ull * 365 * 86400)
    return bad("tombstone-grace", "seconds, 1 to 315360000");
  c.tombstone_grace_s = n;
  if (!parse_u64(v["max-clock-offset-ms"], c.max_clock_offset_ms) || c.max_clock_offset_ms == 0)
    return bad("max-clock-offset-ms", "a positive integer");
  if (v["replicas"] == "all") {
    c.replicas = 0;
  } else if (!parse_u64(v["replicas"], n) || n == 0 || n > 16) {
    return bad("replicas", "all, or a number of nodes from 1 to 16");
  } else {
    c.replicas = static_cast<unsigned>(n);
  }
  if (!parse_u64(v["http-threads"], n) || n > 256) return bad("http-threads", "0 to 256");
  c.http_threads = static_cast<unsigned>(n);
  if (!parse_u64(v["max-body-bytes"], c.max_body_bytes) || c.max_body_bytes < 1024 || c.max_body_bytes > (12u << 20))
    return bad("max-body-bytes", "1024 to 12582912 (a replicated write must fit a 16 MiB cluster frame)");
  if (!parse_u64(v["max-value-bytes"], c.max_value_bytes) || c.max_value_bytes == 0 ||
      c.max_value_bytes > c.max_body_bytes)
    return bad("max-value-bytes", "1 to max-body-bytes (" + std::to_string(c.max_body_bytes) + ")");
  if (!parse_u64(v["max-entries"], c.max_entries) || c.max_entries == 0 || c.max_entries > 100000)
    return bad("max-entries", "1 to 100000");
  if (!parse_u64(v["max-session-bytes"], c.max_session_bytes) || c.max_session_bytes < 1024 ||
      c.max_session_bytes > (12u << 20))
    return bad("max-session-bytes", "1024 to 12582912 (a replicated session must fit a 16 MiB cluster frame)");
  if (!parse_u64(v["max-programs"], c.max_programs) || c.max_programs == 0 || c.max_programs > 100000)
    return bad("max-programs", "1 to 100000");
  auto in_range = [&](const char* name, uint64_t lo, uint64_t hi, uint64_t& out) {
    return parse_u64(v[name], out) && out >= lo && out <= hi;
  };
  if (!in_range("alert-p99-ms", 1, 600000, c.alert_p99_ms)) return bad("alert-p99-ms", "1 to 600000");
  if (!in_range("alert-quota-percent", 1, 100, c.alert_quota_percent)) return bad("alert-quota-percent", "1 to 100");
  if (!in_range("alert-fsync-ms", 1, 600000, c.alert_fsync_ms)) return bad("alert-fsync-ms", "1 to 600000");
  if (!in_range("alert-lag-writes", 1, 1000000000000ull, c.alert_lag_writes))
    return bad("alert-lag-writes", "1 to 1000000000000");
  if (!in_range("alert-suspect-peers", 1, 10000, c.alert_suspect_peers)) return bad("alert-suspect-peers", "1 to 10000");
  if (!in_range("alert-disk-free-percent", 0, 99, c.alert_disk_free_percent))
    return bad("alert-disk-free-percent", "0 to 99");
  if (!parse_u64(v["max-connections"], c.max_connections) || c.max_connections == 0 || c.max_connections > 1000000)
    return bad("max-connections", "1 to 1000000");
  if (!parse_u64(v["max-connections-per-address"], c.max_connections_per_address) ||
      c.max_connections_per_address == 0 || c.max_connections_per_address > 1000000)
    return bad("max-connections-per-address", "1 to 1000000");
  c.cluster_name = v["cluster-name"];
  if (c.cluster_name.empty() || c.cluster_name.size() > 128) return bad("cluster-name", "1 to 128 bytes");
  if (!parse_bool(v["test-faults"], c.test_faults)) return bad("test-faults", "true or false");
  {
    const std::string& off = v["test-clock-offset-ms"];
    char* end = nullptr;
    c.test_clock_offset_ms = std::strtoll(off.c_str(), &end, 10);
    if (off.empty() || *end != '\0') return bad("test-clock-offset-ms", "an integer");
  }
  return c;
}

}  // namespace sessionmesh::node
