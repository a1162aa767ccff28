// The WebSocket change feed (API.md section 4). A watcher pulls from the
// store's bounded change ring at its own pace, so writers never wait for
// it; a store subscription only wakes it. It keeps at most
// watch_queue_messages unsent; when it falls off the ring (the store moved
// on by more than the ring holds) it is closed with 4008 "lagging".
// Under placement a watcher that was not sent by another node follows
// the whole cluster (cluster_watch.hpp); one sent by another node's
// (X-Sessionmesh-Forwarded) sends only the sessions of the partitions
// X-Sessionmesh-Partitions names, and answers its handshake with the
// feed's position in X-Sessionmesh-Cursor.
// Included only by http/ translation units that already use Beast.
// Thread: a watcher lives on its socket's io_context; the registry is
// thread-safe.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <vector>

namespace sessionmesh::http {

class api;
struct server_options;

class watch_registry {
 public:
  // Takes over an upgraded socket (plain or TLS; keep: what the stream
  // needs alive, its TLS context); false (and the socket closed) when the
  // registry is full.
  bool try_start(api& a, boost::asio::ip::tcp::socket sock,
                 boost::beast::http::request<boost::beast::http::string_body> req, const server_options& opts,
                 std::shared_ptr<void> keep = nullptr);
  bool try_start(api& a, boost::asio::ssl::stream<boost::asio::ip::tcp::socket> sock,
                 boost::beast::http::request<boost::beast::http::string_body> req, const server_options& opts,
                 std::shared_ptr<void> keep);
  // Closes every watcher (on their own threads).
  void close_all();
  size_t size() const;
  // Called by a watcher when it ends.
  void remove(const void* w);
  // The TLS context for following other nodes' feeds (null: plain HTTP).
  std::function<std::shared_ptr<boost::asio::ssl::context>()> client_tls;
  // A change's event as every watcher of this server sends it, rendered
  // once: by the first watcher that asks (render fills the string), then
  // shared. Keyed by the change's cursor (unique per store instance), the
  // last 16,384 changes and at most 16 MiB of them kept, the oldest dropped.
  std::shared_ptr<const std::string> rendered(const std::string& cursor,
                                              const std::function<void(std::string&)>& render);

 private:
  static constexpr size_t rendered_max = 16384;
  static constexpr size_t rendered_bytes_max = 16u << 20;
  std::mutex render_mu_;
  std::unordered_map<std::string, std::shared_ptr<const std::string>> rendered_;
  std::deque<std::string> rendered_order_;  // cursors, oldest first
  size_t rendered_bytes_ = 0;
  mutable std::mutex mu_;
  std::vector<std::pair<const void*, std::function<void()>>> live_;  // closers
  template <class Next>
  bool start_any(api& a, Next sock, boost::beast::http::request<boost::beast::http::string_body> req,
                 const server_options& opts, std::shared_ptr<void> keep);
};

}  // namespace sessionmesh::http
