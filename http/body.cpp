#include "http/body.hpp"

#include <simdjson.h>

#include <cctype>
#include <charconv>

#include "http/path.hpp"
#include "store/validate.hpp"

namespace sessionmesh::http {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Parses with a depth limit; wrapper objects of create/patch bodies get two
// extra levels so every value may nest json_depth deep.
result<element> parse(simdjson::dom::parser& p, std::string_view body, size_t depth) {
  if (p.max_depth() != depth || p.capacity() < body.size()) {
    if (p.allocate(std::max<size_t>(body.size(), 4096), depth) != simdjson::SUCCESS) {
      return {errc::internal, "out of memory parsing the body"};
    }
  }
  auto doc = p.parse(body.data(), body.size(), true);
  if (doc.error() == simdjson::DEPTH_ERROR) {
    return {errc::invalid_argument, "JSON nested deeper than " + std::to_string(depth) + " levels"};
  }
  if (doc.error() != simdjson::SUCCESS) {
    return {errc::invalid_argument, std::string("malformed JSON: ") + simdjson::error_message(doc.error())};
  }
  return doc.value_unsafe();
}

simdjson::dom::parser& parser() {
  thread_local simdjson::dom::parser p;
  return p;
}

result<void> read_entries(element v, std::string_view field, bool allow_null, const api_settings& s,
                          std::vector<entry_update>& out) {
  if (v.type() != element_type::OBJECT) {
    return {errc::invalid_argument, "'" + std::string(field) + "' must be an object"};
  }
  auto obj = v.get_object().value_unsafe();
  if (obj.size() > 1024 * 64) {
    return {errc::too_large, "'" + std::string(field) + "' has too many entries"};
  }
  for (auto [key, val] : obj) {
    if (val.type() == element_type::NULL_VALUE) {
      if (allow_null) out.push_back({std::string(key), std::nullopt});
      continue;
    }
    std::string json = simdjson::to_string(val);
    if (json.size() > s.value_bytes) {
      return {errc::too_large, std::string(field) + "." + std::string(key) + " is larger than " + std::to_string(s.value_bytes) + " bytes"};
    }
    out.push_back({std::string(key), std::move(json)});
  }
  return {};
}

result<uint32_t> read_ttl(element v) {
  int64_t n = 0;
  if (v.type() == element_type::INT64) n = v.get_int64().value_unsafe();
  else if (v.type() == element_type::UINT64) n = INT64_MAX;
  else {
    return {errc::invalid_argument, "'ttl_s' must be an integer"};
  }
  if (n < 0 || n > 315360000) {
    return {errc::invalid_argument, "'ttl_s' must be between 0 and 315360000 seconds"};
  }
  return static_cast<uint32_t>(n);
}

result<std::string> read_string(element v, std::string_view field) {
  if (v.type() != element_type::STRING) {
    return {errc::invalid_argument, "'" + std::string(field) + "' must be a string"};
  }
  return std::string(v.get_string().value_unsafe());
}

result<simdjson::dom::object> body_object(std::string_view body, const api_settings& s) {
  if (body.empty()) body = "{}";
  auto doc = parse(parser(), body, s.json_depth + 2);
  if (!doc) return failed<simdjson::dom::object>(doc);
  if (doc->type() != element_type::OBJECT) {
    return {errc::invalid_argument, "the body must be a JSON object"};
  }
  return doc->get_object().value_unsafe();
}

}  // namespace

result<create_request> parse_create(std::string_view body, const api_settings& s) {
  auto obj = body_object(body, s);
  if (!obj) return failed<create_request>(obj);
  create_request req;
  for (auto [key, val] : *obj) {
    result<void> ok;
    if (key == "id") {
      auto id = read_string(val, "id");
      if (!id) return failed<create_request>(id);
      if (id->empty()) {
        return {errc::invalid_argument, "'id' must not be empty"};
      }
      req.id = std::move(id).value();
    } else if (key == "ttl_s") {
      if (val.type() == element_type::NULL_VALUE) continue;
      auto t = read_ttl(val);
      if (!t) return failed<create_request>(t);
      req.ttl_s = *t;
    } else if (key == "metadata") {
      ok = read_entries(val, key, false, s, req.metadata);
    } else if (key == "variables") {
      ok = read_entries(val, key, false, s, req.variables);
    } else if (key == "programs") {
      ok = read_entries(val, key, false, s, req.programs);
    } else if (key == "last_worker_id") {
      if (val.type() == element_type::NULL_VALUE) continue;
      auto w = read_string(val, key);
      if (!w) return failed<create_request>(w);
      req.last_worker_id = std::move(w).value();
    }
    if (!ok) return failed<create_request>(ok);
  }
  return req;
}

result<patch_request> parse_patch(std::string_view body, const api_settings& s) {
  auto obj = body_object(body, s);
  if (!obj) return failed<patch_request>(obj);
  patch_request req;
  for (auto [key, val] : *obj) {
    result<void> ok;
    if (key == "ttl_s") {
      auto t = read_ttl(val);
      if (!t) return failed<patch_request>(t);
      req.ttl_s = *t;
    } else if (key == "metadata") {
      ok = read_entries(val, key, true, s, req.metadata);
    } else if (key == "variables") {
      ok = read_entries(val, key, true, s, req.variables);
    } else if (key == "programs") {
      ok = read_entries(val, key, true, s, req.programs);
    } else if (key == "last_worker_id") {
      auto w = read_string(val, key);
      if (!w) return failed<patch_request>(w);
      req.last_worker_id = std::move(w).value();
    }
    if (!ok) return failed<patch_request>(ok);
  }
  return req;
}

result<std::string> parse_worker(std::string_view body, const api_settings& s) {
  auto obj = body_object(body, s);
  if (!obj) return failed<std::string>(obj);
  auto w = (*obj)["worker_id"];
  if (w.error()) {
    return {errc::invalid_argument, "'worker_id' is required"};
  }
  return read_string(w.value_unsafe(), "worker_id");
}

result<std::string> parse_value(std::string_view body, const api_settings& s) {
  if (body.size() > s.value_bytes) {
    return {errc::too_large, "the value is larger than " + std::to_string(s.value_bytes) + " bytes"};
  }
  auto doc = parse(parser(), body, s.json_depth);
  if (!doc) return failed<std::string>(doc);
  return simdjson::to_string(*doc);
}

bool is_json_type(std::string_view ct) {
  std::string_view base = ct.substr(0, ct.find(';'));
  while (!base.empty() && (base.back() == ' ' || base.back() == '\t')) base.remove_suffix(1);
  while (!base.empty() && (base.front() == ' ' || base.front() == '\t')) base.remove_prefix(1);
  if (base.size() != 16) return false;
  for (size_t i = 0; i < 16; ++i)
    if (std::tolower(static_cast<unsigned char>(base[i])) != "application/json"[i]) return false;
  return true;
}

result<list_query> parse_list_query(std::string_view query, size_t max_prefix) {
  bool bad = false;
  list_query q;
  q.prefix = query_param(query, "prefix", &bad).value_or("");
  const auto limit_s = query_param(query, "limit", &bad);
  q.cursor = query_param(query, "cursor", &bad).value_or("");
  if (bad) {
    return {errc::invalid_argument, "bad percent-encoding in the query"};
  }
  if (limit_s) {
    auto r = std::from_chars(limit_s->data(), limit_s->data() + limit_s->size(), q.limit);
    if (r.ec != std::errc{} || r.ptr != limit_s->data() + limit_s->size() || q.limit == 0 || q.limit > 1000) {
      return {errc::invalid_argument, "limit must be an integer from 1 to 1000"};
    }
  }
  if (q.prefix.size() > max_prefix) {
    return {errc::invalid_argument, "prefix longer than an id"};
  }
  return q;
}

result<watch_query> parse_watch_query(std::string_view query, size_t max_prefix) {
  bool bad = false;
  watch_query q;
  q.prefix = query_param(query, "prefix", &bad).value_or("");
  const auto snap = query_param(query, "snapshot", &bad);
  q.cursor = query_param(query, "cursor", &bad);
  if (bad) return {errc::invalid_argument, "bad percent-encoding in the query"};
  if (snap) {
    if (*snap == "true" || *snap == "1") q.snapshot = true;
    else if (*snap != "false" && *snap != "0") return {errc::invalid_argument, "snapshot is true or false"};
  }
  if (q.prefix.size() > max_prefix) return {errc::invalid_argument, "prefix longer than an id"};
  return q;
}

watch_query checked_watch_query(std::string_view target, std::string_view* query) {
  const auto q = target.find('?');
  const std::string_view qs = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  if (query) *query = qs;
  auto wq = parse_watch_query(qs, store::id_bytes_max);
  SM_ASSERT(wq.has_value());
  return std::move(wq).value();
}

}  // namespace sessionmesh::http
