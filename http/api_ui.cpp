// api: the /ui page (API.md section 9): static files built into the binary
// and /ui/settings.json, which tells the page whether to ask for a token.
// No auth here: the page holds no data; everything it shows comes from the
// authenticated API.
#include "http/api.hpp"
#include "http/json_render.hpp"
#include "http/ui_assets.hpp"

namespace sessionmesh::http {

namespace {
void page_headers(response& r) {
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                         "base-uri 'none'; form-action 'none'");
}
}  // namespace

response api::ui(const request_view& req, std::string_view path, const std::string& rid) {
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = error(405, "method_not_allowed", "allowed: GET, HEAD", rid);
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  response r;
  if (path == "/ui") {  // relative links in the page need the trailing slash
    r.status = 308;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "/ui/\n";
    r.headers.emplace_back("Location", "/ui/");
    return r;
  }
  const std::string_view name = path.substr(4);  // after "/ui/"
  if (name == "settings.json") {
    r.body = "{\"token_required\":";
    r.body += settings()->api_token.empty() ? "false" : "true";
    r.body += ",\"node_id\":";
    append_json_string(r.body, store_.node_id());
    r.body += "}";
    page_headers(r);
    return r;
  }
  const ui_asset* a = find_ui_asset(name.empty() ? "index.html" : name);
  if (a == nullptr) return error(404, "not_found", "no such file under /ui/", rid);
  r.content_type = std::string(a->content_type);
  r.body = std::string(a->body);
  r.headers.emplace_back("ETag", std::string(a->etag));
  page_headers(r);
  return r;
}

}  // namespace sessionmesh::http
