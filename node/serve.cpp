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
#include "http/cluster_views.hpp"
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

namespace sessionmesh::node {
namespace {

class node_runtime {
 public:
  node_runtime(node_config cfg, std::map<std::string, std::string> cli)
      : cfg_(std::move(cfg)), cli_(std::move(cli)) {}

  int run();

 private:
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
  bool drain_started_ = false;                            // guarded by drain_mu_
  bool drained_ = false;                                  // guarded by drain_mu_
  bool drain_confirmed_ = false;                          // guarded by drain_mu_
  std::vector<std::function<void(std::string)>> drain_waiters_;  // guarded by drain_mu_
  // Declared before store_: the migrating store's subscriptions reach into
  // the migrator's targets when store_ is destroyed.
  std::unique_ptr<migrator> migrator_;
  std::unique_ptr<session_store> store_;
  std::unique_ptr<cluster> cluster_;
  // The cluster the node runs: cluster_ (started replicated) or the one an
  // online migration switched to. Read by HTTP threads.
  std::atomic<cluster*> active_{nullptr};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  http::metrics metrics_;
  std::unique_ptr<http::api> api_;
  subscription op_sub_, event_sub_;
};

std::pair<bool, std::string> node_runtime::reload() {
  std::lock_guard lk(reload_mu_);
  auto next = resolve_config(cli_);
  if (!next) {
    spdlog::warn("reload refused: {}", next.describe());
    return {false, next.describe()};
  }
  auto settings = api_settings_of(*next);
  if (!settings) {
    spdlog::warn("reload refused: {}", settings.describe());
    return {false, settings.describe()};
  }
  set_log_level(next->log_level);
  store_->reconfigure(runtime_settings{next->default_ttl_s, next->max_sessions, next->strict_quota,
                                       next->global_program_ttl_s, next->max_global_programs});
  api_->set_settings(*settings);
  const auto restart = restart_needed(cfg_, *next);
  std::string body =
      "{\"status\":\"reloaded\",\"applied\":[\"log-level\",\"default-ttl\",\"max-sessions\","
      "\"strict-quota\",\"global-program-ttl\",\"max-global-programs\",\"api-token-file\",\"admin-token-file\"],\"restart_required\":[";
  for (size_t i = 0; i < restart.size(); ++i) {
    if (i) body += ",";
    http::append_json_string(body, restart[i]);
  }
  body += "]}";
  const auto keep = cfg_;
  cfg_ = *next;
  // Restart-only settings keep their running values.
  cfg_.node_id = keep.node_id;
  cfg_.data_dir = keep.data_dir;
  cfg_.http = keep.http;
  spdlog::info("configuration reloaded{}", restart.empty() ? "" : " (some settings need a restart)");
  return {true, body};
}

void node_runtime::drain(std::function<void(std::string)> done) {
  const bool first = !draining_.exchange(true);
  if (first) spdlog::info("draining: refusing new writes");
  cluster* cl = active_.load();
  if (!cl) {
    // Local adapter: every acknowledged write is already in the WAL.
    return done("{\"status\":\"drained\",\"node_id\":\"" + cfg_.node_id + "\"}");
  }
  bool over = false;
  {
    std::lock_guard lk(drain_mu_);
    over = drained_;
    if (!over) {
      drain_waiters_.push_back(std::move(done));
      if (drain_started_) return;
      drain_started_ = true;
    }
  }
  if (over) return done(drain_body());
  cl->drain(10000, [this](bool confirmed) {
    if (confirmed)
      spdlog::info("drained: a peer has applied every local change; marked left");
    else
      spdlog::warn("drained without confirmation from a peer (none reachable); marked left");
    std::vector<std::function<void(std::string)>> waiters;
    {
      std::lock_guard lk(drain_mu_);
      drained_ = true;
      drain_confirmed_ = confirmed;
      waiters.swap(drain_waiters_);
    }
    const std::string body = drain_body();
    for (auto& w : waiters) w(body);
  });
}

std::string node_runtime::drain_body() const {
  std::lock_guard lk(drain_mu_);
  return std::string("{\"status\":\"left\",\"node_id\":\"") + cfg_.node_id +
         "\",\"confirmed\":" + (drain_confirmed_ ? "true" : "false") + "}";
}

int node_runtime::run() {
  auto settings = api_settings_of(cfg_);
  if (!settings) {
    std::fprintf(stderr, "sessionmesh: %s\n", settings.describe().c_str());
    return 2;
  }
  std::string cluster_key;
  if (!cfg_.cluster_key_file.empty()) {
    auto k = read_token(cfg_.cluster_key_file);
    if (!k) {
      std::fprintf(stderr, "sessionmesh: %s\n", k.describe().c_str());
      return 2;
    }
    cluster_key = *k;
  }
  setup_logging(cfg_.log_format, cfg_.log_level);
  if (cfg_.adapter == "replicated" && cluster_key.empty() && !loopback(cfg_.gossip.host))
    spdlog::warn(
        "cluster transport on {} without --cluster-key-file: anyone who can reach it can join and "
        "inject data",
        cfg_.gossip.str());
  if (!loopback(cfg_.http.host) && settings->api_token.empty())
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
  std::unique_ptr<data_dir_lock> dir_lock;
  const std::string locked_dir = cfg_.data_dir;
  if (!cfg_.in_memory) {
    auto l = data_dir_lock::acquire(cfg_.data_dir);
    if (!l) {
      spdlog::error("{}", l.describe());
      return 1;
    }
    dir_lock = std::move(l).value();
    apply_migrated_marker(cfg_);  // an online migration switched this node to replicated
  }
  auto opts = store_options_of(cfg_);
  opts.telemetry_hub = std::make_shared<telemetry>();
  op_sub_ = opts.telemetry_hub->on_op(
      [this](const op_event& e) { metrics_.record_op(e.op, e.result, e.duration_us); });
  event_sub_ = opts.telemetry_hub->on_event([this](const named_event& e) { metrics_.warning(e.name); });
  if (cfg_.adapter == "replicated") {
    cluster_options co = cluster_options_of(cfg_, cluster_key);
    // A stale dir moves aside with its lock: lock the fresh one.
    auto relock = [&] {
      if (cfg_.data_dir != locked_dir) return true;
      dir_lock.reset();
      auto l = data_dir_lock::acquire(cfg_.data_dir);
      if (!l) {
        spdlog::error("{}", l.describe());
        return false;
      }
      dir_lock = std::move(l).value();
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

  http::node_hooks hooks;
  hooks.ready = [this] {
    if (!ready_) return false;
    if (!cluster_ || cfg_.seeds.empty()) return true;
    // Replicated: joined (an alive peer answered), or alone for 10 s (the first node).
    return cluster_->alive_peers() > 0 ||
           std::chrono::steady_clock::now() - started_ > std::chrono::seconds(10);
  };
  // Cluster hooks follow active_ (a local node may switch online); empty
  // answers mean "single node" to the api.
  hooks.cluster_body = [this] {
    auto* c = active_.load();
    return c ? http::cluster_json(c->snapshot(), c->owned_counts(), c->merkle_root()) : std::string();
  };
  hooks.health_cluster = [this] {
    auto* c = active_.load();
    return c ? http::cluster_health_json(c->snapshot(), c->now_ms()) : std::string();
  };
  hooks.metrics_extra = [this] {
    auto* c = active_.load();
    return c ? c->metrics_text() : std::string();
  };
  hooks.owner_http = [this](std::string_view id) -> std::optional<std::string> {
    auto* c = active_.load();
    return c ? c->owner_http(id) : std::nullopt;
  };
  hooks.cluster_alerts = [this] {
    auto* c = active_.load();
    return c ? c->alerts() : std::vector<std::string>{};
  };
  if (migrator_) {
    hooks.migrate_start = [this](std::string_view body) {
      auto a = migrator_->start(body);
      return http::node_hooks::migrate_answer{a.status, a.code, a.body};
    };
    hooks.migrate_status = [this] {
      auto a = migrator_->status();
      return http::node_hooks::migrate_answer{a.status, a.code, a.body};
    };
  } else {
    hooks.migrate_start = [](std::string_view) {
      return http::node_hooks::migrate_answer{409, "already_replicated",
                                              "the node serves the replicated adapter"};
    };
    hooks.migrate_status = [dir = locked_dir, mem = cfg_.in_memory] {
      // A node that switched online and restarted: the report it kept.
      if (std::string last = mem ? std::string() : read_last_report(dir); !last.empty())
        return http::node_hooks::migrate_answer{200, "", last};
      return http::node_hooks::migrate_answer{404, "not_found", "no migration has run on this node"};
    };
  }
  if (active_.load()) {
    if (cfg_.test_faults) {
      spdlog::warn("--test-faults: POST /v1/admin/faults can cut this node off its peers (testing only)");
      hooks.faults = [this](std::string_view body) {
        std::set<std::string> nodes;
        simdjson::dom::parser p;
        auto doc = p.parse(body.data(), body.size());
        if (!doc.error()) {
          auto arr = doc["block"].get_array();
          if (!arr.error())
            for (auto v : arr.value_unsafe())
              if (v.is_string()) nodes.insert(std::string(v.get_string().value_unsafe()));
        }
        cluster_->set_blocked(nodes);
        return std::string("{\"blocked\":") + std::to_string(nodes.size()) + "}";
      };
    }
  }
  hooks.draining = [this] { return draining_.load(); };
  hooks.drain = [this](std::function<void(std::string)> done) { drain(std::move(done)); };
  hooks.reload = [this] { return reload(); };
  api_ = std::make_unique<http::api>(*store_, metrics_, hooks, *settings);
  api_->http_addr = cfg_.http.str();
  api_->on_alert = [](std::string_view alert, bool raised) {
    if (raised)
      spdlog::warn("alert raised: {}", alert);
    else
      spdlog::info("alert cleared: {}", alert);
  };
  const bool json = cfg_.log_format == "json";
  api_->on_request = [json](const http::request_view& rq, const http::response& rs, uint64_t us) {
    const auto level = rs.status >= 500 ? spdlog::level::warn : spdlog::level::debug;
    if (!spdlog::should_log(level)) return;
    const auto path = rq.target.substr(0, rq.target.find('?'));
    if (json) {
      std::string line = "{\"request_id\":";
      http::append_json_string(line, rs.request_id);
      line += ",\"method\":";
      http::append_json_string(line, rq.method);
      line += ",\"path\":";
      http::append_json_string(line, path);
      line += ",\"status\":" + std::to_string(rs.status) + ",\"duration_us\":" + std::to_string(us) + "}";
      spdlog::log(level, "{}", line);
    } else {
      spdlog::log(level, "request_id={} {} {} {} {}us", rs.request_id, rq.method, path, rs.status, us);
    }
  };

  http::server_options so;
  so.host = cfg_.http.host;
  so.port = cfg_.http.port;
  so.threads = cfg_.http_threads;
  http::server srv(*api_, so);
  if (auto r = srv.start(); !r) {
    spdlog::error("{}", r.describe());
    store_->close();
    return 1;
  }
  ready_ = true;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("node {} ready on http://{}: adapter {}, {} in {} ms, {} sessions", cfg_.node_id,
               cfg_.http.str(), cfg_.adapter,
               cfg_.in_memory ? std::string("in memory") : "data dir " + cfg_.data_dir, ms,
               store_->stats().current_sessions);
  if (cluster_)
    spdlog::info("gossip on {} (advertised {}), seeds: {}", cfg_.gossip.str(), cfg_.advertise.str(),
                 cfg_.seeds.size());

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
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int serve(const node_config& cfg, const std::map<std::string, std::string>& cli) {
  node_runtime rt(cfg, cli);
  return rt.run();
}

}  // namespace sessionmesh::node
