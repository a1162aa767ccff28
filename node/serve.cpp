// serve: the `sessionmesh serve` process (node_runtime.hpp): start, serve
// until a signal, drain, stop. Hooks, reload and drain: serve_hooks.cpp.
#include "node/serve.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <simdjson.h>
#include "http/api.hpp"
#include "http/json_render.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "node/cluster.hpp"
#include "node/data_dir_lock.hpp"
#include "node/logging.hpp"
#include "node/migrator.hpp"
#include "node/open_replicated.hpp"
#include "node/serve_setup.hpp"
#include "sessionmesh/sessionmesh.hpp"
#include "store/instrumented_store.hpp"
#include "store/migrating_store.hpp"
#include "store/replicated_store.hpp"

#include "node/node_runtime.hpp"

namespace sessionmesh::node {

int node_runtime::run() {
  http::api_settings settings;
  std::string cluster_key;
  if (int rc = read_secrets(settings, cluster_key)) return rc;
  setup_logging(cfg_.log_format, cfg_.log_level, cfg_.node_id);
  if (cfg_.adapter == "replicated" && cluster_key.empty() && !loopback(cfg_.gossip.host))
    spdlog::warn(
        "cluster transport on {} without --cluster-key-file: anyone who can reach it can join and "
        "inject data",
        cfg_.gossip.str());
  if (!loopback(cfg_.http.host) && settings.api_token.empty())
    spdlog::warn(
        "serving {} on a non-loopback address without --api-token-file: anyone who can reach it "
        "can read and change every session",
        cfg_.http.str());

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts
  signal(SIGPIPE, SIG_IGN);

  const auto t0 = std::chrono::steady_clock::now();
  if (int rc = open_store(cluster_key)) return rc;
  make_api(settings);
  http::server_options so;
  so.host = cfg_.http.host;
  so.port = cfg_.http.port;
  so.threads = cfg_.http_threads;
  so.max_connections = static_cast<size_t>(cfg_.max_connections);
  so.max_connections_per_address = static_cast<size_t>(cfg_.max_connections_per_address);
  so.tls = cfg_.tls;
  http::server srv(*api_, so);
  if (auto r = srv.start(); !r) {
    spdlog::error("{}", r.describe());
    store_->close();
    return 1;
  }
  {
    std::lock_guard lk(reload_mu_);
    server_ = &srv;
  }
  ready_ = true;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("node {} ready on {}://{}: adapter {}, {} in {} ms, {} sessions", cfg_.node_id,
               cfg_.tls.enabled() ? "https" : "http", cfg_.http.str(), cfg_.adapter,
               cfg_.in_memory ? std::string("in memory") : "data dir " + cfg_.data_dir, ms,
               store_->stats().current_sessions);
  if (cluster_)
    spdlog::info("gossip on {} (advertised {}), seeds: {}", cfg_.gossip.str(), cfg_.advertise.str(),
                 cfg_.seeds.size());

  wait_for_stop(set);
  return shutdown(srv);
}

int node_runtime::read_secrets(http::api_settings& settings, std::string& cluster_key) {
  auto settings_r = api_settings_of(cfg_);
  if (!settings_r) {
    std::fprintf(stderr, "sessionmesh: %s\n", settings_r.describe().c_str());
    return 2;
  }
  settings = std::move(settings_r).value();
  if (auto t = http::server::check_tls_files(cfg_.tls); !t) {
    std::fprintf(stderr, "sessionmesh: %s\n", t.describe().c_str());
    return 2;
  }
  if (!cfg_.cluster_key_file.empty()) {
    auto k = read_token(cfg_.cluster_key_file);
    if (!k) {
      std::fprintf(stderr, "sessionmesh: %s\n", k.describe().c_str());
      return 2;
    }
    cluster_key = *k;
  }
  return 0;
}

int node_runtime::open_store(const std::string& cluster_key) {
  locked_dir_ = cfg_.data_dir;
  if (!cfg_.in_memory) {
    auto l = data_dir_lock::acquire(cfg_.data_dir);
    if (!l) {
      spdlog::error("{}", l.describe());
      return 1;
    }
    dir_lock_ = std::move(l).value();
    apply_migrated_marker(cfg_);  // an online migration switched this node to replicated
  }
  auto opts = store_options_of(cfg_);
  opts.telemetry_hub = std::make_shared<telemetry>();
  hub_ = opts.telemetry_hub;
  op_sub_ = opts.telemetry_hub->on_op(
      [this](const op_event& e) { metrics_.record_op(e.op, e.result, e.duration_us); });
  event_sub_ = opts.telemetry_hub->on_event([this](const named_event& e) { metrics_.warning(e.name); });
  if (cfg_.adapter == "replicated") {
    cluster_options co = cluster_options_of(cfg_, cluster_key);
    // A stale dir moves aside with its lock: lock the fresh one.
    auto relock = [&] {
      if (cfg_.data_dir != locked_dir_) return true;
      dir_lock_.reset();
      auto l = data_dir_lock::acquire(cfg_.data_dir);
      if (!l) {
        spdlog::error("{}", l.describe());
        return false;
      }
      dir_lock_ = std::move(l).value();
      return true;
    };
    auto n = open_replicated(opts, std::move(co), relock);
    if (!n) {
      spdlog::error("cannot open the replicated store: {}", n.describe());
      return 1;
    }
    cluster_ = std::move(n->driver);
    store_ = std::make_unique<store::instrumented_store>(std::move(n->store), opts.telemetry_hub);
    active_ = cluster_.get();
  } else {
    auto ls = store::local_store::open(opts, store::posix_fs());
    if (!ls) {
      spdlog::error("cannot open the store: {}", ls.describe());
      return 1;
    }
    auto ms = std::make_unique<store::migrating_store>(std::move(ls).value());
    migrator::deps d;
    d.cfg = cfg_;
    d.cluster_key = cluster_key;
    d.target_options = opts;
    d.store = ms.get();
    d.on_switched = [this](cluster* c) { active_ = c; };
    migrator_ = std::make_unique<migrator>(std::move(d));
    store_ = std::make_unique<store::instrumented_store>(std::move(ms), opts.telemetry_hub);
  }

  return 0;
}

void node_runtime::wait_for_stop(const sigset_t& set) {
  for (;;) {
    // The alert monitor ticks every second (an alert is logged when raised
    // and when cleared, whether or not anyone reads /health/sessions).
    timespec ts{1, 0};
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig < 0) {
      (void)api_->evaluate_alerts();
      continue;
    }
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading configuration");
      (void)reload();
      continue;
    }
    spdlog::info("signal {}: draining", sig);
    break;
  }
}

int node_runtime::shutdown(http::server& srv) {
  {
    std::lock_guard lk(reload_mu_);
    server_ = nullptr;
  }
  {
    // The main thread may wait: it serves no request.
    std::promise<void> drained;
    drain([&drained](std::string) { drained.set_value(); });
    drained.get_future().wait();
  }
  // Requests being handled finish before the server's threads join; answers
  // still waiting for a disk or a peer get stop_pending_ms.
  srv.stop();
  if (cluster_) cluster_->stop();
  if (migrator_) migrator_->stop();
  store_->close();
  uint64_t unconfirmed = 0;
  {
    std::lock_guard lk(drain_mu_);
    unconfirmed = drain_unconfirmed_;
  }
  if (unconfirmed > 0) {
    spdlog::error("stopped; {} changes were not handed to a peer (exit code 3)", unconfirmed);
    return 3;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

int serve(const node_config& cfg, const std::map<std::string, std::string>& cli) {
  node_runtime rt(cfg, cli);
  return rt.run();
}

}  // namespace sessionmesh::node
