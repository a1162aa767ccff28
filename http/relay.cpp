#include "http/relay.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>

#include <memory>

namespace sessionmesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct relay_state {
  explicit relay_state(const asio::any_io_executor& ex) : resolver(ex), stream(ex) {}
  tcp::resolver resolver;
  beast::tcp_stream stream;
  bhttp::request<bhttp::string_body> req;
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> res;
  std::string target;
  std::function<void(result<response>)> done;

  void fail(const beast::error_code& ec) { done(result<response>(errc::unavailable, ec.message())); }

  void answer() {
    auto& up = res.get();
    response r;
    r.status = up.result_int();
    r.body = std::move(up.body());
    if (auto it = up.find(bhttp::field::content_type); it != up.end()) r.content_type = std::string(it->value());
    for (std::string_view h : {"ETag", "Retry-After", "Allow", "X-Expires-At-Ms"})
      if (auto it = up.find(beast::string_view(h.data(), h.size())); it != up.end())
        r.headers.emplace_back(std::string(h), std::string(it->value()));
    r.headers.emplace_back("X-Served-By", target);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    done(std::move(r));
  }
};

}  // namespace

void relay(const asio::any_io_executor& ex, std::string target_addr, bhttp::request<bhttp::string_body> req,
           size_t body_limit, uint32_t timeout_ms, std::function<void(result<response>)> done) {
  auto st = std::make_shared<relay_state>(ex);
  st->target = std::move(target_addr);
  st->done = std::move(done);
  st->req = std::move(req);
  st->req.set(bhttp::field::host, st->target);
  st->req.prepare_payload();
  st->res.body_limit(body_limit);
  const auto colon = st->target.rfind(':');
  std::string host = colon == std::string::npos ? st->target : st->target.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : st->target.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  st->stream.expires_after(std::chrono::milliseconds(timeout_ms));
  st->resolver.async_resolve(host, port, [st](beast::error_code ec, tcp::resolver::results_type eps) {
    if (ec) return st->fail(ec);
    st->stream.async_connect(eps, [st](beast::error_code ec2, const tcp::endpoint&) {
      if (ec2) return st->fail(ec2);
      bhttp::async_write(st->stream, st->req, [st](beast::error_code ec3, size_t) {
        if (ec3) return st->fail(ec3);
        bhttp::async_read(st->stream, st->buf, st->res, [st](beast::error_code ec4, size_t) {
          if (ec4) return st->fail(ec4);
          st->answer();
        });
      });
    });
  });
}

}  // namespace sessionmesh::http
