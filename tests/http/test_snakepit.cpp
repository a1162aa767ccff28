// The server side of the Snakepit drop-in over real HTTP: quota (429 by
// default), namespace limits, ttl_s 0, global programs, cleanup, and
// sub-resources routed by path segment.
#include <doctest/doctest.h>

#include "tests/http/fixture.hpp"

using namespace sessionmesh;
using namespace sessionmesh::testing;

namespace {

const std::map<std::string, std::string> json_ct = {{"Content-Type", "application/json"}};

std::map<std::string, std::string> with_limits(const std::string& v) {
  return {{"Content-Type", "application/json"}, {"X-Sessionmesh-Limits", v}};
}

void check_code(const http_reply& r, int status, const std::string& code) {
  CHECK_MESSAGE(r.status == status, r.body);
  CHECK_MESSAGE(json_doc(r.body).str("/error/code") == code, r.body);
}

}  // namespace

TEST_CASE("quota: a create past --max-sessions is 429 without strict mode; 0 means no limit") {
  node_fixture n({}, [](store_options& o) { o.max_sessions = 2; });
  http_client c(n.port());
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"a","ttl_s":1})").status == 201);
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"b"})").status == 201);
  auto over = c.request("POST", "/v1/sessions", R"({"id":"c"})");
  check_code(over, 429, "session_quota_exceeded");
  CHECK(over.header("retry-after") == "1");
  check_code(c.request("PUT", "/v1/sessions/c/worker", R"({"worker_id":"w"})"), 429, "session_quota_exceeded");
  CHECK(c.request("HEAD", "/v1/sessions/c").status == 404);
  CHECK(c.request("POST", "/v1/sessions", R"({"id":"a"})").status == 200);  // idempotent still answers
  // Expired but not reaped still counts; cleanup frees the place.
  n.advance(1500);
  check_code(c.request("POST", "/v1/sessions", R"({"id":"c"})"), 429, "session_quota_exceeded");
  auto cl = c.request("POST", "/v1/admin/cleanup", "");
  REQUIRE(cl.status == 200);
  CHECK(uint64_t(json_doc(cl.body)["/removed"]) == 1);
  CHECK(c.request("POST", "/v1/sessions", R"({"id":"c"})").status == 201);
  CHECK(c.request("GET", "/v1/admin/cleanup").status == 405);

  node_fixture unlimited({}, [](store_options& o) { o.max_sessions = 0; });
  http_client u(unlimited.port());
  for (int i = 0; i < 20; ++i) REQUIRE(u.request("POST", "/v1/sessions", "").status == 201);
}

TEST_CASE("namespace limits from X-Sessionmesh-Limits") {
  node_fixture n;
  http_client c(n.port());
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"T::s1"})", with_limits("max_sessions=1")).status == 201);
  check_code(c.request("POST", "/v1/sessions", R"({"id":"T::s2"})", with_limits("max_sessions=1")), 429,
             "session_quota_exceeded");
  CHECK(c.request("POST", "/v1/sessions", R"({"id":"U::s2"})", with_limits("max_sessions=1")).status == 201);
  REQUIRE(c.request("PUT", "/v1/sessions/T::s1/programs/p1", "{}", with_limits("max_programs=1")).status == 200);
  check_code(c.request("PUT", "/v1/sessions/T::s1/programs/p2", "{}", with_limits("max_programs=1")), 429,
             "too_many_programs");
  CHECK(c.request("PUT", "/v1/sessions/T::s1/programs/p1", R"({"v":2})", with_limits("max_programs=1")).status ==
        200);
  check_code(c.request("POST", "/v1/sessions", R"({"id":"x"})", with_limits("max_sessions=lots")), 400,
             "invalid_argument");
  check_code(c.request("POST", "/v1/sessions", R"({"id":"x"})", with_limits("colour=1")), 400, "invalid_argument");
  // The default namespace's list sees the namespaced ids too (ids are ids);
  // a named store lists its own by prefix.
  json_doc l(c.request("GET", "/v1/sessions?prefix=T::").body);
  CHECK(l.str("/sessions/0/id") == "T::s1");
}

TEST_CASE("ttl_s 0 is accepted: readable at once, gone within a second") {
  node_fixture n;
  n.advance(1000 - n.now->load() % 1000 + 10);
  http_client c(n.port());
  auto r = c.request("POST", "/v1/sessions", R"({"id":"zero","ttl_s":0})");
  REQUIRE(r.status == 201);
  CHECK(uint64_t(json_doc(r.body)["/ttl_s"]) == 0);
  CHECK(c.request("GET", "/v1/sessions/zero").status == 200);
  n.advance(1000);
  CHECK(c.request("GET", "/v1/sessions/zero").status == 404);
  check_code(c.request("POST", "/v1/sessions", R"({"id":"neg","ttl_s":-1})"), 400, "invalid_argument");
}

TEST_CASE("global programs over HTTP") {
  node_fixture n({}, [](store_options& o) { o.global_program_ttl_s = 10; });
  http_client c(n.port());
  auto put = c.request("PUT", "/v1/programs/global_qa_chain", R"({"type":"QAChain","shared":true})");
  REQUIRE_MESSAGE(put.status == 200, put.body);
  CHECK(uint64_t(json_doc(put.body)["/expires_at_ms"]) == n.now->load() + 10000);
  auto get = c.request("GET", "/v1/programs/global_qa_chain");
  REQUIRE(get.status == 200);
  CHECK(json_doc(get.body).str("/type") == "QAChain");
  json_doc list(c.request("GET", "/v1/programs").body);
  CHECK(list.str("/programs/0/id") == "global_qa_chain");
  CHECK(list["/next_cursor"].is_null());
  json_doc st(c.request("GET", "/v1/stats").body);
  CHECK(uint64_t(st["/global_programs_stored"]) == 1);
  CHECK(uint64_t(st["/current_sessions"]) == 0);
  CHECK(json_doc(c.request("GET", "/v1/sessions").body)["/sessions"].get_array().size() == 0);

  REQUIRE(c.request("PUT", "/v1/programs/T::p1", "{}", with_limits("max_global_programs=1")).status == 200);
  check_code(c.request("PUT", "/v1/programs/T::p2", "{}", with_limits("max_global_programs=1")), 429,
             "global_program_quota_exceeded");
  CHECK(c.request("DELETE", "/v1/programs/T::p1").status == 204);
  CHECK(c.request("DELETE", "/v1/programs/T::p1").status == 204);
  check_code(c.request("GET", "/v1/programs/T::p1"), 404, "not_found");
  CHECK(c.request("PUT", "/v1/programs/T::p2", "{}", with_limits("max_global_programs=1")).status == 200);

  check_code(c.request("PUT", "/v1/programs/bad%20id", "{}"), 400, "invalid_argument");
  check_code(c.request("PUT", "/v1/programs/p", "{nope"), 400, "invalid_argument");
  check_code(c.request("PUT", "/v1/programs/p", "{}", {{"Content-Type", "text/plain"}}), 415,
             "unsupported_media_type");
  check_code(c.request("POST", "/v1/programs/p", "{}"), 405, "method_not_allowed");

  n.advance(10001);
  check_code(c.request("GET", "/v1/programs/global_qa_chain"), 404, "not_found");
  auto cl = c.request("POST", "/v1/admin/cleanup", "");
  CHECK(uint64_t(json_doc(cl.body)["/global_programs_removed"]) == 2);
  CHECK(uint64_t(json_doc(c.request("GET", "/v1/stats").body)["/global_programs_expired"]) == 2);
}

TEST_CASE("sub-resources are routed by path segment, whatever the id ends with") {
  node_fixture n;
  http_client c(n.port());
  for (std::string id : {"acc-ttl-touch", "my-worker", "variables", "programs", "x-touch"}) {
    REQUIRE(c.request("POST", "/v1/sessions", R"({"id":")" + id + "\"}").status == 201);
    CHECK_MESSAGE(c.request("POST", "/v1/sessions/" + id + "/touch", "").status == 200, id);
    CHECK_MESSAGE(c.request("PUT", "/v1/sessions/" + id + "/worker", R"({"worker_id":"w"})").status == 200, id);
    CHECK_MESSAGE(c.request("PUT", "/v1/sessions/" + id + "/variables/v", "1").status == 200, id);
    CHECK_MESSAGE(c.request("GET", "/v1/sessions/" + id + "/variables/v").body == "1", id);
  }
  CHECK(c.request("GET", "/v1/sessions/x/touch/extra").status == 404);
}

TEST_CASE("a conditional write is relayed to the owner; an unknown or silent owner is 503") {
  node_fixture owner;
  node_fixture edge;
  http_client o(owner.port());
  http_client e(edge.port());
  REQUIRE(o.request("POST", "/v1/sessions", R"({"id":"s","variables":{"n":0}})").status == 201);
  REQUIRE(e.request("POST", "/v1/sessions", R"({"id":"s","variables":{"n":0}})").status == 201);
  const std::string v = json_doc(o.request("GET", "/v1/sessions/s").body).str("/version");
  edge.owner_http = [&](std::string_view) { return std::optional<std::string>("127.0.0.1:" + std::to_string(owner.port())); };
  std::map<std::string, std::string> h = {{"Content-Type", "application/json"}, {"If-Match", "\"" + v + "\""}};
  auto r = e.request("PATCH", "/v1/sessions/s", R"({"variables":{"n":1}})", h);
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(r.header("x-served-by") == "127.0.0.1:" + std::to_string(owner.port()));
  CHECK(int(json_doc(o.request("GET", "/v1/sessions/s").body)["/variables/n"].get_int64().value()) == 1);
  // The edge's own copy was not written: the owner decided it.
  CHECK(int(json_doc(e.request("GET", "/v1/sessions/s").body)["/variables/n"].get_int64().value()) == 0);
  // The same stale version again: the owner answers 412, relayed as is.
  auto stale = e.request("PUT", "/v1/sessions/s/variables/n", "5", h);
  check_code(stale, 412, "version_mismatch");
  // Unconditional writes are not relayed.
  CHECK(e.request("PUT", "/v1/sessions/s/variables/m", "1").header("x-served-by").empty());
  // An owner whose address is not known, or that does not answer: 503.
  edge.owner_http = [](std::string_view) { return std::optional<std::string>(""); };
  auto unknown = e.request("PATCH", "/v1/sessions/s", R"({"variables":{"n":2}})", h);
  check_code(unknown, 503, "owner_unavailable");
  CHECK(unknown.header("retry-after") == "1");
  edge.owner_http = [](std::string_view) { return std::optional<std::string>("127.0.0.1:1"); };
  check_code(e.request("PATCH", "/v1/sessions/s", R"({"variables":{"n":2}})", h), 503, "owner_unavailable");
  // A forwarded request is decided where it lands (one hop): here 412
  // against the edge's own copy, not 503 from the dead owner.
  auto fwd = h;
  fwd["X-Sessionmesh-Forwarded"] = "node-x";
  CHECK(e.request("PATCH", "/v1/sessions/s", R"({"variables":{"n":3}})", fwd).status == 412);
}
