// api: global programs (/v1/programs) and the X-Sessionmesh-Limits header.
#include <charconv>

#include "http/api.hpp"
#include "http/body.hpp"
#include "http/json_render.hpp"
#include "http/path.hpp"
#include "store/validate.hpp"

namespace sessionmesh::http {
namespace {

constexpr std::string_view bad_program_id = "program id must be 1-240 bytes of [A-Za-z0-9._:@-]";

bool valid_program_id(std::string_view id) {
  return store::valid_id(id) && id.size() <= session_store::global_program_id_max;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<write_limits> api::limits_of(const request_view& req, const std::string& rid, response* bad) {
  write_limits lim;
  std::string_view rest = req.limits;
  while (!trim(rest).empty()) {
    const size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    const std::string_view key = trim(item.substr(0, eq));
    const std::string_view val = eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
    uint64_t n = 0;
    auto r = std::from_chars(val.data(), val.data() + val.size(), n);
    const bool num_ok = !val.empty() && r.ec == std::errc{} && r.ptr == val.data() + val.size();
    if (num_ok && key == "max_sessions") lim.max_sessions = n;
    else if (num_ok && key == "max_programs" && n <= UINT32_MAX) lim.max_programs = static_cast<uint32_t>(n);
    else if (num_ok && key == "max_global_programs") lim.max_global_programs = n;
    else {
      *bad = error(400, "invalid_argument",
                   "X-Sessionmesh-Limits takes max_sessions=N, max_programs=N, max_global_programs=N", rid);
      return std::nullopt;
    }
  }
  return lim;
}

response api::programs_collection(const request_view& req, std::string_view query, const std::string& rid) {
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = error(405, "method_not_allowed", "allowed: GET, HEAD", rid);
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  auto q = parse_list_query(query, session_store::global_program_id_max);
  if (!q) return error(400, "invalid_argument", q.detail(), rid);
  const size_t limit = q->limit;
  if (auto c = cluster_list(req, true, q->prefix, limit, q->cursor, rid)) return *std::move(c);
  auto page = store_.list_global_programs(q->prefix, limit, q->cursor);
  if (!page) return store_error(page.error(), rid);
  response r;
  render_program_list(r.body, *page, page->size() == limit);
  return r;
}

response api::one_program(const request_view& req, std::string_view id, const std::string& rid) {
  if (!valid_program_id(id)) return error(400, "invalid_argument", bad_program_id, rid);
  if (req.method == "GET" || req.method == "HEAD") {
    auto g = store_.get_global_program(id);
    if (!g) {
      if (g.error() == errc::not_found) return error(404, "not_found", "no such global program", rid);
      return store_error(g.error(), rid);
    }
    response r;
    r.body = std::move(g->value);
    r.headers.emplace_back("X-Expires-At-Ms", std::to_string(g->expires_at_ms));
    return r;
  }
  if (req.method == "PUT" || req.method == "DELETE") {
    if (hooks_.draining && hooks_.draining())
      return error(503, "draining", "the node is draining and refuses writes", rid);
    if (req.method == "DELETE") {
      write_ctx wc{true, {}};
      auto d = store_.delete_global_program(id, wc);
      if (!d) return store_error(d.error(), rid);
      response r;
      r.status = 204;
      return acks_result(std::move(r), pending_write{}, wc.token);
    }
    if (!is_json_type(req.content_type))
      return error(415, "unsupported_media_type", "Content-Type must be application/json", rid);
    response bad_limits;
    auto lim = limits_of(req, rid, &bad_limits);
    if (!lim) return bad_limits;
    auto v = parse_value(req.body, *settings());
    if (!v) {
      if (v.error() == errc::too_large) return error(413, "too_large", v.detail(), rid);
      return error(400, "invalid_argument", v.detail(), rid);
    }
    write_ctx wc{true, {}};
    auto g = store_.put_global_program(id, std::move(v).value(), *lim, wc);
    if (!g) {
      if (g.error() == errc::session_quota_exceeded)
        return error(429, "global_program_quota_exceeded", "max_global_programs reached", rid);
      return store_error(g.error(), rid);
    }
    response r;
    r.body = "{\"id\":";
    append_json_string(r.body, g->id);
    r.body += ",\"stored_at_ms\":" + std::to_string(g->stored_at_ms) +
              ",\"expires_at_ms\":" + std::to_string(g->expires_at_ms) + "}";
    return acks_result(std::move(r), pending_write{}, wc.token);
  }
  auto r = error(405, "method_not_allowed", "allowed: GET, HEAD, PUT, DELETE", rid);
  r.headers.emplace_back("Allow", "GET, HEAD, PUT, DELETE");
  return r;
}

}  // namespace sessionmesh::http
