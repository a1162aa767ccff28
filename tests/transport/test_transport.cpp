// transport: the frame codec (HMAC, hello, replay) as pure functions, and
// the TCP transport's limits on unauthenticated peers over real sockets.
#include <doctest/doctest.h>

#include <utility>

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <vector>
#include <thread>

#include "transport/frame.hpp"
#include "transport/tcp_transport.hpp"

using namespace sessionmesh;
using namespace sessionmesh::transport;

namespace {

std::string be32(uint32_t n) {
  std::string s;
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return s;
}

}  // namespace

TEST_CASE("a keyed frame carries its MAC; a replayed or altered one fails it") {
  const std::string key = "k3y", conn = std::string(32, 'c');
  std::string wire;
  append_frame(wire, "one", key, conn, 0);
  append_frame(wire, "two", key, conn, 1);
  frame_reader r(mac_bytes, frame_max);
  r.feed(wire.data(), wire.size());
  auto f1 = r.next();
  REQUIRE(f1.has_value());
  REQUIRE(f1->has_value());
  CHECK((*f1)->first == "one");
  CHECK(constant_time_equal((*f1)->second, frame_mac(key, conn, 0, "one")));
  auto f2 = r.next();
  REQUIRE(f2.has_value());
  REQUIRE(f2->has_value());
  // Replayed as the first frame (seq 0) it does not verify; on another connection neither.
  CHECK_FALSE(constant_time_equal((*f2)->second, frame_mac(key, conn, 0, "two")));
  CHECK_FALSE(constant_time_equal((*f2)->second, frame_mac(key, std::string(32, 'd'), 1, "two")));
  CHECK_FALSE(constant_time_equal((*f2)->second, frame_mac(key, conn, 1, "twO")));
  CHECK(constant_time_equal((*f2)->second, frame_mac(key, conn, 1, "two")));
  auto none = r.next();
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("a hello round-trips and its proof needs the key") {
  hello h{"c1", "node-a", "10.0.0.1:7946", std::string(16, 'n'), {}};
  h.proof = hello_proof("secret", h);
  auto d = decode_hello(encode_hello(h));
  REQUIRE(d.has_value());
  CHECK(d->node_id == "node-a");
  CHECK(constant_time_equal(d->proof, hello_proof("secret", *d)));
  CHECK_FALSE(constant_time_equal(d->proof, hello_proof("other", *d)));
  CHECK_FALSE(decode_hello("\x93garbage").has_value());
  CHECK_FALSE(decode_hello("").has_value());
}

TEST_CASE("an announced length past the limit is refused before its payload is buffered") {
  frame_reader r(0);  // a fresh reader reads a hello: hello_frame_max
  const std::string hdr = be32(16u << 20);
  r.feed(hdr.data(), hdr.size());
  auto f = r.next();
  REQUIRE_FALSE(f.has_value());
  CHECK(f.error() == errc::limit_exceeded);
  CHECK(r.buffered() == 4);
  // A hello-sized frame passes; after set_max a big one does too.
  frame_reader ok(0);
  std::string w;
  append_frame(w, std::string(hello_frame_max, 'x'), {}, {}, 0);
  ok.feed(w.data(), w.size());
  CHECK(ok.next().has_value());
  ok.set_max(frame_max);
  w.clear();
  append_frame(w, std::string(hello_frame_max + 1, 'y'), {}, {}, 0);
  ok.feed(w.data(), w.size());
  auto big = ok.next();
  REQUIRE(big.has_value());
  CHECK((*big)->first.size() == hello_frame_max + 1);
}

TEST_CASE("unauthenticated connections are dropped, capped per address, counted") {
  namespace asio = boost::asio;
  asio::io_context ioc;
  transport_options o;
  o.listen_host = "127.0.0.1";
  o.listen_port = 0;
  o.node_id = "n";
  o.advertise = "127.0.0.1:0";
  o.key = "cluster-key";
  o.inbound_per_address_max = 16;
  o.handshake_timeout_ms = 10000;
  tcp_transport t(ioc, o, [](const std::string&, const std::string&, std::string_view) { FAIL("no frame may pass"); },
                  [](const std::string&) {});
  auto listening = t.listen();
  REQUIRE_MESSAGE(listening.has_value(), listening.describe());
  const uint16_t port = t.port();
  auto guard = asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  auto wait_for = [&](auto pred) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return pred();
  };

  // 40 connections each announce a 16 MiB frame and send 8 KiB of it: each
  // is dropped on the length prefix (the hello limit), none buffers it.
  asio::io_context cio;
  std::vector<asio::ip::tcp::socket> socks;
  const std::string junk = be32(16u << 20) + std::string(8192, 'z');
  for (int i = 0; i < 40; ++i) {
    socks.emplace_back(cio);
    socks.back().connect({asio::ip::make_address("127.0.0.1"), port});
    boost::system::error_code ec;
    asio::write(socks.back(), asio::buffer(junk), ec);
    // Keep at most 8 open at once, so the per-address cap does not refuse them first.
    if (socks.size() >= 8) {
      REQUIRE(wait_for([&] { return t.counters().garbage.load() >= static_cast<uint64_t>(i + 1); }));
      socks.clear();
    }
  }
  CHECK(wait_for([&] { return t.counters().garbage.load() >= 40; }));
  CHECK(t.counters().dropped.load() >= 40);
  socks.clear();
  CHECK(wait_for([&] { return t.counters().inbound_open.load() == 0; }));

  // 20 idle connections from one address: 16 are held (until the handshake
  // timeout), the other 4 closed at accept.
  for (int i = 0; i < 20; ++i) {
    socks.emplace_back(cio);
    socks.back().connect({asio::ip::make_address("127.0.0.1"), port});
  }
  CHECK(wait_for([&] { return t.counters().inbound_refused.load() == 4; }));
  CHECK(t.counters().inbound_open.load() == 16);
  socks.clear();

  asio::post(ioc, [&] { t.close(); });
  guard.reset();
  ioc.stop();
  io.join();
}

TEST_CASE("when_flushed fires once every frame queued to a connected peer is written") {
  namespace asio = boost::asio;
  asio::io_context ioc;
  auto opts = [](const std::string& id) {
    transport_options o;
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.node_id = id;
    o.key = "cluster-key";
    return o;
  };
  std::atomic<int> got{0};
  tcp_transport b(ioc, opts("b"), [&](const std::string&, const std::string&, std::string_view) { ++got; },
                  [](const std::string&) {});
  REQUIRE(b.listen().has_value());
  const std::string b_addr = "127.0.0.1:" + std::to_string(b.port());
  auto oa = opts("a");
  tcp_transport a(ioc, oa, [](const std::string&, const std::string&, std::string_view) {}, [](const std::string&) {});
  REQUIRE(a.listen().has_value());
  // The first frame connects; once it arrived the peer is ready, then 200
  // more are queued and when_flushed must wait for their writes.
  std::atomic<int> flushed_at{-1};
  asio::post(ioc, [&] { a.send(b_addr, "hello"); });
  auto guard = asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.load() < 1 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(got.load() == 1);
  std::promise<void> done;
  asio::post(ioc, [&] {
    for (int i = 0; i < 200; ++i) a.send(b_addr, std::string(1000, 'x'));
    a.when_flushed([&] {
      flushed_at = 201 - static_cast<int>(a.unsent_to_ready_peers());  // all written here
      done.set_value();
    });
  });
  REQUIRE(done.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(flushed_at.load() == 201);
  while (got.load() < 201 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(got.load() == 201);
  asio::post(ioc, [&] {
    a.close();
    b.close();
  });
  guard.reset();
  io.join();
}

TEST_CASE("a node of another cluster (or --replicas) is refused, and both sides log why") {
  namespace asio = boost::asio;
  asio::io_context ioc;
  auto opts = [](const std::string& id, const std::string& cluster) {
    transport_options o;
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.node_id = id;
    o.cluster = cluster;
    return o;
  };
  std::mutex mu;
  std::vector<std::string> b_log, a_log;
  std::atomic<int> got{0};
  tcp_transport b(ioc, opts("b", "sessionmesh/replicas=2"),
                  [&](const std::string&, const std::string&, std::string_view) { ++got; },
                  [&](const std::string& m) {
                    std::lock_guard lk(mu);
                    b_log.push_back(m);
                  });
  REQUIRE(b.listen().has_value());
  tcp_transport a(ioc, opts("a", "sessionmesh/replicas=3"), [](const std::string&, const std::string&, std::string_view) {},
                  [&](const std::string& m) {
                    std::lock_guard lk(mu);
                    a_log.push_back(m);
                  });
  REQUIRE(a.listen().has_value());
  asio::post(ioc, [&] { a.send("127.0.0.1:" + std::to_string(b.port()), "hello"); });
  auto guard = asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  auto logged = [&](const std::vector<std::string>& log, const std::string& what) {
    std::lock_guard lk(mu);
    for (const auto& m : log)
      if (m.find(what) != std::string::npos) return true;
    return false;
  };
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(logged(a_log, "refused: the peer's cluster is") && logged(b_log, "wrong cluster name")) &&
         std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(logged(b_log, "wrong cluster name (or --replicas) or protocol version; this node's cluster is \"sessionmesh/replicas=2\""));
  CHECK(logged(a_log, "the peer's cluster is \"sessionmesh/replicas=2\", this node's is \"sessionmesh/replicas=3\""));
  CHECK(got.load() == 0);
  asio::post(ioc, [&] {
    a.close();
    b.close();
  });
  guard.reset();
  io.join();
}
