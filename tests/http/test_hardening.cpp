// What a hostile or sloppy client meets (issue 10): timeouts that start at
// the first byte, a per-address cap, transfer codings, HEAD, If-Match.
#include <ostream>
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/http/fixture.hpp"

using namespace sessionmesh;
using namespace sessionmesh::testing;


TEST_CASE("the first request on a connection must arrive within the read timeout, not the idle one") {
  node_fixture n({}, {}, [](http::server_options& o) {
    o.read_timeout_ms = 300;
    o.idle_timeout_ms = 60000;
  });
  http_client slow(n.port());
  REQUIRE(slow.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n"));  // never finished
  const auto t0 = std::chrono::steady_clock::now();
  auto r = slow.read_reply();
  CHECK_FALSE(r.ok);  // closed, not answered
  // Cut by the 300 ms read timeout; the idle timeout (60 s) would pass the
  // client's own 10 s receive timeout first.
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(9));
}

TEST_CASE("between requests a kept-alive connection waits the idle timeout") {
  node_fixture n({}, {}, [](http::server_options& o) {
    o.read_timeout_ms = 200;
    o.idle_timeout_ms = 60000;
  });
  http_client c(n.port());
  REQUIRE(c.request("GET", "/healthz").status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // three read timeouts, idle
  CHECK(c.request("GET", "/healthz").status == 200);
}

TEST_CASE("connections past the per-address cap get 503 overloaded") {
  node_fixture n({}, {}, [](http::server_options& o) { o.max_connections_per_address = 2; });
  http_client a(n.port()), b(n.port()), c(n.port());
  REQUIRE(a.request("GET", "/healthz").status == 200);
  REQUIRE(b.request("GET", "/healthz").status == 200);
  REQUIRE(c.connect());
  auto r = c.read_reply();
  check_error(r, 503, "overloaded");
  CHECK_FALSE(r.header("retry-after").empty());
  CHECK(json_doc(r.body).str("/error/message").find("address") != std::string::npos);
  // A closed connection gives its place back (the refused one holds its
  // place until it is closed too).
  a.disconnect();
  c.disconnect();
  for (int i = 0; i < 100; ++i) {
    http_client d(n.port());
    if (d.request("GET", "/healthz").status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("the place of a closed connection never came back");
}

TEST_CASE("a transfer coding other than chunked is 501; chunked works") {
  node_fixture n;
  REQUIRE(http_client(n.port()).request("POST", "/v1/sessions", R"({"id":"te"})").status == 201);
  for (const char* te : {"gzip", "gzip, chunked", "chunked, gzip", "identity"}) {
    http_client c(n.port());
    REQUIRE(c.send_raw(std::string("PUT /v1/sessions/te/variables/x HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Type: application/json\r\nTransfer-Encoding: ") +
                       te + "\r\n\r\n1\r\n7\r\n0\r\n\r\n"));
    check_error(c.read_reply(), 501, "not_implemented");
  }
  http_client c(n.port());
  REQUIRE(c.send_raw("PUT /v1/sessions/te/variables/x HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n7\r\n0\r\n\r\n"));
  CHECK(c.read_reply().status == 200);
  CHECK(c.request("GET", "/v1/sessions/te/variables/x").body == "7");
}

TEST_CASE("HEAD answers the ETag and Content-Length a GET would, without a body") {
  node_fixture n;
  http_client c(n.port());
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"h1","variables":{"v":"abc"}})").status == 201);
  auto g = c.request("GET", "/v1/sessions/h1");
  auto h = c.request("HEAD", "/v1/sessions/h1");
  CHECK(h.status == 200);
  CHECK(h.body.empty());
  CHECK_FALSE(g.header("etag").empty());
  CHECK(h.header("etag") == g.header("etag"));
  CHECK(h.header("content-length") == std::to_string(g.body.size()));
  auto he = c.request("HEAD", "/v1/sessions/h1/variables/v");
  CHECK(he.status == 200);
  CHECK(he.header("etag") == g.header("etag"));
  CHECK(he.header("content-length") == "5");
  CHECK(c.request("HEAD", "/v1/sessions/missing").status == 404);
  CHECK(c.request("GET", "/healthz").status == 200);  // the connection is still in step
}

TEST_CASE("If-Match: strong comparison, a list of tags, and DELETE of a session honours it") {
  node_fixture n;
  http_client c(n.port());
  auto r = c.request("POST", "/v1/sessions", R"({"id":"m1"})");
  REQUIRE(r.status == 201);
  const std::string v = json_doc(r.body).str("/version");
  auto put = [&](const std::string& tag) {
    return c.request("PUT", "/v1/sessions/m1/variables/x", "1",
                     {{"Content-Type", "application/json"}, {"If-Match", tag}});
  };
  check_error(put("W/\"" + v + "\""), 412, "version_mismatch");  // weak never matches
  check_error(put("\"nope\", W/\"" + v + "\""), 412, "version_mismatch");
  auto ok = put("\"nope\", \"" + v + "\"");  // one of a list
  REQUIRE(ok.status == 200);
  const std::string v2 = json_doc(ok.body).str("/version");
  CHECK(put(v2).status == 200);  // a raw version, as API.md allows
  const std::string v3 = json_doc(c.request("GET", "/v1/sessions/m1").body).str("/version");

  auto del = [&](const std::string& id, const std::string& tag) {
    return c.request("DELETE", "/v1/sessions/" + id, "", {{"If-Match", tag}});
  };
  check_error(del("m1", "\"" + v + "\""), 412, "version_mismatch");  // stale
  CHECK(c.request("GET", "/v1/sessions/m1").status == 200);           // still there
  CHECK(del("m1", "\"" + v3 + "\"").status == 204);
  CHECK(c.request("GET", "/v1/sessions/m1").status == 404);
  check_error(del("m1", "\"" + v3 + "\""), 412, "version_mismatch");  // gone: nothing matches
  CHECK(del("m1", "*").status == 204);                                // unconditional, idempotent
  CHECK(c.request("DELETE", "/v1/sessions/m1").status == 204);
}
