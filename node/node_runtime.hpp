// node_runtime: one `sessionmesh serve` process — its configuration, the
// data dir lock, the store (local with an online migrator, or replicated
// with its cluster shell), the HTTP API and its hooks, reload, drain and
// shutdown. Private to node/ (serve.cpp, serve_hooks.cpp).
// Thread: run() on the main thread; hooks on HTTP threads.
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "http/api.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "node/cluster.hpp"
#include "node/config.hpp"
#include "node/data_dir_lock.hpp"
#include "node/migrator.hpp"

namespace sessionmesh::node {

class node_runtime {
 public:
  node_runtime(node_config cfg, std::map<std::string, std::string> cli)
      : cfg_(std::move(cfg)), cli_(std::move(cli)) {}

  int run();

 private:
  // run(), in order: tokens and key (2 on a bad one); lock the data dir and
  // open the store (1 on failure); the API with its hooks; serve until a
  // signal; drain and stop.
  int read_secrets(http::api_settings& settings, std::string& cluster_key);
  int open_store(const std::string& cluster_key);
  http::node_hooks make_hooks();
  void make_api(const http::api_settings& settings);
  void wait_for_stop(const sigset_t& set);
  // Drains, stops and closes; the exit code: 0, or 3 when the drain left
  // changes that no peer confirmed.
  int shutdown(http::server& srv);
  // Prometheus text of the node itself: quota, disk space of the data dir.
  std::string node_metrics_text() const;
  // Space on the data dir's file system (bytes free to this node, size);
  // nullopt in memory or when it cannot be read. Metrics and alerts read it.
  struct disk_space {
    uint64_t free = 0, size = 0;
  };
  std::optional<disk_space> data_dir_space() const;
  std::pair<bool, std::string> reload();
  // Starts the drain once; done(body) runs when it is over (at once if it
  // is). Never waits: the peer's confirmation completes it.
  void drain(std::function<void(std::string)> done);
  std::string drain_body() const;

  node_config cfg_;
  std::map<std::string, std::string> cli_;
  std::mutex reload_mu_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  mutable std::mutex drain_mu_;
  bool drain_started_ = false;                                   // guarded by drain_mu_
  bool drained_ = false;                                         // guarded by drain_mu_
  bool drain_confirmed_ = false;                                 // guarded by drain_mu_
  std::shared_ptr<telemetry> hub_;  // the store's telemetry: alerts are emitted there too
  uint64_t drain_unconfirmed_ = 0;  // changes no peer confirmed; guarded by drain_mu_
  std::vector<std::function<void(std::string)>> drain_waiters_;  // guarded by drain_mu_
  // Held while the node runs; released last (declared first).
  std::unique_ptr<data_dir_lock> dir_lock_;
  std::string locked_dir_;
  // Declared before store_: the migrating store's subscriptions reach into
  // the migrator's targets when store_ is destroyed.
  std::unique_ptr<migrator> migrator_;
  std::unique_ptr<session_store> store_;
  std::unique_ptr<cluster> cluster_;
  http::server* server_ = nullptr;  // while serve() runs: reload re-reads its TLS files
  // The cluster the node runs: cluster_ (started replicated) or the one an
  // online migration switched to. Read by HTTP threads.
  std::atomic<cluster*> active_{nullptr};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  http::metrics metrics_;
  std::unique_ptr<http::api> api_;
  subscription op_sub_, event_sub_;
};

}  // namespace sessionmesh::node
