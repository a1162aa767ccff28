// api: health, cluster and admin endpoints (API.md sections 3 and 5).
#include <algorithm>

#include "http/api.hpp"
#include "http/json_render.hpp"
#include "http/path.hpp"

namespace sessionmesh::http {

std::vector<std::string> api::evaluate_alerts() {
  const auto cfg = settings();
  const auto st = store_.stats();
  std::vector<std::string> now;
  if (st.wal_failed) now.emplace_back("wal_failed");
  if (metrics_.all_ops().count() >= 100 && metrics_.all_ops().quantile_us(0.99) > cfg->alert_p99_us)
    now.emplace_back("latency_p99_high");
  if (cfg->max_sessions > 0) {
    const double used = static_cast<double>(st.current_sessions) / static_cast<double>(cfg->max_sessions);
    if (used >= 1.0) now.emplace_back("session_quota_full");
    else if (used >= cfg->alert_quota_ratio) now.emplace_back("session_quota_high");
  }
  if (st.wal_fsyncs > 0 && st.wal_fsync_us_last > cfg->alert_fsync_us) now.emplace_back("wal_fsync_slow");
  if (hooks_.alert_inputs) {
    const auto in = hooks_.alert_inputs();
    if (in.max_peer_lag >= cfg->alert_lag_writes) now.emplace_back("replication_lag_high");
    if (in.suspect_or_dead >= cfg->alert_suspect_peers) now.emplace_back("peers_unhealthy");
    if (cfg->alert_disk_free_ratio > 0 && in.disk_free_ratio >= 0 && in.disk_free_ratio <= cfg->alert_disk_free_ratio)
      now.emplace_back("disk_free_low");
  }
  if (hooks_.cluster_alerts)
    for (auto& a : hooks_.cluster_alerts()) now.push_back(std::move(a));
  std::lock_guard lk(alerts_mu_);
  for (const auto& a : now)
    if (std::find(raised_.begin(), raised_.end(), a) == raised_.end()) {
      ++alerts_raised_total_;
      if (on_alert) on_alert(a, true);
    }
  for (const auto& a : raised_)
    if (std::find(now.begin(), now.end(), a) == now.end() && on_alert) on_alert(a, false);
  raised_ = now;
  return now;
}

std::string api::alerts_metrics() const {
  std::lock_guard lk(alerts_mu_);
  std::string o =
      "# HELP sessionmesh_alert 1 while the named alert is raised (/health/sessions lists the same).\n"
      "# TYPE sessionmesh_alert gauge\n";
  for (const auto& a : raised_) o += "sessionmesh_alert{alert=\"" + a + "\"} 1\n";
  o += "# HELP sessionmesh_alerts_raised_total Alerts raised since start.\n"
       "# TYPE sessionmesh_alerts_raised_total counter\n";
  o += "sessionmesh_alerts_raised_total " + std::to_string(alerts_raised_total_) + "\n";
  return o;
}

response api::health(const std::string& rid) {
  (void)rid;
  const auto st = store_.stats();
  const auto al = evaluate_alerts();
  const bool failing = st.wal_failed;
  const char* status = failing ? "failing" : al.empty() ? "ok" : "degraded";
  response r;
  r.status = failing ? 503 : 200;
  std::string& o = r.body;
  o += "{\"status\":\"";
  o += status;
  o += "\",\"node_id\":";
  append_json_string(o, store_.node_id());
  o += ",\"adapter\":";
  append_json_string(o, store_.adapter_name());
  o += ",\"sessions\":{\"live\":" + std::to_string(st.current_sessions) +
       ",\"tombstones\":" + std::to_string(st.tombstones) +
       ",\"limit\":" + std::to_string(settings()->max_sessions) + "}";
  if (const std::string hc = hooks_.health_cluster ? hooks_.health_cluster() : std::string(); !hc.empty()) {
    o += ",";
    o += hc;
  } else {
    o += ",\"cluster\":{\"alive\":1,\"suspect\":0,\"dead\":0}";
    o += ",\"replication\":{\"pending\":0,\"peers\":[]}";
  }
  o += ",\"latency_us\":{\"p50\":" + std::to_string(metrics_.all_ops().quantile_us(0.5)) +
       ",\"p99\":" + std::to_string(metrics_.all_ops().quantile_us(0.99)) + "}";
  o += ",\"alerts\":[";
  for (size_t i = 0; i < al.size(); ++i) {
    if (i) o.push_back(',');
    append_json_string(o, al[i]);
  }
  o += "]}";
  return r;
}

response api::cluster(const std::string& rid) {
  (void)rid;
  response r;
  if (hooks_.cluster_body) {
    r.body = hooks_.cluster_body();
    if (!r.body.empty()) return r;
  }
  std::string& o = r.body;
  const auto st = store_.stats();
  o += "{\"node_id\":";
  append_json_string(o, store_.node_id());
  o += ",\"adapter\":";
  append_json_string(o, store_.adapter_name());
  o += ",\"members\":[{\"node_id\":";
  append_json_string(o, store_.node_id());
  o += ",\"gossip_addr\":null,\"http_addr\":";
  append_json_string(o, http_addr);
  o += ",\"status\":\"alive\",\"incarnation\":0}]";
  o += ",\"owned_sessions\":{";
  append_json_string(o, store_.node_id());
  o += ":" + std::to_string(st.current_sessions) + "}";
  o += ",\"digest\":null}";
  return r;
}

response api::admin(const request_view& req, std::string_view what, const std::string& rid) {
  if (what == "drain") {
    if (req.method != "POST") {
      auto r = error(405, "method_not_allowed", "allowed: POST", rid);
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    response r;
    if (!hooks_.drain) {
      r.body = "{\"status\":\"drained\"}";
      return r;
    }
    pending_write w;
    w.job = hooks_.drain;
    r.pending = std::move(w);
    return r;
  }
  if (what == "reload") {
    if (req.method != "POST") {
      auto r = error(405, "method_not_allowed", "allowed: POST", rid);
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    if (!hooks_.reload) return error(400, "invalid_argument", "no config file to reload", rid);
    auto [ok, body] = hooks_.reload();
    if (!ok) return error(400, "invalid_argument", body, rid);
    response r;
    r.body = std::move(body);
    return r;
  }
  if (what == "cleanup") {
    // Snakepit's cleanup_expired_sessions(): the reaper, now.
    if (req.method != "POST") {
      auto r = error(405, "method_not_allowed", "allowed: POST", rid);
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    bool bad = false;
    const size_t q = req.target.find('?');
    const auto ns = query_param(q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1),
                                "namespace", &bad);
    if (bad) return error(400, "invalid_argument", "bad percent-encoding in the query", rid);
    const uint64_t gp_before = store_.stats().global_programs_expired;
    const uint64_t ns_before = ns ? store_.expired_in_namespace(*ns) : 0;
    const uint64_t n = store_.cleanup_expired();
    const uint64_t gp = store_.stats().global_programs_expired - gp_before;
    response r;
    r.body = "{\"removed\":" + std::to_string(n) + ",\"global_programs_removed\":" + std::to_string(gp);
    // A named store's share (Snakepit counts only its own table).
    if (ns) r.body += ",\"namespace_removed\":" + std::to_string(store_.expired_in_namespace(*ns) - ns_before);
    r.body += "}";
    return r;
  }
  if (what == "faults" && hooks_.faults) {
    if (req.method != "POST") return error(405, "method_not_allowed", "allowed: POST", rid);
    response r;
    r.body = hooks_.faults(req.body);
    return r;
  }
  if (what == "migrate") {
    if (req.method != "POST" && req.method != "GET") {
      auto r = error(405, "method_not_allowed", "allowed: GET, POST", rid);
      r.headers.emplace_back("Allow", "GET, POST");
      return r;
    }
    if (!hooks_.migrate_start || !hooks_.migrate_status)
      return error(501, "not_implemented", "online migration is not available on this node", rid);
    if (req.method == "POST" && hooks_.draining && hooks_.draining())
      return error(503, "draining", "the node is draining", rid);
    auto a = req.method == "POST" ? hooks_.migrate_start(req.body) : hooks_.migrate_status();
    if (a.status >= 400) return error(a.status, a.code, a.body, rid);
    response r;
    r.status = a.status;
    r.body = std::move(a.body);
    return r;
  }
  return error(404, "not_found", "no such admin endpoint", rid);
}

}  // namespace sessionmesh::http
