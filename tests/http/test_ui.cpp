// The /ui routes (API.md section 9) and the feed's ?access_token= over a
// real socket: what the browser test (tests/ui) relies on, checked without
// a browser.
#include <doctest/doctest.h>

#include "tests/http/client.hpp"
#include "tests/http/fixture.hpp"

using namespace sessionmesh;
using namespace sessionmesh::testing;

TEST_CASE("/ui serves the built-in page without a token, and nothing else under /ui/") {
  http::api_settings s;
  s.api_token = "tok";
  node_fixture n(s);
  http_client c(n.port());
  auto r = c.request("GET", "/ui");
  CHECK(r.status == 308);
  CHECK(r.header("location") == "/ui/");
  r = c.request("GET", "/ui/");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "text/html; charset=utf-8");
  CHECK(r.body.find("<script src=\"app.js\"") != std::string::npos);
  CHECK(r.header("content-security-policy").find("default-src 'self'") != std::string::npos);
  const auto js = c.request("GET", "/ui/app.js");
  CHECK(js.status == 200);
  CHECK(js.header("content-type") == "text/javascript; charset=utf-8");
  CHECK(js.header("etag").size() == 18);
  CHECK(c.request("HEAD", "/ui/style.css").status == 200);
  r = c.request("GET", "/ui/settings.json");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"token_required\":true") != std::string::npos);
  CHECK(c.request("GET", "/ui/../v1/stats").status == 404);
  CHECK(c.request("GET", "/ui/nope.js").status == 404);
  r = c.request("POST", "/ui/", "{}");
  CHECK(r.status == 405);
  CHECK(r.header("allow") == "GET, HEAD");
  // The page holds no data: the API behind it still wants the token.
  CHECK(c.request("GET", "/v1/cluster").status == 401);
}

TEST_CASE("settings.json says when no token is needed") {
  node_fixture n;
  http_client c(n.port());
  CHECK(c.request("GET", "/ui/settings.json").body.find("\"token_required\":false") != std::string::npos);
}

TEST_CASE("/health/sessions carries the session limit") {
  http::api_settings s;
  s.max_sessions = 1234;
  node_fixture n(s);
  http_client c(n.port());
  CHECK(c.request("GET", "/health/sessions").body.find("\"limit\":1234") != std::string::npos);
}
