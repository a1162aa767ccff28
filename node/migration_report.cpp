#include "node/migration_report.hpp"

#include <simdjson.h>
#include <xxhash.h>

#include "http/json_render.hpp"

namespace sessionmesh::node {

namespace {
void add(std::vector<std::string>& v, uint64_t& count, std::string id) {
  ++count;
  if (v.size() < migration_report::max_listed) v.push_back(std::move(id));
}
void append_ids(std::string& o, const std::vector<std::string>& ids) {
  o += "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) o += ",";
    http::append_json_string(o, ids[i]);
  }
  o += "]";
}
}  // namespace

void migration_report::add_missing(std::string id) { add(missing, missing_count, std::move(id)); }
void migration_report::add_mismatched(std::string id) { add(mismatched, mismatched_count, std::move(id)); }
void migration_report::add_extra(std::string id) { add(extra, extra_count, std::move(id)); }

std::string migration_report::to_json() const {
  std::string o = "{\"result\":";
  http::append_json_string(o, result);
  o += ",\"source_sessions\":" + std::to_string(source_sessions) +
       ",\"target_sessions\":" + std::to_string(target_sessions) + ",\"copied\":" + std::to_string(copied) +
       ",\"missing\":";
  append_ids(o, missing);
  o += ",\"mismatched\":";
  append_ids(o, mismatched);
  o += ",\"extra\":";
  append_ids(o, extra);
  o += ",\"missing_count\":" + std::to_string(missing_count) +
       ",\"mismatched_count\":" + std::to_string(mismatched_count) +
       ",\"extra_count\":" + std::to_string(extra_count) + ",\"duration_ms\":" + std::to_string(duration_ms) +
       ",\"reason\":";
  if (reason.empty())
    o += "null";
  else
    http::append_json_string(o, reason);
  if (!phase.empty()) {
    o += ",\"phase\":";
    http::append_json_string(o, phase);
  }
  o += "}";
  return o;
}

bool content_digest(std::string_view session_json, uint64_t* out) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(session_json.data(), session_json.size()).get(doc) || !doc.is_object()) return false;
  std::string canon;
  for (const char* field : {"ttl_s", "last_worker_id", "metadata", "variables", "programs"}) {
    simdjson::dom::element v;
    canon += field;
    canon += '=';
    if (!doc[field].get(v)) canon += simdjson::minify(v);
    canon += '\n';
  }
  *out = XXH3_64bits(canon.data(), canon.size());
  return true;
}

uint64_t content_digest(const session& s) {
  std::string body;
  http::render_session(body, s, "");
  uint64_t d = 0;
  (void)content_digest(body, &d);
  return d;
}

}  // namespace sessionmesh::node
