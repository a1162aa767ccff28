// libFuzzer: request routing + JSON body handling of the REST API (the
// same api::handle the server calls). Input: one method byte, a target up
// to '\n', a content-type byte, then the body. Every answer must be a
// documented status with a valid JSON body.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "http/api.hpp"
#include "sessionmesh/sessionmesh.hpp"

namespace {

struct world {
  std::unique_ptr<sessionmesh::session_store> store;
  sessionmesh::http::metrics metrics;
  std::unique_ptr<sessionmesh::http::api> api;
  world() {
    sessionmesh::store_options o;
    o.reaper_interval_ms = 0;
    o.max_sessions = 1000;
    o.clock = [] { return uint64_t{1'764'225'600'000}; };
    store = std::move(sessionmesh::open_store(o).value());
    api = std::make_unique<sessionmesh::http::api>(*store, metrics, sessionmesh::http::node_hooks{},
                                                   sessionmesh::http::api_settings{});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static world w;
  static const char* methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW"};
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  sessionmesh::http::request_view r;
  r.method = methods[static_cast<uint8_t>(in[0]) % 8];
  in.remove_prefix(1);
  const auto nl = in.find('\n');
  r.target = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  if (!in.empty()) {
    r.content_type = (static_cast<uint8_t>(in[0]) & 1) ? "application/json" : "text/plain";
    in.remove_prefix(1);
  }
  r.body = in;
  auto resp = w.api->handle(r);
  static const int ok[] = {101, 200, 201, 204, 308, 400, 401, 403, 404, 405, 412, 413, 415, 429, 500, 501, 503, 504};
  bool known = false;
  for (int s : ok) known |= static_cast<int>(resp.status) == s;
  if (!known) std::abort();
  if (resp.status == 500) std::abort();  // no input may surface an internal error
  if (resp.content_type == "application/json" && !resp.body.empty()) {
    static simdjson::dom::parser p;
    if (p.parse(resp.body).error()) std::abort();
  }
  return 0;
}
