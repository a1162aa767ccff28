// tcp_transport: the cluster transport over TCP (Asio). One outbound
// connection per peer address carries our frames to it; inbound connections
// carry peers' frames to us. A handshake (frame.hpp) checks cluster name,
// protocol version and, with a cluster key, a proof of the key; every later
// frame is HMAC-SHA256'd with a per-connection id and a sequence number.
// A peer without the key, or one that sends garbage, is disconnected,
// counted, and logged (at most one line per reason every 10 s, with the
// count since); nothing it sent is used. Before its hello is checked, a
// connection may send at most hello_frame_max bytes of frame; inbound
// connections are capped in total and per IP address.
// Outbound: reconnect with capped exponential backoff and jitter; a bounded
// queue per peer (past it the oldest frames are dropped and counted).
// Thread: every method must be called on the io_context's thread, which also
// runs the on_frame callback.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "sessionmesh/result.hpp"

namespace boost::asio {
class io_context;
}

namespace sessionmesh::transport {

struct transport_options {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7946;
  std::string advertise;          // host:port peers dial
  std::string cluster = "sessionmesh";
  std::string node_id;
  std::string key;                // empty: no authentication
  size_t queue_frames_max = 16384;
  size_t queue_bytes_max = 64u << 20;
  uint32_t backoff_base_ms = 50;
  uint32_t backoff_max_ms = 2000;
  uint32_t handshake_timeout_ms = 5000;
  // Inbound connections at once, and from one IP address; past either a
  // new connection is closed at accept (counted, logged rate-limited).
  size_t inbound_max = 256;
  size_t inbound_per_address_max = 16;
};

struct transport_counters {
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0}, frames_in{0}, frames_out{0};
  std::atomic<uint64_t> refused_auth{0}, refused_cluster{0}, garbage{0}, connects{0}, connect_failures{0};
  std::atomic<uint64_t> queue_dropped{0};
  std::atomic<uint64_t> inbound_refused{0};  // past inbound_max or inbound_per_address_max
  std::atomic<uint64_t> dropped{0};          // inbound connections dropped for any reason
  std::atomic<uint64_t> inbound_open{0};
};

class tcp_transport {
 public:
  // from_addr is the address the peer advertised in its handshake.
  using frame_fn = std::function<void(const std::string& from_node, const std::string& from_addr, std::string_view payload)>;
  using log_fn = std::function<void(const std::string& message)>;

  tcp_transport(boost::asio::io_context& ioc, transport_options opts, frame_fn on_frame, log_fn log);
  ~tcp_transport();

  result<void> listen();  // errors carry a detail (the address, the OS reason)
  uint16_t port() const;
  // Queues one payload for the peer at addr (host:port).
  void send(const std::string& addr, std::string payload);
  void close();
  // Frames queued or being written to peers we are connected to (a peer
  // we cannot reach never takes its queue: not counted).
  size_t unsent_to_ready_peers() const;
  // Calls done (on the io_context's thread) once nothing is unsent to a
  // connected peer: at once if so now, else after the write that empties
  // the last queue (or the failure that drops it). Once.
  void when_flushed(std::function<void()> done);
  const transport_counters& counters() const;
  // Test-only fault switch: drop every frame to or from these node ids / addresses.
  void set_blocked(std::set<std::string> peers);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace sessionmesh::transport
