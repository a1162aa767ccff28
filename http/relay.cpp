#include "http/relay.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include <memory>
#include <optional>

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
  std::shared_ptr<asio::ssl::context> tls_ctx;
  std::optional<beast::ssl_stream<beast::tcp_stream&>> tls;  // over stream, when tls_ctx
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
    for (std::string_view h : {"ETag", "Retry-After", "Allow", "X-Expires-At-Ms", "X-Sessionmesh-Session-Token", "X-Sessionmesh-Token-Unmet"})
      if (auto it = up.find(beast::string_view(h.data(), h.size())); it != up.end())
        r.headers.emplace_back(std::string(h), std::string(it->value()));
    r.headers.emplace_back("X-Served-By", target);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    done(std::move(r));
  }

  // Write the request and read the answer on s (stream, or tls over it).
  template <class S>
  static void exchange(const std::shared_ptr<relay_state>& st, S& s) {
    bhttp::async_write(s, st->req, [st, &s](beast::error_code ec, size_t) {
      if (ec) return st->fail(ec);
      bhttp::async_read(s, st->buf, st->res, [st](beast::error_code ec2, size_t) {
        if (ec2) return st->fail(ec2);
        st->answer();
      });
    });
  }
};

}  // namespace

void relay(const asio::any_io_executor& ex, std::string target_addr, bhttp::request<bhttp::string_body> req,
           size_t body_limit, uint32_t timeout_ms, std::shared_ptr<asio::ssl::context> tls,
           std::function<void(result<response>)> done) {
  auto st = std::make_shared<relay_state>(ex);
  st->tls_ctx = std::move(tls);
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
  st->resolver.async_resolve(host, port, [st, host](beast::error_code ec, tcp::resolver::results_type eps) {
    if (ec) return st->fail(ec);
    st->stream.async_connect(eps, [st, host](beast::error_code ec2, const tcp::endpoint&) {
      if (ec2) return st->fail(ec2);
      if (!st->tls_ctx) return relay_state::exchange(st, st->stream);
      auto& t = st->tls.emplace(st->stream, *st->tls_ctx);
      boost::system::error_code not_ip;
      (void)asio::ip::make_address(host, not_ip);
      if (not_ip) (void)SSL_set_tlsext_host_name(t.native_handle(), host.c_str());  // SNI names hosts, not addresses
      t.set_verify_callback(asio::ssl::host_name_verification(host));
      t.async_handshake(asio::ssl::stream_base::client, [st](beast::error_code ec3) {
        if (ec3) return st->fail(ec3);
        relay_state::exchange(st, *st->tls);
      });
    });
  });
}

}  // namespace sessionmesh::http
