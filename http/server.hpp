// server: the HTTP/1.1 + WebSocket front end on Boost.Beast. One io_context
// per thread; the acceptor hands each connection to the next context, where
// it lives its whole life (no strands, no locks in a connection). Requests
// are answered by api::handle(); /v1/watch upgrades to the change feed.
// No Beast or Asio in this header (pimpl), so node/ stays cheap to build.
// Limits: header bytes, body bytes (413), read/idle timeouts, connections
// in all and per client address (past either: 503 with Retry-After, then
// close). A Transfer-Encoding other than chunked is 501.
// Thread: start/stop from one thread; the server runs its own threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "http/api.hpp"
#include "http/tls_files.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::http {

struct server_options {
  std::string host = "127.0.0.1";
  uint16_t port = 7070;  // 0: ephemeral
  unsigned threads = 0;  // 0: one per core
  size_t max_connections = 10000;
  size_t max_connections_per_address = 2048;  // past it: 503 overloaded, then close
  size_t header_bytes = 16 * 1024;
  // A request must arrive whole within read_timeout_ms of its first byte;
  // the first request on a connection within read_timeout_ms of the accept.
  uint32_t read_timeout_ms = 30000;
  uint32_t idle_timeout_ms = 120000;  // between requests: a kept-alive connection with nothing sent
  uint32_t forward_timeout_ms = 5000; // a conditional write relayed to its owner must be answered within this
  uint32_t stop_pending_ms = 3000;     // stop() lets answers waiting on the store (fsync, acks) go out this long
  // A watcher's unsent messages: at most this many and about this many
  // bytes (one message or one snapshot page over); it pulls more only as
  // the socket drains, and one that falls off the change ring gets 4008.
  size_t watch_queue_messages = 1024;
  size_t watch_queue_bytes = 1u << 20;
  size_t watchers_max = 1024;
  // TLS on REST and the feed (every connection; plain HTTP then fails its
  // handshake). Also the relay's client side: it verifies an owner against
  // client_ca (else the system's roots) and shows this certificate.
  tls_files tls;
};

class server {
 public:
  server(api& a, server_options opts);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and starts serving. On failure *why says what.
  result<void> start();  // errors carry a detail (the address, the OS reason)
  uint16_t port() const;
  // Reads the TLS files again (certificate rotation): new connections and
  // relays take the new contexts; open ones keep theirs. On an error the
  // running contexts stay. Turning TLS on or off needs a restart.
  result<void> set_tls_files(tls_files f);
  // Whether f's files load (invalid_argument naming the file and the
  // reason), for a start-up check before anything opens.
  static result<void> check_tls_files(const tls_files& f);
  // Stops accepting, closes connections and watchers, joins the threads.
  void stop();

  struct impl;  // public only so the connection type in server.cpp can name it

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sessionmesh::http
