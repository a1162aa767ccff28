// relay (http/relay.hpp) against a small real HTTP server on loopback: kept
// connections are reused, a kept connection the server closed is replaced
// without failing the request, an unreachable node is `unavailable`.
#include <doctest/doctest.h>

#include <utility>  // before Asio: Boost 1.74 uses std::exchange
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <atomic>
#include <future>
#include <thread>

#include "http/relay.hpp"

using namespace sessionmesh;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// Answers every request 200 "n" (its number) with keep-alive; with
// close_after_each, closes the connection after each answer anyway (as a
// node does when its idle connection times out).
class tiny_server {
 public:
  explicit tiny_server(bool close_after_each) : close_(close_after_each), acc_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port = acc_.local_endpoint().port();
    th_ = std::thread([this] {
      for (;;) {
        tcp::socket s(ioc_);
        beast::error_code ec;
        acc_.accept(s, ec);
        if (ec || stop_) return;
        ++accepted;
        current_ = s.native_handle();
        beast::flat_buffer b;
        for (;;) {
          bhttp::request<bhttp::string_body> req;
          bhttp::read(s, b, req, ec);
          if (ec) break;
          bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
          res.body() = std::to_string(++served);
          res.keep_alive(true);
          res.prepare_payload();
          bhttp::write(s, res, ec);
          if (ec || close_) break;
        }
        current_ = -1;
      }
    });
  }
  ~tiny_server() {
    stop_ = true;
    if (const int fd = current_; fd >= 0) ::shutdown(fd, SHUT_RDWR);  // a kept connection blocks its read
    beast::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    th_.join();
  }
  uint16_t port = 0;
  std::atomic<int> accepted{0}, served{0};

 private:
  bool close_;
  std::atomic<bool> stop_{false};
  std::atomic<int> current_{-1};
  asio::io_context ioc_;
  tcp::acceptor acc_;
  std::thread th_;
};

result<http::response> relay_once(asio::io_context& ioc, uint16_t port) {
  std::promise<result<http::response>> p;
  asio::post(ioc, [&] {
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/x", 11};
    http::relay(ioc.get_executor(), "127.0.0.1:" + std::to_string(port), std::move(req), 1 << 20, 2000, nullptr,
                [&](result<http::response> r) { p.set_value(std::move(r)); });
  });
  return p.get_future().get();
}

}  // namespace

TEST_CASE("relay: kept connections are reused, a closed one replaced, an unreachable node unavailable") {
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  std::thread runner([&] { ioc.run(); });
  {
    tiny_server keep(false);
    for (int i = 1; i <= 5; ++i) {
      auto r = relay_once(ioc, keep.port);
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == std::to_string(i));
    }
    CHECK(keep.accepted == 1);  // one connection for the five
  }
  {
    tiny_server closing(true);
    for (int i = 1; i <= 3; ++i) {
      auto r = relay_once(ioc, closing.port);
      REQUIRE_MESSAGE(r, r.describe());
      CHECK(r->status == 200);
    }
    CHECK(closing.served == 3);    // each request answered once
    CHECK(closing.accepted == 3);  // each on a new connection, after the kept one failed
  }
  tcp::acceptor gone(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t dead = gone.local_endpoint().port();
  gone.close();
  auto r = relay_once(ioc, dead);
  CHECK_FALSE(r);
  CHECK(r.error() == errc::unavailable);
  guard.reset();
  ioc.stop();
  runner.join();
}
