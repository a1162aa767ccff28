// The cluster-wide feed's pieces that need no cluster: the cursor, the
// partition sets on the wire, reading our own events, and a node's feed as
// another node follows it (X-Sessionmesh-Partitions, X-Sessionmesh-Cursor).
#include <doctest/doctest.h>

#include <utility>  // before Asio: Boost 1.74 uses std::exchange
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "gossip/placement.hpp"
#include "http/cluster_cursor.hpp"
#include "http/json_render.hpp"
#include "http/path.hpp"
#include "tests/http/fixture.hpp"

using namespace sessionmesh;
using namespace sessionmesh::http;
using namespace sessionmesh::testing;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

TEST_CASE("partition sets travel as 64 hex digits") {
  std::bitset<256> p;
  for (size_t i : {0u, 1u, 5u, 128u, 255u}) p.set(i);
  const auto hex = partitions_hex(p);
  CHECK(hex.size() == 64);
  CHECK(hex.substr(0, 2) == "32");  // 0 and 1 in digit 0, 5 in digit 1
  auto back = parse_partitions_hex(hex);
  REQUIRE(back);
  CHECK(*back == p);
  CHECK(parse_partitions_hex(std::string(64, 'F'))->all());
  CHECK_FALSE(parse_partitions_hex(hex.substr(1)));
  CHECK_FALSE(parse_partitions_hex(std::string(63, '0') + "g"));
  CHECK_FALSE(parse_partitions_hex(""));
}

TEST_CASE("percent_encode keeps only unreserved characters") {
  CHECK(percent_encode("a-Z_0.9~") == "a-Z_0.9~");
  CHECK(percent_encode("a b/c?d&e=f%") == "a%20b%2Fc%3Fd%26e%3Df%25");
  CHECK(percent_decode(percent_encode("x:y@z\xff")) == std::optional<std::string>("x:y@z\xff"));
}

TEST_CASE("a cluster cursor names the placement and each node's own cursor, and reads back") {
  const auto c = render_cluster_cursor(0xabcdef0123456789ull, {{"node-b", "1f-20"}, {"node-a", "2-0"}});
  CHECK(c == "mabcdef0123456789_6e6f64652d61~2-0_6e6f64652d62~1f-20");  // nodes in id order
  CHECK(percent_encode(c) == c);
  auto p = parse_cluster_cursor(c);
  REQUIRE(p);
  CHECK(p->hash == 0xabcdef0123456789ull);
  CHECK(p->at.size() == 2);
  CHECK(p->at["node-a"] == "2-0");
  CHECK(p->at["node-b"] == "1f-20");
  // A node's own cursor, or garbage: not one.
  for (std::string_view bad : {"", "1f-20", "m123", "xabcdef0123456789", "mabcdef012345678g", "mabcdef0123456789_",
                               "mabcdef0123456789_6e6f~", "mabcdef0123456789_6e6~1-2", "mabcdef0123456789_zz~1-2",
                               "mabcdef0123456789-6e6f~1-2", "mabcdef0123456789_6e6f1-2"})
    CHECK_MESSAGE(!parse_cluster_cursor(bad), bad);
  CHECK_FALSE(parse_cluster_cursor("m0000000000000000_61~1-2_61~1-3"));  // a node twice
  CHECK_FALSE(parse_cluster_cursor("m0000000000000000_~1-2"));            // no node
  CHECK_FALSE(parse_cluster_cursor("m0000000000000000_61~1-2\x1f"));       // not a node's cursor
  CHECK_FALSE(parse_cluster_cursor("m0000000000000000_61~1~2"));
  // Bounded: at most 256 nodes.
  std::vector<std::string> names;
  for (int i = 0; i < 257; ++i) names.push_back("n" + std::to_string(i));
  std::vector<std::pair<std::string_view, std::string_view>> at;
  for (const auto& nm : names) at.emplace_back(nm, "1-1");
  CHECK_FALSE(parse_cluster_cursor(render_cluster_cursor(1, at)));
  at.pop_back();
  CHECK(parse_cluster_cursor(render_cluster_cursor(1, at))->at.size() == 256);
}

TEST_CASE("the placement's hash depends on who follows which partitions, not on their order") {
  placement_sources a;
  a.nodes.push_back({"n1", "h1", true, {}});
  a.nodes.push_back({"n2", "h2", false, {}});
  a.nodes[0].parts.set(3);
  a.nodes[1].parts.set(4);
  placement_sources b = a;
  std::swap(b.nodes[0], b.nodes[1]);
  CHECK(placement_hash(a) == placement_hash(b));
  b.nodes[0].parts.set(5);
  CHECK(placement_hash(a) != placement_hash(b));
}

TEST_CASE("read_event finds the type and the cursor of every event our renderer makes") {
  change c;
  c.id = "s-1";
  c.cursor = "ab-7";
  c.version = "v";
  c.origin = "node-a";
  for (auto t : {change_type::put, change_type::del, change_type::expire}) {
    c.type = t;
    std::string m;
    render_change(m, c, "node-a");
    auto e = read_event(m);
    REQUIRE(e);
    CHECK(m.substr(e->cursor_at, e->cursor_len) == "ab-7");
  }
  c.type = change_type::moved;
  c.moves = {{"s-1", "a", "b"}};
  c.reason = "node_dead";
  std::string m;
  render_change(m, c, "");
  auto e = read_event(m);
  REQUIRE(e);
  CHECK(e->type == "moved");
  CHECK(m.substr(e->cursor_at, e->cursor_len) == "ab-7");
  auto s = read_event(R"({"type":"synced","cursor":"x-1"})");
  REQUIRE(s);
  CHECK(s->type == "synced");
  auto r = read_event(R"({"type":"reset"})");
  REQUIRE(r);
  CHECK(r->cursor_at == std::string::npos);
  CHECK_FALSE(read_event("[]"));
  CHECK_FALSE(read_event(R"({"type":"put)"));
  CHECK_FALSE(read_event(R"({"type":"put","cursor":"unterminated)"));
}

TEST_CASE("a feed followed by another node: only the partitions it names, and its position in the handshake") {
  node_fixture n;
  http_client c(n.port());
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.push_back("f-" + std::to_string(i));
  std::bitset<256> parts;
  for (size_t i = 0; i < ids.size(); i += 2) parts.set(gossip::partition_of(ids[i]));
  asio::io_context ioc;
  websocket::stream<asio::ip::tcp::socket> ws(ioc);
  beast::get_lowest_layer(ws).connect({asio::ip::make_address("127.0.0.1"), n.port()});
  ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& r) {
    r.set("X-Sessionmesh-Forwarded", "node-z");
    r.set("X-Sessionmesh-Partitions", partitions_hex(parts));
  }));
  websocket::response_type res;
  ws.handshake(res, "127.0.0.1", "/v1/watch?prefix=f-");
  CHECK_FALSE(std::string(res["X-Sessionmesh-Cursor"]).empty());
  for (const auto& id : ids) REQUIRE(c.request("POST", "/v1/sessions", R"({"id":")" + id + R"("})").status == 201);
  REQUIRE(c.request("POST", "/v1/sessions", R"({"id":"last"})").status == 201);
  size_t want = 0;
  for (const auto& id : ids) want += parts.test(gossip::partition_of(id));
  for (size_t k = 0; k < want; ++k) {
    beast::flat_buffer b;
    ws.read(b);
    json_doc j(beast::buffers_to_string(b.data()));
    REQUIRE(j.ok);
    CHECK(parts.test(gossip::partition_of(j.str("/id"))));
  }
  // A malformed partition set is refused after the handshake.
  websocket::stream<asio::ip::tcp::socket> bad(ioc);
  beast::get_lowest_layer(bad).connect({asio::ip::make_address("127.0.0.1"), n.port()});
  bad.set_option(websocket::stream_base::decorator([](websocket::request_type& r) {
    r.set("X-Sessionmesh-Forwarded", "node-z");
    r.set("X-Sessionmesh-Partitions", "zz");
  }));
  bad.handshake("127.0.0.1", "/v1/watch");
  beast::flat_buffer b;
  beast::error_code ec;
  bad.read(b, ec);
  CHECK(ec == websocket::error::closed);
  CHECK(bad.reason().code == websocket::close_code::policy_error);
}
