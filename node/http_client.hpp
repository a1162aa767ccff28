// http_client: a small blocking HTTP/1.1 client over one keep-alive
// connection (reconnects once when the server closed it). Used by the
// offline `sessionmesh migrate` to talk to a running node. Only plain
// http:// URLs. Bodies larger than 8 MiB are refused.
// Thread: one client per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sessionmesh/result.hpp"

namespace sessionmesh::node {

struct http_url {
  std::string host;
  std::string port = "80";
};
// Parses "http://host[:port][/]"; invalid_argument with a detail otherwise.
result<http_url> parse_http_url(std::string_view url);

struct http_reply {
  unsigned status = 0;
  std::string body;
};

class http_client {
 public:
  http_client(http_url url, std::string token, uint32_t timeout_ms = 10000);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // One request; errc::unavailable (with a detail) when the node cannot be
  // reached or answers garbage.
  result<http_reply> call(std::string_view method, std::string_view target, std::string_view body);

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace sessionmesh::node
