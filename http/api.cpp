#include "http/api.hpp"

#include <future>

#include <charconv>
#include <chrono>
#include <cstdio>

#include "gossip/session_token.hpp"
#include "http/body.hpp"
#include "http/json_render.hpp"
#include "http/path.hpp"
#include "store/validate.hpp"

namespace sessionmesh::http {
namespace {

unsigned status_of(errc e) {
  switch (e) {
    case errc::invalid_argument: return 400;
    case errc::not_found: return 404;
    case errc::version_mismatch: return 412;
    case errc::too_large: return 413;
    case errc::session_quota_exceeded:
    case errc::too_many_programs: return 429;
    case errc::unavailable:
    case errc::clock_skew: return 503;
    case errc::acks_timeout: return 504;
    default: return 500;
  }
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

response method_not_allowed(std::string_view allow, const std::string& rid) {
  auto r = api::error(405, "method_not_allowed", "allowed: " + std::string(allow), rid);
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

}  // namespace

api::api(session_store& store, metrics& m, node_hooks hooks, api_settings settings)
    : store_(store),
      metrics_(m),
      hooks_(std::move(hooks)),
      settings_(std::make_shared<const api_settings>(std::move(settings))),
      rid_base_(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) *
                0x9e3779b97f4a7c15ull) {}

void api::set_settings(api_settings s) {
  auto p = std::make_shared<const api_settings>(std::move(s));
  std::lock_guard lk(settings_mu_);
  settings_ = std::move(p);
}

std::shared_ptr<const api_settings> api::settings() const {
  std::lock_guard lk(settings_mu_);
  return settings_;
}

std::string api::request_id_for(std::string_view given) {
  bool sane = !given.empty() && given.size() <= 128;
  for (unsigned char c : given) sane &= c > 0x20 && c < 0x7f && c != '"' && c != '\\';
  if (sane) return std::string(given);
  const uint64_t n = rid_counter_.fetch_add(1, std::memory_order_relaxed);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(24, '0');
  for (int i = 0; i < 16; ++i) out[static_cast<size_t>(i)] = hex[(rid_base_ >> (60 - 4 * i)) & 0xf];
  for (int i = 0; i < 8; ++i) out[16 + static_cast<size_t>(i)] = hex[(n >> (28 - 4 * i)) & 0xf];
  return out;
}

response api::error(unsigned status, std::string_view code, std::string_view message, const std::string& rid) {
  response r;
  r.status = status;
  render_error(r.body, code, message, rid);
  if (status == 503 || status == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

response api::store_error(std::error_code ec, const std::string& rid) {
  if (ec.category() != error_category()) return error(500, "internal", ec.message(), rid);
  const auto e = static_cast<errc>(ec.value());
  switch (e) {
    case errc::invalid_argument: return error(400, "invalid_argument", "invalid id, name or value", rid);
    case errc::not_found: return error(404, "not_found", "no such session", rid);
    case errc::version_mismatch: return error(412, "version_mismatch", "If-Match does not equal the version", rid);
    case errc::too_large: return error(413, "too_large", "a value or map is past its limit", rid);
    case errc::session_quota_exceeded:
      return error(429, "session_quota_exceeded",
                   "max_sessions reached (sessions expired but not yet reaped count until the reaper "
                   "or POST /v1/admin/cleanup removes them)",
                   rid);
    case errc::too_many_programs: return error(429, "too_many_programs", "a session holds at most 200 programs", rid);
    case errc::unavailable: return error(503, "unavailable", "the store is not accepting writes", rid);
    case errc::acks_timeout: return error(504, "acks_timeout", "not enough nodes applied the write in time", rid);
    case errc::clock_skew:
      return error(503, "clock_skew",
                   "this node's clock runs more than the max clock offset ahead of most peers; writes are "
                   "refused until it is back in range (reads still work)",
                   rid);
    case errc::io_error: return error(500, "internal", "the write could not be logged (io_error); not applied", rid);
    default: return error(status_of(e), "internal", std::string(errc_name(e)), rid);
  }
}

namespace {
// RFC 7240: a Prefer header listing return=minimal (case-insensitive, among
// other preferences separated by commas or semicolons).
bool prefers_minimal(std::string_view prefer) {
  for (size_t i = 0; i < prefer.size();) {
    size_t end = prefer.find_first_of(",;", i);
    if (end == std::string_view::npos) end = prefer.size();
    std::string_view p = prefer.substr(i, end - i);
    while (!p.empty() && (p.front() == ' ' || p.front() == '\t')) p.remove_prefix(1);
    while (!p.empty() && (p.back() == ' ' || p.back() == '\t')) p.remove_suffix(1);
    if (p.size() == 14) {
      std::string low(p);
      for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (low == "return=minimal") return true;
    }
    i = end + 1;
  }
  return false;
}
}  // namespace

response api::session_body(unsigned status, const session_view& s, const request_view& req) {
  response r;
  r.status = status;
  const std::string version = s.version();
  r.headers.emplace_back("ETag", "\"" + version + "\"");
  if (req.method != "GET" && req.method != "HEAD" && prefers_minimal(req.prefer)) {
    r.body = "{\"id\":";
    append_json_string(r.body, s.id());
    r.body += ",\"version\":";
    append_json_string(r.body, version);
    r.body += "}";
    r.headers.emplace_back("Preference-Applied", "return=minimal");
    return r;
  }
  r.body.reserve(s.encoded().size() + 512);  // the JSON is about the record's size plus field names
  render_session(r.body, s, store_.owner_of(s.id()), version);
  return r;
}

response api::handle(const request_view& req) {
  response r = begin(req);
  if (!r.pending) return r;
  const pending_write w = *r.pending;
  if (w.job) {
    std::promise<std::string> body;
    auto f = body.get_future();
    w.job([&body](std::string b) { body.set_value(std::move(b)); });
    r.body = f.get();
    return finish(req, std::move(r), {});
  }
  if (!w.read_token.empty()) {
    std::promise<bool> met;
    auto f = met.get_future();
    wait_token(w, [&met](bool m) { met.set_value(m); });
    return finish(req, std::move(r), f.get() ? result<void>{} : result<void>{errc::acks_timeout});
  }
  return finish(req, std::move(r), store_.wait_replicated(w.token, w.acks, w.timeout_ms));
}

void api::wait_token(const pending_write& w, std::function<void(bool met)> done) {
  if (!hooks_.token_wait) return done(true);
  hooks_.token_wait(w.read_token, w.timeout_ms, std::move(done));
}

namespace {
// The record a read under /v1/sessions/{id} or /v1/programs/{id} is of, as
// the store names it ("" for any other path).
std::string read_record_id(std::string_view path) {
  for (std::string_view base : {std::string_view("/v1/sessions/"), std::string_view("/v1/programs/")}) {
    if (path.substr(0, base.size()) != base) continue;
    std::string_view id = path.substr(base.size());
    id = id.substr(0, id.find('/'));
    if (!store::valid_id(id)) return {};
    return base[4] == 'p' ? std::string(store::global_record_prefix).append(id) : std::string(id);
  }
  return {};
}
}  // namespace

std::optional<response> api::check_token(const request_view& req, std::string_view path, const std::string& rid) {
  if (req.session_token.empty()) return std::nullopt;
  if (!(path.substr(0, 12) == "/v1/sessions" || path.substr(0, 12) == "/v1/programs")) return std::nullopt;
  if (req.session_token.size() > gossip::token_max_bytes || !gossip::parse_token(req.session_token))
    return error(400, "invalid_argument",
                 "malformed X-Sessionmesh-Session-Token: send back the token a write answered, unchanged", rid);
  if (req.method != "GET" && req.method != "HEAD") return std::nullopt;  // a write merges it (begin)
  if (req.token_met) return std::nullopt;
  const int state = hooks_.token_state ? hooks_.token_state(req.session_token, read_record_id(path)) : 1;
  if (state == 1) {
    metrics_.token_read_done(metrics::token_read::met);
    return std::nullopt;
  }
  response r;
  pending_write w;
  w.read_token = std::string(req.session_token);
  w.timeout_ms = state == 0 ? settings()->token_wait_ms : 0;
  r.pending = std::move(w);
  return r;
}

response api::after_token_wait(const request_view& req, response r, bool met) {
  request_view again = req;
  again.token_met = true;
  if (met) {
    metrics_.token_read_done(metrics::token_read::waited);
  } else if (req.forwarded.empty() && hooks_.token_node_http) {
    // Not applied here in time: the node that took the write answers (one hop).
    const std::string_view path = req.target.substr(0, req.target.find('?'));
    if (std::string addr = hooks_.token_node_http(req.session_token, read_record_id(path)); !addr.empty()) {
      metrics_.token_read_done(metrics::token_read::forwarded);
      r.forward_to = std::move(addr);
      return r;
    }
  }
  response out = dispatch(again, r.request_id);
  out.request_id = r.request_id;
  out.started = r.started;
  out.head = r.head;
  if (!met) {
    // That node is gone (or this is its relay and another named node is
    // behind): answered with what is here, and said so.
    metrics_.token_read_done(metrics::token_read::unmet);
    out.headers.emplace_back("X-Sessionmesh-Token-Unmet", "true");
  }
  return out;
}

response api::begin(const request_view& req) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string rid = request_id_for(req.request_id);
  response r = dispatch(req, rid);
  r.request_id = rid;
  r.started = t0;
  if (req.method == "HEAD") r.head = true;
  // A write answers the caller's token merged with its own entry.
  if (hooks_.token_after_write && r.forward_to.empty() && r.status < 300 && req.method != "GET" &&
      req.method != "HEAD" && (r.write_seq != 0 || !req.session_token.empty()))
    r.headers.emplace_back("X-Sessionmesh-Session-Token", hooks_.token_after_write(req.session_token, r.write_seq));
  if (r.pending) return r;
  return done(req, std::move(r));
}

response api::finish(const request_view& req, response r, result<void> outcome) {
  SM_ASSERT(r.pending.has_value());
  const pending_write w = *r.pending;
  r.pending.reset();
  if (!w.read_token.empty()) return done(req, after_token_wait(req, std::move(r), outcome.has_value()));
  if (!outcome) {
    response e = outcome.error() == errc::acks_timeout
                     ? error(504, "acks_timeout",
                             "the write is applied here but fewer than " + std::to_string(w.acks) +
                                 " nodes acknowledged it in time; it stands and keeps replicating",
                             r.request_id)
                     : store_error(outcome.error(), r.request_id);
    e.request_id = r.request_id;
    e.started = r.started;
    e.head = r.head;
    r = std::move(e);
  }
  return done(req, std::move(r));
}

response api::done(const request_view& req, response r) {
  metrics_.http_request(r.status);
  if (on_request) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - r.started);
    on_request(req, r, static_cast<uint64_t>(us.count()));
  }
  return r;
}

response api::dispatch(const request_view& req, const std::string& rid) {
  const size_t q = req.target.find('?');
  const std::string_view path = req.target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1);
  const bool get = req.method == "GET" || req.method == "HEAD";

  if (path == "/healthz") {
    if (!get) return method_not_allowed("GET, HEAD", rid);
    response r;
    r.body = "{\"status\":\"ok\"}";
    return r;
  }
  if (path == "/readyz") {
    if (!get) return method_not_allowed("GET, HEAD", rid);
    if (hooks_.draining && hooks_.draining()) return error(503, "draining", "the node is draining", rid);
    if (hooks_.ready && !hooks_.ready()) return error(503, "unavailable", "the node is starting", rid);
    response r;
    r.body = "{\"status\":\"ready\"}";
    return r;
  }
  if (path == "/health/sessions") {
    if (!get) return method_not_allowed("GET, HEAD", rid);
    return health(rid);
  }
  if (path == "/metrics") {
    if (!get) return method_not_allowed("GET, HEAD", rid);
    response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.render(store_.stats(), store_.node_id(), !hooks_.ready || hooks_.ready(),
                             hooks_.draining && hooks_.draining(),
                             hooks_.member_totals ? hooks_.member_totals() : std::array<uint64_t, 4>{1, 0, 0, 0});
    r.body += alerts_metrics();
    if (hooks_.metrics_extra) r.body += hooks_.metrics_extra();
    return r;
  }
  if (path == "/ui" || path.substr(0, 4) == "/ui/") return ui(req, path, rid);
  if (path.substr(0, 4) != "/v1/") return error(404, "not_found", "no such path", rid);

  // Auth: the API token on /v1/*, the admin token (or the API token) on /v1/admin/*.
  const auto cfg = settings();
  const bool admin_path = path.substr(0, 10) == "/v1/admin/" || path == "/v1/admin";
  const std::string& token = admin_path && !cfg->admin_token.empty() ? cfg->admin_token : cfg->api_token;
  if (!token.empty()) {
    std::string_view auth = req.authorization;
    // A browser cannot set headers on a WebSocket: the feed also takes the
    // token as ?access_token= (RFC 6750 section 2.3). Request logs drop the query.
    std::string from_query;
    if (auth.empty() && path == "/v1/watch") {
      bool bad = false;
      if (auto t = query_param(query, "access_token", &bad); t && !bad) {
        from_query = "Bearer " + *t;
        auth = from_query;
      }
    }
    if (auth.size() < 7 || !(auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer "))
      return error(401, "unauthenticated", "missing bearer token", rid);
    if (!constant_time_equal(auth.substr(7), token))
      return error(403, "forbidden", "the token is not valid for this path", rid);
  }

  auto segs = split_path(path.substr(4));
  if (!segs) return error(400, "invalid_argument", "bad percent-encoding in the path", rid);
  const auto& s = *segs;
  // Placement: to a replica before anything else (it checks the token).
  if (hooks_.replica_http && s.size() >= 2 && s[0] == "sessions" && store::valid_id(s[1]))
    if (auto f = route_replica(req, s[1], rid)) return *std::move(f);
  if (hooks_.replica_http && s.size() == 2 && s[0] == "programs" && store::valid_id(s[1]))
    if (auto f = route_replica(req, std::string(store::global_record_prefix).append(s[1]), rid)) return *std::move(f);

  if (auto t = check_token(req, path, rid)) return *std::move(t);
  if (s.size() == 1 && s[0] == "sessions") return sessions_collection(req, query, rid);
  if (s.size() >= 2 && s[0] == "sessions") {
    if (s.size() == 2) return one_session(req, s[1], rid);
    if (s.size() == 3) return session_sub(req, s[1], s[2], std::nullopt, rid);
    if (s.size() == 4) return session_sub(req, s[1], s[2], s[3], rid);
    return error(404, "not_found", "no such path", rid);
  }
  if (s.size() == 1 && s[0] == "programs") return programs_collection(req, query, rid);
  if (s.size() == 2 && s[0] == "programs") return one_program(req, s[1], rid);
  if (s.size() == 1 && s[0] == "stats") {
    if (!get) return method_not_allowed("GET, HEAD", rid);
    response r;
    render_stats(r.body, store_.stats());
    return r;
  }
  if (s.size() == 1 && s[0] == "cluster") {
    if (!get) return method_not_allowed("GET, HEAD", rid);
    return cluster(rid);
  }
  if (s.size() == 1 && s[0] == "watch") {
    if (req.method != "GET") return method_not_allowed("GET", rid);
    if (!req.websocket_upgrade) return error(400, "invalid_argument", "expected a WebSocket upgrade", rid);
    if (auto wq = parse_watch_query(query, store::id_bytes_max); !wq)
      return error(400, "invalid_argument", wq.describe(), rid);
    response r;
    r.watch = true;
    r.status = 101;
    return r;
  }
  if (s.size() == 2 && s[0] == "admin") return admin(req, s[1], rid);
  return error(404, "not_found", "no such path", rid);
}

}  // namespace sessionmesh::http
