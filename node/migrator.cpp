#include "node/migrator.hpp"

#include "node/open_replicated.hpp"
#include "node/serve_setup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "http/json_render.hpp"
#include "store/file_io.hpp"
#include "store/thread_name.hpp"

namespace sessionmesh::node {

namespace {

bool valid_seed(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size() || s.size() > 300) return false;
  const auto port = s.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
  return std::stoul(std::string(port)) > 0 && std::stoul(std::string(port)) < 65536;
}

std::vector<std::string> split_seeds(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t j = std::min(text.find(',', i), text.size());
    auto part = text.substr(i, j - i);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    i = j + 1;
  }
  return out;
}

// Small files go through the one atomic, fsync'd writer.
bool write_durably(const std::string& path, const std::string& text) {
  return store::write_file_atomic(store::posix_fs(), path, text).has_value();
}

}  // namespace

std::string migrated_marker(const std::string& data_dir) { return data_dir + "/MIGRATED"; }
std::string report_file(const std::string& data_dir) { return data_dir + "/migration-report.json"; }

std::string read_last_report(const std::string& data_dir) {
  std::ifstream f(report_file(data_dir));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (text.empty() || text.size() > (1u << 20) || p.parse(text).get(doc) || !doc.is_object()) return {};
  return text;
}

bool apply_migrated_marker(node_config& cfg) {
  if (cfg.in_memory || cfg.adapter != "local") return false;
  std::ifstream f(migrated_marker(cfg.data_dir));
  if (!f) return false;
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(text).get(doc)) {
    spdlog::error("{} is unreadable; serving the local adapter", migrated_marker(cfg.data_dir));
    return false;
  }
  std::string_view seeds;
  if (cfg.seeds.empty() && !doc["seeds"].get(seeds)) cfg.seeds = split_seeds(seeds);
  cfg.adapter = "replicated";
  cfg.data_dir = cfg.data_dir + "/replicated";
  spdlog::warn(
      "this data dir was migrated online to the replicated adapter: serving it from {} (start with "
      "--adapter replicated --data-dir {} to say so explicitly)",
      cfg.data_dir, cfg.data_dir);
  return true;
}

migrator::migrator(deps d) : d_(std::move(d)) {}

migrator::~migrator() { stop(); }

void migrator::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (auto& c : clusters_) c->stop();
}

migrator::answer migrator::start(std::string_view body) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(body.data(), body.size()).get(doc) || !doc.is_object())
    return {400, "invalid_argument",
            "the body must be a JSON object {\"to\": \"replicated\", \"seeds\": ...}"};
  std::string_view to;
  if (doc["to"].get(to)) return {400, "invalid_argument", "\"to\" is required (\"replicated\")"};
  if (to == "local") return {409, "already_local", "the node already serves the local adapter"};
  if (to != "replicated") return {400, "invalid_argument", "\"to\" must be \"replicated\""};
  std::vector<std::string> seeds;
  simdjson::dom::element sv;
  if (!doc["seeds"].get(sv)) {
    if (sv.is_string()) {
      seeds = split_seeds(sv.get_string().value_unsafe());
    } else if (simdjson::dom::array arr; !sv.get_array().get(arr)) {
      for (auto e : arr) {
        if (!e.is_string()) return {400, "invalid_argument", "\"seeds\" holds host:port strings"};
        seeds.emplace_back(e.get_string().value_unsafe());
      }
    } else if (!sv.is_null()) {
      return {400, "invalid_argument", "\"seeds\" is a \"host:port,host:port\" string or an array of them"};
    }
  }
  if (seeds.size() > 64) return {400, "invalid_argument", "at most 64 seeds"};
  uint64_t join_timeout_ms = 15000;
  if (simdjson::dom::element jt; !doc["join_timeout_ms"].get(jt)) {
    if (jt.get(join_timeout_ms) || join_timeout_ms == 0 || join_timeout_ms > 600000)
      return {400, "invalid_argument", "\"join_timeout_ms\" is 1..600000"};
  }
  for (const auto& s : seeds)
    if (!valid_seed(s)) return {400, "invalid_argument", "bad seed '" + s + "' (host:port)"};
  std::string seeds_text;
  for (const auto& s : seeds) seeds_text += (seeds_text.empty() ? "" : ",") + s;

  std::lock_guard lk(mu_);
  if (running_) return {409, "migration_running", "a migration is running: GET /v1/admin/migrate"};
  if (switched_) return {409, "already_replicated", "the node already switched to the replicated adapter"};
  if (thread_.joinable()) thread_.join();
  running_ = true;
  ran_ = true;
  report_ = migration_report{};
  report_.result = "running";
  report_.phase = "starting";
  t0_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this, seeds = std::move(seeds), seeds_text, join_timeout_ms] {
    store::name_this_thread("sm-migrator");
    run(seeds, seeds_text, join_timeout_ms);
  });
  return {202, "", report_.to_json()};
}

migrator::answer migrator::status() {
  std::lock_guard lk(mu_);
  if (!ran_) {
    if (std::string last = d_.cfg.in_memory ? std::string() : read_last_report(d_.cfg.data_dir);
        !last.empty())
      return {200, "", last};  // from before a restart
    return {404, "not_found", "no migration has run on this node"};
  }
  migration_report r = report_;
  if (running_)
    r.duration_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_)
            .count());
  return {200, "", r.to_json()};
}

void migrator::set_phase(const std::string& p) {
  std::lock_guard lk(mu_);
  report_.phase = p;
  spdlog::info("migration: {}", p);
}

bool migrator::rollback(const std::string& reason) {
  auto& ms = *d_.store;
  ms.set_phase(store::migrating_store::phase::source);  // returns once dual writes in flight finished
  ms.detach_target();
  if (!clusters_.empty()) clusters_.back()->stop();
  if (!targets_.empty()) targets_.back()->close();
  if (!d_.cfg.in_memory) {
    std::error_code ec;
    std::filesystem::remove_all(d_.cfg.data_dir + "/replicated", ec);
  }
  spdlog::error("migration rolled back: {}", reason);
  const uint64_t source_now = d_.store->source().stats().current_sessions;
  std::string json;
  {
    std::lock_guard lk(mu_);
    report_.source_sessions = source_now;
    report_.result = "rolled_back";
    report_.reason = reason;
    report_.phase = "rolled_back";
    report_.duration_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_)
            .count());
    running_ = false;
    json = report_.to_json();
  }
  if (!d_.cfg.in_memory) (void)write_durably(report_file(d_.cfg.data_dir), json + "\n");
  return false;
}

void migrator::run(std::vector<std::string> seeds, std::string seeds_text, uint64_t join_timeout_ms) {
  spdlog::info("migration to the replicated adapter started (seeds: {})",
               seeds_text.empty() ? "none" : seeds_text);
  auto failed_with = [this](const result<void>& r) { return (void)rollback(r.describe()); };
  if (auto r = open_target(seeds); !r) return failed_with(r);
  if (!seeds.empty())
    if (auto r = join(seeds_text, join_timeout_ms); !r) return failed_with(r);
  auto copied = copy_all();
  if (!copied) return failed_with(failed<void>(copied));
  if (auto r = validate(); !r) return failed_with(r);
  if (auto r = switch_over(seeds_text, *copied); !r) return failed_with(r);
}

// 1. The target: a fresh local store and the cluster driver.
result<void> migrator::open_target(const std::vector<std::string>& seeds) {
  const auto& cfg = d_.cfg;
  store_options o = d_.target_options;
  if (!cfg.in_memory) {
    o.data_dir = cfg.data_dir + "/replicated";
    std::error_code ec;
    std::filesystem::remove_all(*o.data_dir, ec);  // a rolled-back attempt's leftovers
    target_dir_ = *o.data_dir;
  }
  cluster_options co = cluster_options_of(cfg, d_.cluster_key);
  co.seeds = seeds;
  auto n = open_replicated(o, std::move(co));
  if (!n) return {n.error(), "cannot open the replicated target: " + n.describe()};
  clusters_.push_back(std::move(n->driver));
  targets_.push_back(std::move(n->store));
  return {};
}

// 2. Join through the seeds.
result<void> migrator::join(const std::string& seeds_text, uint64_t join_timeout_ms) {
  set_phase("joining");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(join_timeout_ms);
  if (clusters_.back()->wait_for_peer(deadline, [this] { return stop_.load(); })) return {};
  if (stop_) return {errc::unavailable, "the node is stopping"};
  return {errc::unavailable, "could not join the cluster through the seeds " + seeds_text + " within " +
                                 std::to_string(join_timeout_ms) + " ms"};
}

// 3. Dual writes, then the background copy of every session.
result<uint64_t> migrator::copy_all() {
  auto& ms = *d_.store;
  ms.attach_target(targets_.back().get(), &targets_.back()->local());
  ms.set_phase(store::migrating_store::phase::dual);  // returns once writes that began before dual finished
  set_phase("copying");
  std::vector<std::string> ids;
  ms.source().for_each_live([&](std::string_view id) { ids.emplace_back(id); });
  uint64_t copied = 0;
  for (const auto& id : ids) {
    if (stop_) return {errc::unavailable, "the node is stopping"};
    auto c = ms.copy(id);
    if (!c) return {c.error(), "copying " + id + " failed: " + c.describe()};
    if (++copied % 1024 == 0) {
      std::lock_guard lk(mu_);
      report_.copied = copied;
    }
  }
  std::lock_guard lk(mu_);
  report_.copied = copied;
  return copied;
}

// 4. Validate: counts, missing ids, a content digest per session.
result<void> migrator::validate() {
  auto& ms = *d_.store;
  auto& source = ms.source();
  auto* local = &targets_.back()->local();
  set_phase("validating");
  migration_report v;
  std::vector<std::string> now_ids;
  source.for_each_live([&](std::string_view id) { now_ids.emplace_back(id); });
  std::set<std::string> in_source(now_ids.begin(), now_ids.end());
  for (const auto& id : now_ids) {
    bool ok = false;
    bool present = false;
    // A write in flight can sit between the two reads: once every call
    // under way has finished (quiesce), look again; a difference that stays
    // through four looks is a failed validation.
    for (int attempt = 0; attempt < 4 && !ok; ++attempt) {
      if (attempt) ms.quiesce();
      auto src = source.peek(id);
      if (!src) {
        ok = true;  // deleted or expired meanwhile (the delete went to both)
        break;
      }
      auto t = local->peek(id);
      present = t.has_value();
      ok = present && content_digest(*src) == content_digest(*t);
    }
    if (!ok && !present)
      v.add_missing(id);
    else if (!ok)
      v.add_mismatched(id);
  }
  local->for_each_live([&](std::string_view id) {
    if (!in_source.count(std::string(id))) v.add_extra(std::string(id));
  });
  {
    v.source_sessions = source.stats().current_sessions;
    v.target_sessions = local->stats().current_sessions;
    std::lock_guard lk(mu_);
    v.copied = report_.copied;
    v.result = report_.result;
    v.phase = report_.phase;
    report_ = v;
  }
  if (v.missing_count || v.mismatched_count)
    return {errc::corrupt_data, "validation failed: " + std::to_string(v.missing_count) + " sessions missing and " +
                                    std::to_string(v.mismatched_count) + " with other content on the target"};
  return {};
}

// 5. Switch: first the marker (a restart from here on serves the target,
//    which holds every write so far), then reads and writes. The report is
//    written first, as it will read once done.
result<void> migrator::switch_over(const std::string& seeds_text, uint64_t copied) {
  const auto& cfg = d_.cfg;
  if (!cfg.in_memory) {
    migration_report done;
    {
      std::lock_guard lk(mu_);
      done = report_;
    }
    done.result = "ok";
    done.phase = "done";
    done.duration_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_)
            .count());
    (void)write_durably(report_file(cfg.data_dir), done.to_json() + "\n");
    std::string marker = "{\"adapter\":\"replicated\",\"data_dir\":";
    http::append_json_string(marker, target_dir_);
    marker += ",\"seeds\":";
    http::append_json_string(marker, seeds_text);
    marker += "}\n";
    if (!write_durably(migrated_marker(cfg.data_dir), marker))
      return {errc::io_error, "cannot write " + migrated_marker(cfg.data_dir)};
  }
  d_.store->set_phase(store::migrating_store::phase::target);
  if (d_.on_switched) d_.on_switched(clusters_.back().get());
  spdlog::info("migration done: {} sessions copied, now serving the replicated adapter from {}", copied,
               cfg.in_memory ? std::string("memory") : target_dir_);
  {
    std::lock_guard lk(mu_);
    report_.result = "ok";
    report_.phase = "done";
    report_.duration_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_)
            .count());
    running_ = false;
    switched_ = true;
  }
  // set_phase(target) returned once no call read the old phase: the
  // source's WAL is flushed and closed; its files stay as a backup.
  d_.store->source().close();
  return {};
}

}  // namespace sessionmesh::node
