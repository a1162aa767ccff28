#include "node/migrate_offline.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <simdjson.h>

#include "http/json_render.hpp"
#include "node/data_dir_lock.hpp"
#include "node/http_client.hpp"
#include "node/migration_report.hpp"
#include "store/file_io.hpp"
#include "store/local_store.hpp"

namespace sessionmesh::node {
namespace {

int usage(const std::string& why) {
  std::fprintf(stderr, "sessionmesh: migrate: %s\n", why.c_str());
  return 2;
}

bool has_store_files(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("wal-", 0) == 0 || n.rfind("snap-", 0) == 0) return true;
  }
  return false;
}

std::string create_body(const session& s) {
  std::string o = "{\"id\":";
  http::append_json_string(o, s.id());
  o += ",\"ttl_s\":" + std::to_string(s.ttl_s());
  for (auto [sec, name] :
       {std::pair{section::metadata, "metadata"}, std::pair{section::variables, "variables"},
        std::pair{section::programs, "programs"}}) {
    o += ",\"";
    o += name;
    o += "\":{";
    bool first = true;
    s.for_each(sec, [&](std::string_view k, std::string_view v) {
      if (!first) o += ",";
      first = false;
      http::append_json_string(o, k);
      o += ":";
      o += v;
    });
    o += "}";
  }
  o += "}";
  return o;
}

// Percent-encoding is not needed: ids are [A-Za-z0-9._:@-].
std::string session_path(std::string_view id) { return "/v1/sessions/" + std::string(id); }

result<void> write_report(const std::string& path, const std::string& json) {
  if (auto r = store::write_file_atomic(store::posix_fs(), path, json + "\n"); !r)
    return {r.error(), "cannot write the report to " + path + ": " + r.error().message()};
  return {};
}

// The copy and its check, over the target's REST API. A network failure
// ends the run (the result's detail); a refusal is counted and the first
// one kept for the report.
struct offline_copy {
  store::local_store& source;
  http_client& client;
  migration_report& rep;
  std::string first_refusal;
  size_t programs_refused = 0;

  void refused(const std::string& what, const http_reply& r) {
    if (first_refusal.empty())
      first_refusal = what + ": the target answered " + std::to_string(r.status) + " " + r.body.substr(0, 200);
  }

  result<void> sessions(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      auto s = source.peek(id);
      if (!s) continue;  // expired since the listing
      auto r = client.call("POST", "/v1/sessions", create_body(*s));
      if (!r) return failed<void>(r);
      if (r->status == 201) {
        ++rep.copied;
      } else if (r->status != 200) {
        refused(id, *r);
        continue;
      }
      if (r->status == 201 && !s->last_worker_id().empty()) {
        std::string body = "{\"worker_id\":";
        http::append_json_string(body, s->last_worker_id());
        body += "}";
        auto w = client.call("PUT", session_path(id) + "/worker", body);
        if (!w) return failed<void>(w);
      }
    }
    return {};
  }

  // Global programs: put as they are (the target's ttl restarts at import).
  result<void> global_programs(const std::vector<std::string>& programs) {
    for (const auto& pid : programs) {
      auto g = source.get_global_program(pid);
      if (!g) continue;  // expired since the listing
      auto r = client.call("PUT", "/v1/programs/" + pid, g->value);
      if (!r) return failed<void>(r);
      if (r->status != 200) {
        ++programs_refused;
        refused("global program " + pid, *r);
      }
    }
    return {};
  }

  // Every source session is on the target with the same content.
  result<void> validate(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      auto s = source.peek(id);
      if (!s) continue;
      auto r = client.call("GET", session_path(id), {});
      if (!r) return failed<void>(r);
      if (r->status == 404) {
        rep.add_missing(id);
        continue;
      }
      uint64_t d = 0;
      if (r->status != 200 || !content_digest(r->body, &d) || d != content_digest(*s)) rep.add_mismatched(id);
    }
    return {};
  }
};

}  // namespace

int migrate_offline(const offline_migration& m) {
  const auto t0 = std::chrono::steady_clock::now();
  if (m.from.empty()) return usage("--from DATA_DIR is required");
  if (m.to.empty()) return usage("--to URL is required");
  auto parsed = parse_http_url(m.to);
  if (!parsed) return usage(parsed.describe());
  const http_url url = *parsed;
  std::error_code ec;
  if (!std::filesystem::is_directory(m.from, ec)) return usage("no such data dir: " + m.from);
  if (!has_store_files(m.from))
    return usage(m.from + " holds no sessionmesh data (no wal-* or snap-* files)");
  std::string token;
  if (!m.api_token_file.empty()) {
    std::ifstream f(m.api_token_file);
    if (!f || !std::getline(f, token) || token.empty())
      return usage("cannot read a token from " + m.api_token_file);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  auto lock = data_dir_lock::acquire(m.from);
  if (!lock) return usage(lock.describe() + " (stop the node first)");

  store_options o;
  o.node_id = "migrate";
  o.data_dir = m.from;
  o.background_threads = false;
  o.reaper_interval_ms = 0;
  o.max_sessions = UINT64_MAX / 2;
  auto st = store::local_store::open(o, store::posix_fs());
  if (!st) return usage("cannot open " + m.from + ": " + st.describe());
  auto& source = **st;

  std::vector<std::string> ids, programs;
  source.for_each_live([&](std::string_view id) {
    if (store::local_store::is_global_record(id)) programs.emplace_back(id.substr(4));
    else ids.emplace_back(id);
  });
  migration_report rep;
  rep.source_sessions = ids.size();
  http_client client(url, token);

  auto finish = [&](std::string result, std::string reason) {
    rep.result = std::move(result);
    rep.reason = std::move(reason);
    if (auto r = client.call("GET", "/v1/stats", {}); r && r->status == 200) {
      simdjson::dom::parser p;
      uint64_t n = 0;
      if (!p.parse(r->body)["current_sessions"].get(n)) rep.target_sessions = n;
    }
    rep.duration_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    const std::string json = rep.to_json();
    if (auto w = m.report.empty() ? sessionmesh::result<void>{} : write_report(m.report, json); !w) {
      std::fprintf(stderr, "sessionmesh: migrate: %s\n", w.describe().c_str());
      source.close();
      return 1;
    }
    std::printf("%s\n", json.c_str());
    source.close();
    return rep.result == "ok" ? 0 : 1;
  };

  offline_copy run{source, client, rep};
  if (auto r = run.sessions(ids); !r) return finish("failed", r.describe());
  if (auto r = run.global_programs(programs); !r) return finish("failed", r.describe());
  if (auto r = run.validate(ids); !r) return finish("failed", r.describe());
  const std::string& first_refusal = run.first_refusal;
  const size_t programs_refused = run.programs_refused;
  if (programs_refused && !rep.missing_count && !rep.mismatched_count)
    return finish("failed", std::to_string(programs_refused) + " global programs refused by the target; first: " +
                                first_refusal);
  if (rep.missing_count || rep.mismatched_count) {
    std::string reason = std::to_string(rep.missing_count) + " sessions missing and " +
                         std::to_string(rep.mismatched_count) + " with other content on the target";
    if (!first_refusal.empty())
      reason += "; first refusal: " + first_refusal;
    else if (rep.mismatched_count)
      reason += " (a session that already existed there is left as it was)";
    return finish("failed", reason);
  }
  return finish("ok", "");
}

}  // namespace sessionmesh::node
