// api: the /v1/sessions endpoints (API.md section 3).
#include <charconv>

#include "http/api.hpp"
#include "http/body.hpp"
#include "http/json_render.hpp"
#include "http/path.hpp"
#include "store/validate.hpp"

namespace sessionmesh::http {
namespace {

std::string_view query_of(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

response body_error(std::error_code ec, const std::string& why, const std::string& rid) {
  if (ec == errc::too_large) return api::error(413, "too_large", why, rid);
  if (ec == errc::invalid_argument) return api::error(400, "invalid_argument", why, rid);
  return api::error(500, "internal", why, rid);
}

}  // namespace

// Checks shared by every session write: draining, content type, acks.
#define SM_WRITE_PREAMBLE(req, rid, needs_body)                                                      \
  do {                                                                                               \
    if (hooks_.draining && hooks_.draining())                                                        \
      return error(503, "draining", "the node is draining and refuses writes", rid);                \
    if ((needs_body || !(req).body.empty()) && !is_json_type((req).content_type))                   \
      return error(415, "unsupported_media_type", "Content-Type must be application/json", rid);    \
  } while (0)

response api::sessions_collection(const request_view& req, std::string_view query, const std::string& rid) {
  if (req.method == "GET" || req.method == "HEAD") {
    auto q = parse_list_query(query, store::id_bytes_max);
    if (!q) return error(400, "invalid_argument", q.detail(), rid);
    if (auto c = cluster_list(req, false, q->prefix, q->limit, q->cursor, rid)) return *std::move(c);
    auto page = store_.list(q->prefix, q->limit, q->cursor);
    if (!page) return store_error(page.error(), rid);
    response r;
    render_list(r.body, *page);
    return r;
  }
  if (req.method != "POST") return method_not_allowed_list(rid);
  SM_WRITE_PREAMBLE(req, rid, false);
  const auto cfg = settings();
  auto cr = parse_create(req.body, *cfg);
  if (!cr) return body_error(cr.error(), cr.detail(), rid);
  if (!cr->id.empty() && !store::valid_id(cr->id))
    return error(400, "invalid_argument", "id must be 1-256 bytes of [A-Za-z0-9._:@-]", rid);
  // A create without an id is made here: its delta goes to the replicas,
  // and this copy is handed off and forgotten.
  if (!cr->id.empty())
    if (auto f = route_replica(req, cr->id, rid)) return *std::move(f);
  response bad_limits;
  auto lim = limits_of(req, rid, &bad_limits);
  if (!lim) return bad_limits;
  cr->limits = *lim;
  pending_write w;
  if (auto a = acks_check(query, rid, &w)) return *a;
  write_ctx wc{true, {}};
  auto res = store_.create(std::move(cr).value(), wc);
  if (!res) return store_error(res.error(), rid);
  return acks_result(session_body(res->created ? 201 : 200, res->value, req), w, wc.token);
}

response api::one_session(const request_view& req, std::string_view id, const std::string& rid) {
  if (!store::valid_id(id)) return error(400, "invalid_argument", "id must be 1-256 bytes of [A-Za-z0-9._:@-]", rid);
  const std::string_view query = req.target.find('?') == std::string_view::npos
                                     ? std::string_view{}
                                     : req.target.substr(req.target.find('?') + 1);
  if (req.method == "GET") {  // rendered from the record the store lends: no reference taken
    response out;
    auto r = store_.read(id, [&](const session_view& s) { out = session_body(200, s, req); });
    if (!r) return store_error(r.error(), rid);
    return out;
  }
  if (req.method == "HEAD") {  // what a GET would answer, without the touch
    auto s = store_.peek(id);
    if (!s) return store_error(s.error(), rid);
    return session_body(200, *s, req);
  }
  if (req.method == "PATCH") {
    SM_WRITE_PREAMBLE(req, rid, false);
    auto pr = parse_patch(req.body, *settings());
    if (!pr) return body_error(pr.error(), pr.detail(), rid);
    if (!req.if_match.empty() && req.if_match != "*") pr->if_match = std::string(req.if_match);
    if (auto fwd = route_conditional(req, id, rid)) return *fwd;
    response bad_limits;
    auto lim = limits_of(req, rid, &bad_limits);
    if (!lim) return bad_limits;
    pr->limits = *lim;
    pending_write w;
    if (auto a = acks_check(query, rid, &w)) return *a;
    write_ctx wc{true, {}};
    auto s = store_.patch(id, std::move(pr).value(), wc);
    if (!s) return store_error(s.error(), rid);
    return acks_result(session_body(200, *s, req), w, wc.token);
  }
  if (req.method == "DELETE") {
    SM_WRITE_PREAMBLE(req, rid, false);
    const bool conditional = !req.if_match.empty() && req.if_match != "*";
    if (conditional) {
      if (auto fwd = route_conditional(req, id, rid)) return *fwd;
    }
    pending_write w;
    if (auto a = acks_check(query, rid, &w)) return *a;
    write_ctx wc{true, {}};
    auto r = conditional ? store_.remove_if_match(id, req.if_match, wc) : store_.remove(id, wc);
    if (!r) return store_error(r.error(), rid);
    response out;
    out.status = 204;
    return acks_result(std::move(out), w, wc.token);
  }
  auto r = error(405, "method_not_allowed", "allowed: GET, HEAD, PATCH, DELETE", rid);
  r.headers.emplace_back("Allow", "GET, HEAD, PATCH, DELETE");
  return r;
}

response api::session_sub(const request_view& req, std::string_view id, std::string_view sub,
                          std::optional<std::string_view> name, const std::string& rid) {
  // Routed by path segments: an id that ends in "touch" or "worker" is an id.
  if (sub == "variables" && name) return entry(req, id, section::variables, *name, rid);
  if (sub == "programs" && name) return entry(req, id, section::programs, *name, rid);
  if (name) return error(404, "not_found", "no such path", rid);
  if (!store::valid_id(id)) return error(400, "invalid_argument", "id must be 1-256 bytes of [A-Za-z0-9._:@-]", rid);
  if (sub == "touch") {
    if (req.method != "POST") {
      auto r = error(405, "method_not_allowed", "allowed: POST", rid);
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    if (hooks_.draining && hooks_.draining())
      return error(503, "draining", "the node is draining and refuses writes", rid);
    pending_write w;
    if (auto a = acks_check(query_of(req.target), rid, &w)) return *a;
    write_ctx wc{true, {}};
    auto s = store_.touch(id, wc);
    if (!s) return store_error(s.error(), rid);
    return acks_result(session_body(200, *s, req), w, wc.token);
  }
  if (sub == "worker") {
    if (req.method != "PUT") {
      auto r = error(405, "method_not_allowed", "allowed: PUT", rid);
      r.headers.emplace_back("Allow", "PUT");
      return r;
    }
    SM_WRITE_PREAMBLE(req, rid, true);
    auto w = parse_worker(req.body, *settings());
    if (!w) return body_error(w.error(), w.detail(), rid);
    if (!store::valid_name(*w, 256)) return error(400, "invalid_argument", "worker_id must be 1-256 bytes", rid);
    pending_write pw;
    if (auto a = acks_check(query_of(req.target), rid, &pw)) return *a;
    response bad_limits;
    auto lim = limits_of(req, rid, &bad_limits);
    if (!lim) return bad_limits;
    write_ctx wc{true, {}};
    auto s = store_.set_worker(id, *w, *lim, wc);
    if (!s) return store_error(s.error(), rid);
    return acks_result(session_body(200, *s, req), pw, wc.token);
  }
  return error(404, "not_found", "no such path", rid);
}

response api::entry(const request_view& req, std::string_view id, section sec, std::string_view name,
                    const std::string& rid) {
  if (!store::valid_id(id)) return error(400, "invalid_argument", "id must be 1-256 bytes of [A-Za-z0-9._:@-]", rid);
  if (!store::valid_name(name, 256)) return error(400, "invalid_argument", "entry names are 1-256 bytes", rid);
  if (req.method == "GET" || req.method == "HEAD") {
    auto s = req.method == "HEAD" ? store_.peek(id) : store_.get(id);
    if (!s) return store_error(s.error(), rid);
    auto v = s->find(sec, name);
    if (!v) return error(404, "not_found", "no such " + std::string(sec == section::programs ? "program" : "variable"), rid);
    response r;
    r.body = std::string(*v);
    r.headers.emplace_back("ETag", "\"" + s->version() + "\"");
    return r;
  }
  if (req.method == "PUT" || req.method == "DELETE") {
    SM_WRITE_PREAMBLE(req, rid, req.method == "PUT");
    pending_write w;
    if (auto a = acks_check(query_of(req.target), rid, &w)) return *a;
    patch_request pr;
    std::vector<entry_update>& ups = sec == section::programs ? pr.programs : pr.variables;
    if (req.method == "PUT") {
      auto v = parse_value(req.body, *settings());
      if (!v) return body_error(v.error(), v.detail(), rid);
      ups.push_back({std::string(name), std::move(v).value()});
    } else {
      ups.push_back({std::string(name), std::nullopt});
    }
    if (!req.if_match.empty() && req.if_match != "*") pr.if_match = std::string(req.if_match);
    if (auto fwd = route_conditional(req, id, rid)) return *fwd;
    response bad_limits;
    auto lim = limits_of(req, rid, &bad_limits);
    if (!lim) return bad_limits;
    pr.limits = *lim;
    write_ctx wc{true, {}};
    auto s = store_.patch(id, std::move(pr), wc);
    if (!s) return store_error(s.error(), rid);
    if (req.method == "DELETE") {
      response r;
      r.status = 204;
      return acks_result(std::move(r), w, wc.token);
    }
    return acks_result(session_body(200, *s, req), w, wc.token);
  }
  auto r = error(405, "method_not_allowed", "allowed: GET, HEAD, PUT, DELETE", rid);
  r.headers.emplace_back("Allow", "GET, HEAD, PUT, DELETE");
  return r;
}

std::optional<response> api::route_replica(const request_view& req, std::string_view record_id,
                                           const std::string& rid) {
  if (!req.forwarded.empty() || !hooks_.replica_http) return std::nullopt;
  auto to = hooks_.replica_http(record_id);
  if (!to) return std::nullopt;
  if (to->empty())
    return error(503, "owner_unavailable", "no replica of this session's partition is alive", rid);
  response r;
  r.forward_to = std::move(*to);
  return r;
}

std::optional<response> api::route_conditional(const request_view& req, std::string_view id,
                                               const std::string& rid) {
  if (req.if_match.empty() || req.if_match == "*" || !req.forwarded.empty() || !hooks_.owner_http) return std::nullopt;
  auto owner = hooks_.owner_http(id);
  if (!owner) return std::nullopt;
  if (owner->empty())
    return error(503, "owner_unavailable",
                 "a conditional write is decided by the session's owner, whose address is not known yet", rid);
  response r;
  r.forward_to = std::move(*owner);
  return r;
}

response api::method_not_allowed_list(const std::string& rid) {
  auto r = error(405, "method_not_allowed", "allowed: GET, HEAD, POST", rid);
  r.headers.emplace_back("Allow", "GET, HEAD, POST");
  return r;
}

// acks=N (N >= 2) waits for N nodes. The local adapter is one node: no
// other node can ever apply the write, so the answer is 504 acks_timeout at
// once (the write stands), rather than after timeout_ms.
response api::acks_result(response ok, pending_write w, const write_token& t) {
  ok.write_seq = t.seq;
  if (ok.status >= 300 || (w.acks < 2 && t.lsn == 0)) return ok;
  w.token = t;
  ok.pending = w;
  return ok;
}

std::optional<response> api::acks_check(std::string_view query, const std::string& rid, pending_write* w) {
  bool bad = false;
  auto acks = query_param(query, "acks", &bad);
  auto timeout = query_param(query, "timeout_ms", &bad);
  if (bad) return error(400, "invalid_argument", "bad percent-encoding in the query", rid);
  unsigned n = 1;
  if (acks) {
    auto r = std::from_chars(acks->data(), acks->data() + acks->size(), n);
    if (r.ec != std::errc{} || r.ptr != acks->data() + acks->size() || n == 0 || n > 64)
      return error(400, "invalid_argument", "acks must be an integer from 1 to 64", rid);
    if (const unsigned r_max = hooks_.replicas ? hooks_.replicas() : 0; r_max && n > r_max)
      return error(400, "invalid_argument",
                   "acks must be at most the replicas each session has (--replicas " + std::to_string(r_max) + ")",
                   rid);
  }
  uint32_t t = 2000;
  if (timeout) {
    auto r = std::from_chars(timeout->data(), timeout->data() + timeout->size(), t);
    if (r.ec != std::errc{} || r.ptr != timeout->data() + timeout->size() || t > 600000)
      return error(400, "invalid_argument", "timeout_ms must be an integer from 0 to 600000", rid);
  }
  w->acks = n;
  w->timeout_ms = t;
  return std::nullopt;
}

}  // namespace sessionmesh::http
