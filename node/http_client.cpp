#include "node/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sessionmesh::node {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

bool parse_http_url(std::string_view url, http_url* out, std::string* why) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) {
    *why = "the target must be an http:// URL (got '" + std::string(url) + "')";
    return false;
  }
  url.remove_prefix(scheme.size());
  if (const auto slash = url.find('/'); slash != std::string_view::npos) {
    if (url.substr(slash) != "/") {
      *why = "the target URL must not have a path";
      return false;
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
      *why = "bad port in the target URL";
      return false;
    }
  }
  if (u.host.empty()) {
    *why = "no host in the target URL";
    return false;
  }
  *out = std::move(u);
  return true;
}

struct http_client::impl {
  http_url url;
  std::string token;
  uint32_t timeout_ms;
  asio::io_context ctx;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buf;

  bool connect(std::string* why) {
    try {
      asio::ip::tcp::resolver r(ctx);
      auto eps = r.resolve(url.host, url.port);
      stream = std::make_unique<beast::tcp_stream>(ctx);
      stream->expires_after(std::chrono::milliseconds(timeout_ms));
      stream->connect(eps);
      buf.clear();
      return true;
    } catch (const std::exception& e) {
      *why = "cannot reach " + url.host + ":" + url.port + ": " + e.what();
      stream.reset();
      return false;
    }
  }

  bool once(std::string_view method, std::string_view target, std::string_view body, http_reply* out,
            std::string* why) {
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
      out->status = res.result_int();
      out->body = std::move(res.body());
      if (!res.keep_alive()) stream.reset();
      return true;
    } catch (const std::exception& e) {
      *why = std::string("request to ") + url.host + ":" + url.port + " failed: " + e.what();
      stream.reset();
      return false;
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

result<http_reply> http_client::call(std::string_view method, std::string_view target, std::string_view body,
                                     std::string* why) {
  // A kept-alive connection the server closed fails the first attempt.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!p_->stream && !p_->connect(why)) return errc::unavailable;
    http_reply r;
    if (p_->once(method, target, body, &r, why)) return r;
  }
  return errc::unavailable;
}

}  // namespace sessionmesh::node
