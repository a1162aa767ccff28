// relay: one HTTP request to another node (a session's owner), sent and
// answered asynchronously on the caller's executor: resolve, connect,
// write, read, each under one deadline. Connections are kept alive and
// reused (per I/O context, target and TLS context: at most 64 idle each, for
// at most 30 s); a request that fails on a kept connection before any byte
// of its answer came is sent once more on a new one. The answer keeps the owner's status,
// body, Content-Type and the headers a client acts on (ETag, Retry-After,
// Allow, X-Expires-At-Ms), and names the owner in X-Served-By. A failure
// (unreachable, timeout, garbage, an answer over body_limit) is unavailable
// with the reason as detail. Used only by the server (Beast stays in http/).
// With tls, over TLS: the owner's certificate is verified against tls's
// roots and the owner's address. Thread: done runs on ex.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>

#include <functional>
#include <string>

#include "http/api.hpp"

namespace sessionmesh::http {

void relay(const boost::asio::any_io_executor& ex, std::string target_addr,
           boost::beast::http::request<boost::beast::http::string_body> req, size_t body_limit,
           uint32_t timeout_ms, std::shared_ptr<boost::asio::ssl::context> tls,
           std::function<void(result<response>)> done);

}  // namespace sessionmesh::http
