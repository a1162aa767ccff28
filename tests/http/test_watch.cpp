// The WebSocket change feed against a real server: events, resume with no
// gap, reset + snapshot, and the lagging cut-off (close code 4008).
#include <algorithm>
#include <ostream>
#include <doctest/doctest.h>

#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "http/watch.hpp"
#include "tests/http/fixture.hpp"

using namespace sessionmesh;
using namespace sessionmesh::testing;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

namespace {

class ws_client {
 public:
  ws_client(uint16_t port, const std::string& target, const std::string& token = "") : ws_(ioc_) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    beast::get_lowest_layer(ws_).connect(ep);
    if (!token.empty())
      ws_.set_option(websocket::stream_base::decorator(
          [token](websocket::request_type& r) { r.set(beast::http::field::authorization, "Bearer " + token); }));
    ws_.handshake("127.0.0.1", target);
  }
  // Next text message, or "" when the server closed (code in closed_code).
  std::string next() {
    beast::flat_buffer b;
    beast::error_code ec;
    ws_.read(b, ec);
    if (ec) {
      closed_code = ws_.reason().code;
      return "";
    }
    return beast::buffers_to_string(b.data());
  }
  int closed_code = -1;
  asio::io_context ioc_;
  websocket::stream<asio::ip::tcp::socket> ws_;
};

std::string field(const std::string& msg, const char* ptr) {
  json_doc j(msg);
  REQUIRE_MESSAGE(j.ok, msg);
  return j.str(ptr);
}

}  // namespace

TEST_CASE("watch: one event per change, in order, with prefix filter") {
  node_fixture n;
  http_client c(n.port());
  ws_client w(n.port(), "/v1/watch?prefix=w-");
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"w-1","variables":{"x":1}})").status == 201);
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"other"})").status == 201);
  REQUIRE(c.request("PATCH", "/v1/sessions/w-1", R"({"variables":{"x":2}})").status == 200);
  REQUIRE(c.request("DELETE", "/v1/sessions/w-1").status == 204);
  auto m1 = w.next();
  CHECK(field(m1, "/type") == "put");
  CHECK(field(m1, "/id") == "w-1");
  CHECK(field(m1, "/origin") == "node-a");
  CHECK(field(m1, "/session/id") == "w-1");
  CHECK_FALSE(field(m1, "/version").empty());
  auto m2 = w.next();
  CHECK(field(m2, "/type") == "put");
  CHECK(json_doc(m2)["/session/variables/x"].get_int64().value() == 2);
  auto m3 = w.next();
  CHECK(field(m3, "/type") == "delete");
  CHECK_FALSE(field(m3, "/cursor").empty());
  // Expiry events too.
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"w-exp","ttl_s":1})").status == 201);
  n.advance(2000);
  REQUIRE(n.store->cleanup_expired() == 1);
  CHECK(field(w.next(), "/type") == "put");
  auto e = w.next();
  CHECK(field(e, "/type") == "expire");
  CHECK(field(e, "/id") == "w-exp");
}

TEST_CASE("watch: resume from a cursor with no gap; reset and snapshot when it cannot") {
  node_fixture n;
  http_client c(n.port());
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"r-0"})").status == 201);
  std::string cursor;
  {
    ws_client w(n.port(), "/v1/watch");
    REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"r-1"})").status == 201);
    cursor = field(w.next(), "/cursor");
  }
  // Written while nobody watched:
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"r-2"})").status == 201);
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"r-3"})").status == 201);
  {
    ws_client w(n.port(), "/v1/watch?cursor=" + cursor);
    CHECK(field(w.next(), "/id") == "r-2");
    CHECK(field(w.next(), "/id") == "r-3");
    auto synced = w.next();
    CHECK(field(synced, "/type") == "synced");
    REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"r-4"})").status == 201);
    CHECK(field(w.next(), "/id") == "r-4");
  }
  {
    ws_client w(n.port(), "/v1/watch?cursor=not-a-cursor");
    CHECK(field(w.next(), "/type") == "reset");
    std::vector<std::string> ids;
    for (;;) {
      auto m = w.next();
      REQUIRE_FALSE(m.empty());
      if (field(m, "/type") == "synced") break;
      CHECK(field(m, "/type") == "put");
      ids.push_back(field(m, "/id"));
    }
    std::sort(ids.begin(), ids.end());  // a snapshot comes in no particular order
    CHECK(ids == std::vector<std::string>{"r-0", "r-1", "r-2", "r-3", "r-4"});
  }
  {
    ws_client w(n.port(), "/v1/watch?snapshot=true&prefix=r-1");
    CHECK(field(w.next(), "/id") == "r-1");
    CHECK(field(w.next(), "/type") == "synced");
  }
}

TEST_CASE("watch: a watcher that reads too slowly is cut with 4008; writers never wait") {
  node_fixture n({}, [](store_options& o) { o.feed_capacity = 32; },
                 [](http::server_options& o) { o.watch_queue_messages = 4; });
  ws_client slow(n.port(), "/v1/watch");
  // Big events fill the socket buffers while the client reads nothing.
  const std::string big = std::string(200000, 'x');
  for (int i = 0; i < 400; ++i) {
    auto r = n.store->create(create_request{"lag-" + std::to_string(i), std::nullopt, {}, {{"v", "\"" + big + "\""}}, {}, {}});
    REQUIRE(r.has_value());
  }
  int messages = 0;
  while (!slow.next().empty()) ++messages;
  CHECK(slow.closed_code == 4008);
  CHECK(messages < 400);
  std::printf("lagging watcher got %d of 400 events before 4008\n", messages);
}

TEST_CASE("watch needs the API token when one is set") {
  http::api_settings s;
  s.api_token = "tok";
  node_fixture n(s);
  CHECK_THROWS(ws_client(n.port(), "/v1/watch"));
  ws_client ok(n.port(), "/v1/watch", "tok");
  // A browser cannot set headers on a WebSocket: ?access_token= (RFC 6750).
  CHECK_THROWS(ws_client(n.port(), "/v1/watch?access_token=nope"));
  ws_client query(n.port(), "/v1/watch?prefix=x&access_token=tok");
  CHECK(n.store->create(create_request{"x"}).has_value());
  CHECK(field(ok.next(), "/id") == "x");
  CHECK(field(query.next(), "/id") == "x");
}

TEST_CASE("watch: a change's event is rendered once for every watcher, within the cache's bounds") {
  http::watch_registry reg;
  int renders = 0;
  auto render = [&](std::string& m) {
    ++renders;
    m = "event";
  };
  auto a = reg.rendered("1-1", render);
  auto b = reg.rendered("1-1", render);
  CHECK(renders == 1);
  CHECK(a.get() == b.get());
  CHECK(*a == "event");
  // Past 16,384 changes the oldest is dropped (and rendered again if asked).
  for (int i = 2; i <= 16385; ++i) (void)reg.rendered("1-" + std::to_string(i), render);
  CHECK(renders == 16385);
  (void)reg.rendered("1-16385", render);
  CHECK(renders == 16385);
  (void)reg.rendered("1-1", render);
  CHECK(renders == 16386);
  // Past 16 MiB of events the oldest go too, whatever their number.
  const std::string big(1u << 20, 'x');
  auto render_big = [&](std::string& m) {
    ++renders;
    m = big;
  };
  for (int i = 0; i < 17; ++i) (void)reg.rendered("2-" + std::to_string(i), render_big);
  const int before = renders;
  (void)reg.rendered("2-16", render_big);  // the newest stays
  CHECK(renders == before);
  (void)reg.rendered("2-0", render_big);  // the oldest went
  CHECK(renders == before + 1);
}
