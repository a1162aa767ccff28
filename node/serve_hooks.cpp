// node_runtime: what the API calls back into — its hooks (cluster views,
// migration, faults, drain, reload), the request log, reload and drain.
#include <spdlog/spdlog.h>

#include <sys/statvfs.h>

#include <set>

#include <simdjson.h>
#include "http/cluster_views.hpp"
#include "http/json_render.hpp"
#include "node/logging.hpp"
#include "node/node_runtime.hpp"
#include "node/serve_setup.hpp"
#include "sessionmesh/telemetry.hpp"

namespace sessionmesh::node {

http::node_hooks node_runtime::make_hooks() {
  http::node_hooks hooks;
  hooks.ready = [this] {
    if (!ready_) return false;
    if (!cluster_ || cfg_.seeds.empty()) return true;
    // Replicated: joined (an alive peer answered), or alone for 10 s (the first node).
    return cluster_->alive_peers() > 0 ||
           std::chrono::steady_clock::now() - started_ > std::chrono::seconds(10);
  };
  // Cluster hooks follow active_ (a local node may switch online); empty
  // answers mean "single node" to the api.
  hooks.cluster_body = [this] {
    auto* c = active_.load();
    return c ? http::cluster_json(c->snapshot(), c->owned_counts(), c->merkle_root()) : std::string();
  };
  hooks.health_cluster = [this] {
    auto* c = active_.load();
    return c ? http::cluster_health_json(c->snapshot(), c->now_ms(), c->last_seq()) : std::string();
  };
  hooks.metrics_extra = [this] {
    auto* c = active_.load();
    return node_metrics_text() + (c ? c->metrics_text() : std::string());
  };
  hooks.alert_inputs = [this] {
    http::node_hooks::alert_readings in;
    if (const auto d = data_dir_space(); d && d->size > 0)
      in.disk_free_ratio = static_cast<double>(d->free) / static_cast<double>(d->size);
    if (auto* c = active_.load()) {
      const auto t = c->member_totals();
      in.suspect_or_dead = t[1] + t[2];
      in.max_peer_lag = c->max_peer_lag();
    }
    return in;
  };
  hooks.member_totals = [this] {
    auto* c = active_.load();
    return c ? c->member_totals() : std::array<uint64_t, 4>{1, 0, 0, 0};
  };
  hooks.owner_http = [this](std::string_view id) -> std::optional<std::string> {
    auto* c = active_.load();
    return c ? c->owner_http(id) : std::nullopt;
  };
  if (cfg_.replicas) {
    hooks.replica_http = [this](std::string_view record_id) -> std::optional<std::string> {
      auto* c = active_.load();
      return c ? c->replica_http(record_id) : std::nullopt;
    };
    hooks.replicas = [r = cfg_.replicas] { return r; };
    hooks.sources = [this] {
      http::placement_sources out;
      auto* c = active_.load();
      if (!c) return out;
      for (auto& s : c->sources(&out.uncovered)) out.nodes.push_back({s.node_id, s.http_addr, s.self, s.parts});
      return out;
    };
  }
  // Read-your-writes: a node without a cluster is the only node, where
  // every write is applied; a write answers the token it was sent.
  hooks.token_state = [this](std::string_view text, std::string_view record_id) {
    auto* c = active_.load();
    auto t = gossip::parse_token(text);
    return !c || !t ? 1 : c->token_state(*t, record_id);
  };
  hooks.token_wait = [this](std::string_view text, uint32_t timeout_ms, std::function<void(bool)> done) {
    auto* c = active_.load();
    auto t = gossip::parse_token(text);
    if (!c || !t) return done(true);
    c->when_token_applied(std::move(*t), timeout_ms, std::move(done));
  };
  hooks.token_node_http = [this](std::string_view text, std::string_view record_id) {
    auto* c = active_.load();
    auto t = gossip::parse_token(text);
    return c && t ? c->token_node_http(*t, record_id) : std::string();
  };
  hooks.token_after_write = [this](std::string_view text, uint64_t seq) {
    auto* c = active_.load();
    auto t = gossip::parse_token(text).value_or(gossip::session_token{});
    if (c && seq) gossip::merge_token(t, c->token_entry_for(seq));
    return gossip::format_token(t);
  };
  hooks.cluster_alerts = [this] {
    auto* c = active_.load();
    return c ? c->alerts() : std::vector<std::string>{};
  };
  if (migrator_) {
    hooks.migrate_start = [this](std::string_view body) {
      auto a = migrator_->start(body);
      return http::node_hooks::migrate_answer{a.status, a.code, a.body};
    };
    hooks.migrate_status = [this] {
      auto a = migrator_->status();
      return http::node_hooks::migrate_answer{a.status, a.code, a.body};
    };
  } else {
    hooks.migrate_start = [](std::string_view) {
      return http::node_hooks::migrate_answer{409, "already_replicated",
                                              "the node serves the replicated adapter"};
    };
    hooks.migrate_status = [dir = locked_dir_, mem = cfg_.in_memory] {
      // A node that switched online and restarted: the report it kept.
      if (std::string last = mem ? std::string() : read_last_report(dir); !last.empty())
        return http::node_hooks::migrate_answer{200, "", last};
      return http::node_hooks::migrate_answer{404, "not_found", "no migration has run on this node"};
    };
  }
  if (active_.load()) {
    if (cfg_.test_faults) {
      spdlog::warn("--test-faults: POST /v1/admin/faults can cut this node off its peers (testing only)");
      hooks.faults = [this](std::string_view body) {
        std::set<std::string> nodes;
        simdjson::dom::parser p;
        auto doc = p.parse(body.data(), body.size());
        if (!doc.error()) {
          auto arr = doc["block"].get_array();
          if (!arr.error())
            for (auto v : arr.value_unsafe())
              if (v.is_string()) nodes.insert(std::string(v.get_string().value_unsafe()));
        }
        cluster_->set_blocked(nodes);
        return std::string("{\"blocked\":") + std::to_string(nodes.size()) + "}";
      };
    }
  }
  hooks.draining = [this] { return draining_.load(); };
  hooks.drain = [this](std::function<void(std::string)> done) { drain(std::move(done)); };
  hooks.reload = [this] { return reload(); };
  return hooks;
}

void node_runtime::make_api(const http::api_settings& settings) {
  api_ = std::make_unique<http::api>(*store_, metrics_, make_hooks(), settings);
  api_->http_addr = cfg_.http.str();
  api_->on_alert = [hub = hub_](std::string_view alert, bool raised) {
    if (raised)
      spdlog::warn("alert raised: {}", alert);
    else
      spdlog::info("alert cleared: {}", alert);
    if (hub) hub->emit(named_event{raised ? "alert_raised" : "alert_cleared", alert, 0});
  };
  const bool json = cfg_.log_format == "json";
  // One line per request: 5xx (store errors included) at error, the rest
  // at debug; the error code of an error answer rides along.
  api_->on_request = [json](const http::request_view& rq, const http::response& rs, uint64_t us) {
    const auto level = rs.status >= 500 ? spdlog::level::err : spdlog::level::debug;
    if (!spdlog::should_log(level)) return;
    const auto path = rq.target.substr(0, rq.target.find('?'));
    const auto [route, session_id] = route_of(path);
    const std::string op = std::string(rq.method) + " " + route;
    std::string code;
    if (rs.status >= 400) {
      const auto at = rs.body.find("\"code\":\"");
      if (at != std::string::npos) code = rs.body.substr(at + 8, rs.body.find('"', at + 8) - (at + 8));
    }
    char dur[32];
    std::snprintf(dur, sizeof dur, "%.3f", static_cast<double>(us) / 1000.0);
    if (json) {
      std::string f(1, fields_mark);
      f += "\"request_id\":";
      http::append_json_string(f, rs.request_id);
      f += ",\"op\":";
      http::append_json_string(f, op);
      if (!session_id.empty()) {
        f += ",\"session_id\":";
        http::append_json_string(f, session_id);
      }
      f += ",\"status\":" + std::to_string(rs.status) + ",\"duration_ms\":" + dur;
      if (!code.empty()) {
        f += ",\"error\":";
        http::append_json_string(f, code);
      }
      f += fields_mark;
      f += "request";
      spdlog::log(level, "{}", f);
    } else {
      spdlog::log(level, "request request_id={} op=\"{}\" session_id={} status={} duration_ms={}{}{}", rs.request_id,
                  op, session_id.empty() ? "-" : session_id, rs.status, dur, code.empty() ? "" : " error=", code);
    }
  };
}

std::pair<bool, std::string> node_runtime::reload() {
  std::lock_guard lk(reload_mu_);
  auto next = resolve_config(cli_);
  if (!next) {
    spdlog::warn("reload refused: {}", next.describe());
    return {false, next.describe()};
  }
  auto settings = api_settings_of(*next);
  if (!settings) {
    spdlog::warn("reload refused: {}", settings.describe());
    return {false, settings.describe()};
  }
  // TLS first: a certificate that does not load refuses the whole reload.
  if (server_ != nullptr && next->tls.enabled() == cfg_.tls.enabled()) {
    if (auto r = server_->set_tls_files(next->tls); !r) {
      spdlog::warn("reload refused: {}", r.describe());
      return {false, r.describe()};
    }
  }
  set_log_level(next->log_level);
  runtime_settings rs{next->default_ttl_s, next->max_sessions, next->strict_quota,
                      next->global_program_ttl_s, next->max_global_programs, store_limits_of(*next)};
  rs.fsync = next->fsync;
  rs.reaper_interval_ms = next->reaper_interval_s * 1000;
  store_->reconfigure(rs);
  if (next->seeds != cfg_.seeds)
    if (auto* c = active_.load()) c->set_seeds(next->seeds);
  api_->set_settings(*settings);
  const auto restart = restart_needed(cfg_, *next);
  std::string body = "{\"status\":\"reloaded\",\"applied\":[";
  bool first = true;
  for (const auto& s : node::settings()) {
    if (!s.reloads) continue;
    if (!first) body += ",";
    first = false;
    http::append_json_string(body, s.name);
  }
  body += "],\"restart_required\":[";
  for (size_t i = 0; i < restart.size(); ++i) {
    if (i) body += ",";
    http::append_json_string(body, restart[i]);
  }
  body += "]}";
  const auto keep = cfg_;
  cfg_ = *next;
  // Restart-only settings keep their running values.
  cfg_.node_id = keep.node_id;
  cfg_.data_dir = keep.data_dir;
  cfg_.http = keep.http;
  if (keep.tls.enabled() != cfg_.tls.enabled()) cfg_.tls = keep.tls;
  spdlog::info("configuration reloaded{}", restart.empty() ? "" : " (some settings need a restart)");
  return {true, body};
}

void node_runtime::drain(std::function<void(std::string)> done) {
  const bool first = !draining_.exchange(true);
  if (first) spdlog::info("draining: refusing new writes");
  cluster* cl = active_.load();
  if (!cl) {
    // Local adapter: every acknowledged write is already in the WAL.
    return done("{\"status\":\"drained\",\"node_id\":\"" + cfg_.node_id + "\"}");
  }
  bool over = false;
  {
    std::lock_guard lk(drain_mu_);
    over = drained_;
    if (!over) {
      drain_waiters_.push_back(std::move(done));
      if (drain_started_) return;
      drain_started_ = true;
    }
  }
  if (over) return done(drain_body());
  cl->drain(10000, [this](uint64_t unconfirmed) {
    if (unconfirmed == 0)
      spdlog::info("drained: a peer has applied every local change; marked left");
    else if (cfg_.in_memory)
      spdlog::error("drained without a peer's confirmation: {} changes made on this node were confirmed by no "
                    "peer and exist only in its memory (--in-memory): they are lost at exit; marked left",
                    unconfirmed);
    else
      spdlog::error("drained without a peer's confirmation: {} changes made on this node were confirmed by no "
                    "peer and exist only on its disk ({}); start it again on that data dir to hand them over; "
                    "marked left",
                    unconfirmed, cfg_.data_dir);
    std::vector<std::function<void(std::string)>> waiters;
    {
      std::lock_guard lk(drain_mu_);
      drained_ = true;
      drain_confirmed_ = unconfirmed == 0;
      drain_unconfirmed_ = unconfirmed;
      waiters.swap(drain_waiters_);
    }
    const std::string body = drain_body();
    for (auto& w : waiters) w(body);
  });
}

std::string node_runtime::node_metrics_text() const {
  std::string o;
  o += "# HELP sessionmesh_sessions_limit The session quota (--max-sessions; 0: none).\n"
       "# TYPE sessionmesh_sessions_limit gauge\n";
  o += "sessionmesh_sessions_limit " + std::to_string(cfg_.max_sessions) + "\n";
  if (const auto d = data_dir_space()) {
    o += "# HELP sessionmesh_disk_free_bytes Bytes free for this node on its data dir's file system.\n"
         "# TYPE sessionmesh_disk_free_bytes gauge\n";
    o += "sessionmesh_disk_free_bytes " + std::to_string(d->free) + "\n";
    o += "# HELP sessionmesh_disk_size_bytes Size of the data dir's file system.\n"
         "# TYPE sessionmesh_disk_size_bytes gauge\n";
    o += "sessionmesh_disk_size_bytes " + std::to_string(d->size) + "\n";
  }
  return o;
}

std::optional<node_runtime::disk_space> node_runtime::data_dir_space() const {
  struct statvfs fs {};
  if (cfg_.in_memory || ::statvfs(cfg_.data_dir.c_str(), &fs) != 0) return std::nullopt;
  return disk_space{static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize, static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize};
}

std::string node_runtime::drain_body() const {
  std::lock_guard lk(drain_mu_);
  return std::string("{\"status\":\"left\",\"node_id\":\"") + cfg_.node_id +
         "\",\"confirmed\":" + (drain_confirmed_ ? "true" : "false") +
         ",\"unconfirmed_changes\":" + std::to_string(drain_unconfirmed_) + "}";
}

}  // namespace sessionmesh::node
