// The change feed of the whole cluster under placement (API.md section 4,
// "Under placement"). A node holds only its partitions, so a watcher's node
// follows each partition on one node, its serving replica (the first alive
// one known to hold it whole: node/cluster.hpp): it opens
// that node's own feed (a WebSocket, marked X-Sessionmesh-Forwarded, with
// X-Sessionmesh-Partitions naming the partitions it follows there; this
// node included, over loopback), and relays their events to the watcher in
// the order they arrive, each partition's in the order its node applied
// them.
//
// The cursor names every followed node's own cursor and the placement it
// was taken under (cluster_cursor.hpp). It resumes, on any node, while the
// placement is the same; otherwise the watcher gets `reset` and a snapshot.
// A placement change while watching (a join, a leave, a death) closes the
// watcher with 4009 "placement changed", and a followed node that cannot
// be reached or goes away closes it with 1013: in both cases the client
// reconnects with its last cursor.
//
// The watcher's handshake is answered only once every followed node's feed
// has answered its own, so a write made after the handshake is in the feed.
// Thread: everything runs on the watcher's socket's executor.
// Included only by http/ translation units that already use Beast.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <memory>

#include "http/api.hpp"

namespace sessionmesh::http {

class watch_registry;
struct server_options;

// A cluster-wide watcher made on an upgraded socket, not started yet: id
// (what it passes to watch_registry::remove when it ends), close (posts the
// close to its executor; safe after it ended), start (once).
struct cluster_watch_handle {
  const void* id = nullptr;
  std::function<void()> close;
  std::function<void()> start;
};

// tls: the client context for the followed nodes (null: plain). src: the
// sources this node sees now (not empty).
template <class Next>
cluster_watch_handle make_cluster_watch(api& a, Next sock,
                                          boost::beast::http::request<boost::beast::http::string_body> req,
                                          const server_options& opts, watch_registry& reg,
                                          std::shared_ptr<void> keep,
                                          std::shared_ptr<boost::asio::ssl::context> tls, placement_sources src);

}  // namespace sessionmesh::http
