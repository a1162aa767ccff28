#include "node/serve.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>

#include "node/logging.hpp"
#include "sessionmesh/sessionmesh.hpp"

namespace sessionmesh::node {
namespace {

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

bool readable_token(const std::string& path, std::string* why) {
  if (path.empty()) return true;
  std::ifstream f(path);
  std::string tok;
  if (!f || !std::getline(f, tok) || tok.empty()) {
    *why = "cannot read a token from " + path;
    return false;
  }
  return true;
}

store_options store_options_of(const node_config& cfg) {
  store_options o;
  o.node_id = cfg.node_id;
  if (!cfg.in_memory) o.data_dir = cfg.data_dir;
  o.fsync = cfg.fsync;
  o.default_ttl_s = cfg.default_ttl_s;
  o.max_sessions = cfg.max_sessions;
  o.strict_quota = cfg.strict_quota;
  o.reaper_interval_ms = cfg.reaper_interval_s * 1000;
  o.max_clock_offset_ms = cfg.max_clock_offset_ms;
  o.on_warning = [](std::string_view name, std::string_view msg) {
    spdlog::warn("{}: {}", name, msg);
  };
  return o;
}

}  // namespace

int serve(const node_config& cfg) {
  setup_logging(cfg.log_format, cfg.log_level);
  std::string why;
  for (const auto* p : {&cfg.api_token_file, &cfg.admin_token_file, &cfg.cluster_key_file}) {
    if (!readable_token(*p, &why)) {
      std::fprintf(stderr, "sessionmesh: %s\n", why.c_str());
      return 2;
    }
  }
  if (cfg.adapter == "replicated") {
    std::fprintf(stderr, "sessionmesh: --adapter replicated is not available in this build yet\n");
    return 2;
  }
  if (!loopback(cfg.http.host) && cfg.api_token_file.empty())
    spdlog::warn("serving {} on a non-loopback address without --api-token-file: anyone who can reach it "
                 "can read and change every session",
                 cfg.http.str());

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts

  const auto t0 = std::chrono::steady_clock::now();
  auto st = open_store(store_options_of(cfg), &why);
  if (!st) {
    spdlog::error("cannot open the store: {}", why.empty() ? st.error().message() : why);
    return 1;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("node {} ready: adapter local, {} in {} ms, {} sessions", cfg.node_id,
               cfg.in_memory ? std::string("in memory") : "data dir " + cfg.data_dir, ms,
               (*st)->stats().current_sessions);

  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading configuration");
      continue;
    }
    spdlog::info("signal {}: draining", sig);
    break;
  }
  (*st)->close();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace sessionmesh::node
