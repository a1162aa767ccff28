#include "node/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sessionmesh::node {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

result<http_url> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) {
    return {errc::invalid_argument, "the target must be an http:// URL (got '" + std::string(url) + "')"};
  }
  url.remove_prefix(scheme.size());
  if (const auto slash = url.find('/'); slash != std::string_view::npos) {
    if (url.substr(slash) != "/") {
      return {errc::invalid_argument, "the target URL must not have a path"};
    }
    url = url.substr(0, slash);
  }
  const auto colon = url.rfind(':');
  http_url u;
  if (colon == std::string_view::npos) {
    u.host = std::string(url);
  } else {
    u.host = std::string(url.substr(0, colon));
    u.port = std::string(url.substr(colon + 1));
    if (u.port.empty() || u.port.size() > 5 || u.port.find_first_not_of("0123456789") != std::string::npos) {
      return {errc::invalid_argument, "bad port in the target URL"};
    }
  }
  if (u.host.empty()) {
    return {errc::invalid_argument, "no host in the target URL"};
  }
  return u;
}

struct http_client::impl {
  http_url url;
  std::string token;
  uint32_t timeout_ms;
  asio::io_context ctx;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buf;

  result<void> connect() {
    try {
      asio::ip::tcp::resolver r(ctx);
      auto eps = r.resolve(url.host, url.port);
      stream = std::make_unique<beast::tcp_stream>(ctx);
      stream->expires_after(std::chrono::milliseconds(timeout_ms));
      stream->connect(eps);
      buf.clear();
      return {};
    } catch (const std::exception& e) {
      stream.reset();
      return {errc::unavailable, "cannot reach " + url.host + ":" + url.port + ": " + e.what()};
    }
  }

  result<http_reply> once(std::string_view method, std::string_view target, std::string_view body) {
    try {
      bhttp::request<bhttp::string_body> req{
          bhttp::string_to_verb(beast::string_view(method.data(), method.size())),
          beast::string_view(target.data(), target.size()), 11};
      req.set(bhttp::field::host, url.host);
      req.set(bhttp::field::user_agent, "sessionmesh-migrate");
      if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
      if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        req.set(bhttp::field::content_type, "application/json");
        req.body() = std::string(body);
        req.prepare_payload();
      }
      stream->expires_after(std::chrono::milliseconds(timeout_ms));
      bhttp::write(*stream, req);
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(8u << 20);
      bhttp::read(*stream, buf, parser);
      auto res = parser.release();
      http_reply out;
      out.status = res.result_int();
      out.body = std::move(res.body());
      if (!res.keep_alive()) stream.reset();
      return out;
    } catch (const std::exception& e) {
      stream.reset();
      return {errc::unavailable, std::string("request to ") + url.host + ":" + url.port + " failed: " + e.what()};
    }
  }
};

http_client::http_client(http_url url, std::string token, uint32_t timeout_ms)
    : p_(std::make_unique<impl>()) {
  p_->url = std::move(url);
  p_->token = std::move(token);
  p_->timeout_ms = timeout_ms;
}

http_client::~http_client() = default;

result<http_reply> http_client::call(std::string_view method, std::string_view target, std::string_view body) {
  // A kept-alive connection the server closed fails the first attempt.
  result<http_reply> r = errc::unavailable;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!p_->stream)
      if (auto c = p_->connect(); !c) return failed<http_reply>(c);
    r = p_->once(method, target, body);
    if (r) return r;
  }
  return r;
}

}  // namespace sessionmesh::node
