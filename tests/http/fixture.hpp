// A real node in-process for HTTP tests: an in-memory store (with an
// injected clock), the api and the Beast server on an ephemeral loopback
// port. Clients talk to it over real sockets.
#pragma once

#include <simdjson.h>

#include <atomic>
#include <memory>

#include "http/api.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "sessionmesh/sessionmesh.hpp"
#include "tests/http/client.hpp"

namespace sessionmesh::testing {

struct node_fixture {
  std::shared_ptr<std::atomic<uint64_t>> now = std::make_shared<std::atomic<uint64_t>>(1'764'225'600'000ull);
  std::shared_ptr<telemetry> hub = std::make_shared<telemetry>();
  std::unique_ptr<session_store> store;
  http::metrics metrics;
  subscription op_sub;
  std::atomic<bool> draining{false};
  std::atomic<int> reloads{0};
  std::unique_ptr<http::api> api;
  std::unique_ptr<http::server> srv;
  // Where conditional writes are decided (owner forwarding); empty: here.
  std::function<std::optional<std::string>(std::string_view)> owner_http;

  explicit node_fixture(http::api_settings settings = {}, std::function<void(store_options&)> tweak = {},
                        std::function<void(http::server_options&)> stweak = {}) {
    store_options o;
    o.node_id = "node-a";
    auto n = now;
    o.clock = [n] { return n->load(); };
    o.reaper_interval_ms = 0;
    o.telemetry_hub = hub;
    if (tweak) tweak(o);
    op_sub = hub->on_op([this](const op_event& e) { metrics.record_op(e.op, e.result, e.duration_us); });
    auto st = open_store(o);
    REQUIRE(st.has_value());
    store = std::move(st).value();
    http::node_hooks hooks;
    hooks.ready = [] { return true; };
    hooks.draining = [this] { return draining.load(); };
    hooks.drain = [this](std::function<void(std::string)> done) {
      draining = true;
      done("{\"status\":\"drained\"}");
    };
    hooks.reload = [this] {
      ++reloads;
      return std::make_pair(true, std::string("{\"status\":\"reloaded\"}"));
    };
    hooks.owner_http = [this](std::string_view id) -> std::optional<std::string> {
      return owner_http ? owner_http(id) : std::nullopt;
    };
    api = std::make_unique<http::api>(*store, metrics, hooks, settings);
    http::server_options so;
    so.port = 0;
    so.threads = 2;
    if (stweak) stweak(so);
    srv = std::make_unique<http::server>(*api, so);
    auto started = srv->start();
    REQUIRE_MESSAGE(started.has_value(), started.describe());
  }
  ~node_fixture() {
    srv->stop();
    store->close();
  }
  uint16_t port() const { return srv->port(); }
  void advance(uint64_t ms) { *now += ms; }
};

// Parses a JSON body; keeps its parser alive with the element.
struct json_doc {
  std::unique_ptr<simdjson::dom::parser> p = std::make_unique<simdjson::dom::parser>();
  simdjson::dom::element root;
  bool ok = false;
  explicit json_doc(const std::string& body) {
    auto r = p->parse(body);
    ok = !r.error();
    if (ok) root = r.value_unsafe();
  }
  simdjson::dom::element operator[](std::string_view path) const { return root.at_pointer(path).value(); }
  std::string str(std::string_view path) const { return std::string(root.at_pointer(path).get_string().value()); }
  bool has(std::string_view path) const { return !root.at_pointer(path).error(); }
};

// An error answer as API.md section 3 shapes it: status, JSON body with
// code, message and the request id the header carries.
inline void check_error(const http_reply& r, int status, const std::string& code) {
  CHECK_MESSAGE(r.status == status, r.body);
  json_doc j(r.body);
  REQUIRE_MESSAGE(j.ok, r.body);
  CHECK(j.str("/error/code") == code);
  CHECK_FALSE(j.str("/error/message").empty());
  CHECK(j.str("/error/request_id") == r.header("x-request-id"));
  CHECK(r.header("content-type") == "application/json");
}

}  // namespace sessionmesh::testing
