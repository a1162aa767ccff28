// REST endpoints against a real server on an ephemeral loopback port.
#include <ostream>
#include <doctest/doctest.h>

#include "tests/http/fixture.hpp"

using namespace sessionmesh;
using namespace sessionmesh::testing;


// Over 80 lines on purpose: one session's life over HTTP, step by step.
TEST_CASE("session CRUD over HTTP") {
  node_fixture n;
  http_client c(n.port());
  REQUIRE(c.connect());

  auto r = c.request("POST", "/v1/sessions",
                     R"({"id":"sess-42","ttl_s":60,"metadata":{"user":"ann"},"variables":{"temperature":0.7},"programs":{"p1":{"code":"x"}}})");
  REQUIRE(r.status == 201);
  json_doc s(r.body);
  CHECK(s.str("/id") == "sess-42");
  CHECK(uint64_t(s["/created_at_ms"]) == n.now->load());
  CHECK(uint64_t(s["/expires_at_ms"]) == n.now->load() + 60000);
  CHECK(uint64_t(s["/ttl_s"]) == 60);
  CHECK(s["/last_worker_id"].is_null());
  CHECK(s.str("/owner") == "node-a");
  CHECK(double(s["/variables/temperature"]) == 0.7);
  CHECK(s.str("/metadata/user") == "ann");
  CHECK(s.str("/programs/p1/code") == "x");
  const std::string v1 = s.str("/version");
  CHECK(r.header("etag") == "\"" + v1 + "\"");
  CHECK_FALSE(r.header("x-request-id").empty());

  // Idempotent create: 200 and the existing session, unchanged.
  auto again = c.request("POST", "/v1/sessions", R"({"id":"sess-42","variables":{"temperature":1}})");
  CHECK(again.status == 200);
  CHECK(json_doc(again.body).str("/version") == v1);
  CHECK(double(json_doc(again.body)["/variables/temperature"]) == 0.7);

  // Server-made id; an empty body creates with defaults.
  auto gen = c.request("POST", "/v1/sessions", "");
  CHECK(gen.status == 201);
  CHECK_FALSE(json_doc(gen.body).str("/id").empty());
  CHECK(uint64_t(json_doc(gen.body)["/ttl_s"]) == 3600);

  CHECK(c.request("GET", "/v1/sessions/sess-42").status == 200);
  CHECK(c.request("HEAD", "/v1/sessions/sess-42").status == 200);
  CHECK(c.request("HEAD", "/v1/sessions/nope").status == 404);
  check_error(c.request("GET", "/v1/sessions/nope"), 404, "not_found");

  // PATCH merges; null removes; If-Match.
  auto p = c.request("PATCH", "/v1/sessions/sess-42", R"({"variables":{"temperature":null,"top_p":0.9},"last_worker_id":"w1","ttl_s":120})",
                     {{"Content-Type", "application/json"}, {"If-Match", "\"" + v1 + "\""}});
  REQUIRE(p.status == 200);
  json_doc pj(p.body);
  CHECK_FALSE(pj.has("/variables/temperature"));
  CHECK(double(pj["/variables/top_p"]) == 0.9);
  CHECK(pj.str("/last_worker_id") == "w1");
  CHECK(uint64_t(pj["/ttl_s"]) == 120);
  const std::string v2 = pj.str("/version");
  CHECK(v2 != v1);
  check_error(c.request("PATCH", "/v1/sessions/sess-42", R"({"variables":{"a":1}})",
                        {{"Content-Type", "application/json"}, {"If-Match", v1}}),
              412, "version_mismatch");
  CHECK(c.request("PATCH", "/v1/sessions/sess-42", R"({"variables":{"a":1}})",
                  {{"Content-Type", "application/json"}, {"If-Match", v2}})
            .status == 200);
  check_error(c.request("PATCH", "/v1/sessions/nope", "{}"), 404, "not_found");

  // touch, worker
  n.advance(30000);
  auto t = c.request("POST", "/v1/sessions/sess-42/touch", "");
  REQUIRE(t.status == 200);
  CHECK(uint64_t(json_doc(t.body)["/expires_at_ms"]) == n.now->load() + 120000);
  check_error(c.request("POST", "/v1/sessions/nope/touch", ""), 404, "not_found");
  auto w = c.request("PUT", "/v1/sessions/fresh/worker", R"({"worker_id":"worker-7"})");
  REQUIRE(w.status == 200);
  CHECK(json_doc(w.body).str("/last_worker_id") == "worker-7");
  check_error(c.request("PUT", "/v1/sessions/fresh/worker", R"({"worker":"x"})"), 400, "invalid_argument");

  // one variable / program
  auto pv = c.request("PUT", "/v1/sessions/sess-42/variables/model", R"("gpt")");
  REQUIRE(pv.status == 200);
  CHECK(json_doc(pv.body).str("/variables/model") == "gpt");
  auto gv = c.request("GET", "/v1/sessions/sess-42/variables/model");
  CHECK(gv.status == 200);
  CHECK(gv.body == "\"gpt\"");
  CHECK(c.request("DELETE", "/v1/sessions/sess-42/variables/model").status == 204);
  check_error(c.request("GET", "/v1/sessions/sess-42/variables/model"), 404, "not_found");
  CHECK(c.request("PUT", "/v1/sessions/sess-42/programs/p2", R"j({"src":"print(1)"})j").status == 200);
  CHECK(c.request("GET", "/v1/sessions/sess-42/programs/p2").body == R"j({"src":"print(1)"})j");
  CHECK(c.request("DELETE", "/v1/sessions/sess-42/programs/p2").status == 204);
  check_error(c.request("GET", "/v1/sessions/nope/variables/x"), 404, "not_found");

  // delete is idempotent
  CHECK(c.request("DELETE", "/v1/sessions/sess-42").status == 204);
  CHECK(c.request("DELETE", "/v1/sessions/sess-42").status == 204);
  CHECK(c.request("GET", "/v1/sessions/sess-42").status == 404);
}

TEST_CASE("list pages, stats, cluster, health, metrics") {
  node_fixture n;
  http_client c(n.port());
  for (int i = 0; i < 25; ++i)
    REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"L)" + std::to_string(100 + i) + R"("})").status == 201);
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"other"})").status == 201);
  std::vector<std::string> ids;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto r = c.request("GET", "/v1/sessions?prefix=L&limit=10" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    json_doc j(r.body);
    for (auto s : j["/sessions"].get_array()) {
      ids.emplace_back(std::string(s["id"].get_string().value()));
      CHECK(std::string(s["owner"].get_string().value()) == "node-a");
      CHECK(uint64_t(s["expires_at_ms"]) > 0);
      CHECK_FALSE(std::string(s["version"].get_string().value()).empty());
    }
    if (j["/next_cursor"].is_null()) break;
    cursor = j.str("/next_cursor");
  }
  CHECK(ids.size() == 25);
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  check_error(c.request("GET", "/v1/sessions?limit=0"), 400, "invalid_argument");
  check_error(c.request("GET", "/v1/sessions?limit=abc"), 400, "invalid_argument");

  auto st = c.request("GET", "/v1/stats");
  REQUIRE(st.status == 200);
  json_doc sj(st.body);
  CHECK(uint64_t(sj["/sessions_created"]) == 26);
  CHECK(uint64_t(sj["/current_sessions"]) == 26);
  for (auto k : {"/sessions_deleted", "/sessions_expired", "/cleanup_runs", "/memory_usage_bytes"}) CHECK(sj.has(k));

  json_doc cl(c.request("GET", "/v1/cluster").body);
  CHECK(cl.str("/node_id") == "node-a");
  CHECK(cl.str("/adapter") == "local");
  CHECK(cl.str("/members/0/status") == "alive");
  CHECK(uint64_t(cl["/owned_sessions/node-a"]) == 26);

  CHECK(c.request("GET", "/healthz").status == 200);
  CHECK(c.request("GET", "/readyz").status == 200);
  auto h = c.request("GET", "/health/sessions");
  REQUIRE(h.status == 200);
  json_doc hj(h.body);
  CHECK(hj.str("/status") == "ok");
  CHECK(uint64_t(hj["/sessions/live"]) == 26);
  for (auto k : {"/node_id", "/adapter", "/cluster/alive", "/replication/pending", "/replication/peers",
                 "/latency_us/p50", "/latency_us/p99", "/alerts", "/sessions/tombstones"})
    CHECK_MESSAGE(hj.has(k), k);

  auto m = c.request("GET", "/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.header("content-type").find("text/plain") == 0);
  CHECK(m.body.find("sessionmesh_ops_total{op=\"create\",result=\"ok\"} 26") != std::string::npos);
  CHECK(m.body.find("sessionmesh_op_latency_seconds_bucket{op=\"create\",result=\"ok\",le=\"+Inf\"} 26") != std::string::npos);
  c.request("GET", "/v1/sessions/nobody-here");  // a not_found get gets its own series
  auto m2 = c.request("GET", "/metrics");
  CHECK(m2.body.find("sessionmesh_op_latency_seconds_count{op=\"get\",result=\"not_found\"} 1") != std::string::npos);
  CHECK(m.body.find("sessionmesh_sessions 26") != std::string::npos);
  for (auto k : {"sessionmesh_tombstones", "sessionmesh_expirations_total", "sessionmesh_wal_fsync_seconds_count",
                 "sessionmesh_watchers", "sessionmesh_http_connections"})
    CHECK_MESSAGE(m.body.find(k) != std::string::npos, k);
}

TEST_CASE("health turns degraded past the quota threshold and lists the alert") {
  http::api_settings s;
  s.max_sessions = 10;
  node_fixture n(s, [](store_options& o) { o.max_sessions = 10; });
  std::vector<std::string> raised;
  n.api->on_alert = [&](std::string_view a, bool up) {
    if (up) raised.emplace_back(a);
  };
  http_client c(n.port());
  for (int i = 0; i < 9; ++i) REQUIRE(c.request("POST", "/v1/sessions", "").status == 201);
  json_doc h(c.request("GET", "/health/sessions").body);
  CHECK(h.str("/status") == "degraded");
  CHECK(h.str("/alerts/0") == "session_quota_high");
  (void)c.request("GET", "/health/sessions");
  CHECK(raised.size() == 1);  // logged once
}

TEST_CASE("TTL expiry over HTTP") {
  node_fixture n;
  http_client c(n.port());
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"short","ttl_s":2})").status == 201);
  n.advance(1900);
  CHECK(c.request("HEAD", "/v1/sessions/short").status == 200);
  n.advance(100);
  CHECK(c.request("GET", "/v1/sessions/short").status == 404);
  CHECK(n.store->cleanup_expired() == 1);
  CHECK(json_doc(c.request("GET", "/v1/stats").body)["/sessions_expired"].get_uint64().value() == 1);
}

TEST_CASE("bad inputs get their documented status and JSON error; the server keeps answering") {
  http::api_settings s;
  s.api_token = "secret-token";
  s.admin_token = "admin-token";
  node_fixture n(s);
  http_client c(n.port());
  const std::map<std::string, std::string> auth = {{"Content-Type", "application/json"},
                                                   {"Authorization", "Bearer secret-token"}};
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"ok"})", auth).status == 201);
  std::string programs;
  for (int i = 0; i < 200; ++i) programs += (i ? "," : "") + std::string("\"p") + std::to_string(i) + "\":{}";
  REQUIRE(c.request("PATCH", "/v1/sessions/ok", "{\"programs\":{" + programs + "}}", auth).status == 200);

  struct bad {
    const char* name;
    std::string method, target, body;
    std::map<std::string, std::string> headers;
    int status;
    const char* code;
  };
  std::string deep = std::string(100, '[') + std::string(100, ']');
  std::map<std::string, std::string> ws_upgrade = auth;
  ws_upgrade["Connection"] = "Upgrade";
  ws_upgrade["Upgrade"] = "websocket";
  ws_upgrade["Sec-WebSocket-Version"] = "13";
  ws_upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ==";
  std::vector<bad> table = {
      {"invalid id characters", "GET", "/v1/sessions/bad%20id", "", auth, 400, "invalid_argument"},
      {"257-byte id", "POST", "/v1/sessions", "{\"id\":\"" + std::string(257, 'a') + "\"}", auth, 400, "invalid_argument"},
      {"malformed JSON", "POST", "/v1/sessions", "{\"id\": ", auth, 400, "invalid_argument"},
      {"array instead of object", "POST", "/v1/sessions", "[1,2]", auth, 400, "invalid_argument"},
      {"wrong Content-Type", "POST", "/v1/sessions", "{}", {{"Content-Type", "text/plain"}, {"Authorization", "Bearer secret-token"}}, 415, "unsupported_media_type"},
      {"oversized value", "PUT", "/v1/sessions/ok/variables/big", "\"" + std::string(1100000, 'x') + "\"", auth, 413, "too_large"},
      {"deep nesting", "PUT", "/v1/sessions/ok/variables/deep", deep, auth, 400, "invalid_argument"},
      {"deep nesting in a body", "POST", "/v1/sessions", "{\"variables\":{\"d\":" + deep + "}}", auth, 400, "invalid_argument"},
      {"unknown path", "GET", "/v1/nope", "", auth, 404, "not_found"},
      {"unknown top path", "GET", "/nope", "", auth, 404, "not_found"},
      {"wrong method", "PUT", "/v1/sessions", "{}", auth, 405, "method_not_allowed"},
      {"the 201st program", "PUT", "/v1/sessions/ok/programs/p200", "{}", auth, 429, "too_many_programs"},
      {"missing token", "GET", "/v1/sessions/ok", "", {}, 401, "unauthenticated"},
      {"wrong token", "GET", "/v1/sessions/ok", "", {{"Authorization", "Bearer nope"}}, 403, "forbidden"},
      {"api token on admin", "POST", "/v1/admin/reload", "", auth, 403, "forbidden"},
      {"bad ttl", "POST", "/v1/sessions", R"({"ttl_s":-1})", auth, 400, "invalid_argument"},
      {"ttl as string", "POST", "/v1/sessions", R"({"ttl_s":"60"})", auth, 400, "invalid_argument"},
      {"variables not an object", "PATCH", "/v1/sessions/ok", R"({"variables":[1]})", auth, 400, "invalid_argument"},
      {"bad acks", "POST", "/v1/sessions?acks=zero", "{}", auth, 400, "invalid_argument"},
      {"watch without upgrade", "GET", "/v1/watch", "", auth, 400, "invalid_argument"},
      {"watch with a bad snapshot=", "GET", "/v1/watch?snapshot=maybe", "", ws_upgrade, 400, "invalid_argument"},
      {"watch with a bad escape", "GET", "/v1/watch?prefix=%zz", "", ws_upgrade, 400, "invalid_argument"},
  };
  for (const auto& b : table) {
    INFO(b.name);
    auto r = c.request(b.method, b.target, b.body, b.headers);
    check_error(r, b.status, b.code);
    if (b.status == 405) CHECK_FALSE(r.header("allow").empty());
    CHECK(c.request("GET", "/healthz").status == 200);
  }
  // Oversized body: 413 and the connection closes; a new one works.
  {
    http_client big(n.port());
    auto r = big.request("POST", "/v1/sessions", "{\"x\":\"" + std::string(5u << 20, 'a') + "\"}", auth);
    check_error(r, 413, "too_large");
  }
  // Garbage instead of HTTP: 400 and closed.
  {
    http_client g(n.port());
    REQUIRE(g.send_raw("\x01\x02 garbage\r\n\r\n"));
    auto r = g.read_reply();
    CHECK(r.status == 400);
  }
  CHECK(c.request("GET", "/v1/sessions/ok", "", auth).status == 200);
  CHECK(c.request("POST", "/v1/admin/reload", "", {{"Authorization", "Bearer admin-token"}}).status == 200);
  CHECK(n.reloads == 1);
  // X-Request-Id: the caller's is echoed.
  auto e = c.request("GET", "/v1/sessions/missing", "", {{"Authorization", "Bearer secret-token"}, {"X-Request-Id", "abc-123"}});
  CHECK(e.header("x-request-id") == "abc-123");
  CHECK(json_doc(e.body).str("/error/request_id") == "abc-123");
}

TEST_CASE("a slow or half-sent request does not block others") {
  node_fixture n({}, {}, [](http::server_options& o) { o.read_timeout_ms = 300; o.idle_timeout_ms = 300; });
  http_client slow(n.port());
  REQUIRE(slow.send_raw("POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\""));
  http_client c(n.port());
  for (int i = 0; i < 20; ++i) CHECK(c.request("GET", "/healthz").status == 200);
  // The half-sent request is cut by the read timeout.
  auto r = slow.read_reply();
  CHECK_FALSE(r.ok);
}

TEST_CASE("drain refuses writes with 503 and Retry-After; readyz turns 503") {
  node_fixture n;
  http_client c(n.port());
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"d1"})").status == 201);
  CHECK(c.request("POST", "/v1/admin/drain", "").status == 200);
  auto w = c.request("POST", "/v1/sessions", R"({"id":"d2"})");
  check_error(w, 503, "draining");
  CHECK_FALSE(w.header("retry-after").empty());
  CHECK(c.request("GET", "/readyz").status == 503);
  CHECK(c.request("GET", "/v1/sessions/d1").status == 200);  // reads still work
}

TEST_CASE("acks=N on a single local node answers 504 and the write stands") {
  node_fixture n;
  http_client c(n.port());
  check_error(c.request("POST", "/v1/sessions?acks=2&timeout_ms=100", R"({"id":"a1"})"), 504, "acks_timeout");
  CHECK(c.request("GET", "/v1/sessions/a1").status == 200);
  CHECK(c.request("POST", "/v1/sessions?acks=1", R"({"id":"a2"})").status == 201);
}

TEST_CASE("too many connections get 503 with Retry-After") {
  node_fixture n({}, {}, [](http::server_options& o) { o.max_connections = 2; });
  http_client a(n.port()), b(n.port()), c(n.port());
  REQUIRE(a.request("GET", "/healthz").status == 200);
  REQUIRE(b.request("GET", "/healthz").status == 200);
  REQUIRE(c.connect());
  auto r = c.read_reply();
  CHECK(r.status == 503);
  CHECK_FALSE(r.header("retry-after").empty());
  a.disconnect();
}
