#include "http/body.hpp"

#include <simdjson.h>

#include <cctype>
#include <charconv>

#include "http/path.hpp"

namespace sessionmesh::http {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Parses with a depth limit; wrapper objects of create/patch bodies get two
// extra levels so every value may nest json_depth deep.
result<element> parse(simdjson::dom::parser& p, std::string_view body, size_t depth, std::string* why) {
  if (p.max_depth() != depth || p.capacity() < body.size()) {
    if (p.allocate(std::max<size_t>(body.size(), 4096), depth) != simdjson::SUCCESS) {
      *why = "out of memory parsing the body";
      return errc::internal;
    }
  }
  auto doc = p.parse(body.data(), body.size(), true);
  if (doc.error() == simdjson::DEPTH_ERROR) {
    *why = "JSON nested deeper than " + std::to_string(depth) + " levels";
    return errc::invalid_argument;
  }
  if (doc.error() != simdjson::SUCCESS) {
    *why = std::string("malformed JSON: ") + simdjson::error_message(doc.error());
    return errc::invalid_argument;
  }
  return doc.value_unsafe();
}

simdjson::dom::parser& parser() {
  thread_local simdjson::dom::parser p;
  return p;
}

result<void> read_entries(element v, std::string_view field, bool allow_null, const api_settings& s,
                          std::vector<entry_update>& out, std::string* why) {
  if (v.type() != element_type::OBJECT) {
    *why = "'" + std::string(field) + "' must be an object";
    return errc::invalid_argument;
  }
  auto obj = v.get_object().value_unsafe();
  if (obj.size() > 1024 * 64) {
    *why = "'" + std::string(field) + "' has too many entries";
    return errc::too_large;
  }
  for (auto [key, val] : obj) {
    if (val.type() == element_type::NULL_VALUE) {
      if (allow_null) out.push_back({std::string(key), std::nullopt});
      continue;
    }
    std::string json = simdjson::to_string(val);
    if (json.size() > s.value_bytes) {
      *why = std::string(field) + "." + std::string(key) + " is larger than " + std::to_string(s.value_bytes) +
             " bytes";
      return errc::too_large;
    }
    out.push_back({std::string(key), std::move(json)});
  }
  return {};
}

result<uint32_t> read_ttl(element v, std::string* why) {
  int64_t n = 0;
  if (v.type() == element_type::INT64) n = v.get_int64().value_unsafe();
  else if (v.type() == element_type::UINT64) n = INT64_MAX;
  else {
    *why = "'ttl_s' must be an integer";
    return errc::invalid_argument;
  }
  if (n < 0 || n > 315360000) {
    *why = "'ttl_s' must be between 0 and 315360000 seconds";
    return errc::invalid_argument;
  }
  return static_cast<uint32_t>(n);
}

result<std::string> read_string(element v, std::string_view field, std::string* why) {
  if (v.type() != element_type::STRING) {
    *why = "'" + std::string(field) + "' must be a string";
    return errc::invalid_argument;
  }
  return std::string(v.get_string().value_unsafe());
}

result<simdjson::dom::object> body_object(std::string_view body, const api_settings& s, std::string* why) {
  if (body.empty()) body = "{}";
  auto doc = parse(parser(), body, s.json_depth + 2, why);
  if (!doc) return doc.error();
  if (doc->type() != element_type::OBJECT) {
    *why = "the body must be a JSON object";
    return errc::invalid_argument;
  }
  return doc->get_object().value_unsafe();
}

}  // namespace

result<create_request> parse_create(std::string_view body, const api_settings& s, std::string* why) {
  auto obj = body_object(body, s, why);
  if (!obj) return obj.error();
  create_request req;
  for (auto [key, val] : *obj) {
    result<void> ok;
    if (key == "id") {
      auto id = read_string(val, "id", why);
      if (!id) return id.error();
      if (id->empty()) {
        *why = "'id' must not be empty";
        return errc::invalid_argument;
      }
      req.id = std::move(id).value();
    } else if (key == "ttl_s") {
      if (val.type() == element_type::NULL_VALUE) continue;
      auto t = read_ttl(val, why);
      if (!t) return t.error();
      req.ttl_s = *t;
    } else if (key == "metadata") {
      ok = read_entries(val, key, false, s, req.metadata, why);
    } else if (key == "variables") {
      ok = read_entries(val, key, false, s, req.variables, why);
    } else if (key == "programs") {
      ok = read_entries(val, key, false, s, req.programs, why);
    } else if (key == "last_worker_id") {
      if (val.type() == element_type::NULL_VALUE) continue;
      auto w = read_string(val, key, why);
      if (!w) return w.error();
      req.last_worker_id = std::move(w).value();
    }
    if (!ok) return ok.error();
  }
  return req;
}

result<patch_request> parse_patch(std::string_view body, const api_settings& s, std::string* why) {
  auto obj = body_object(body, s, why);
  if (!obj) return obj.error();
  patch_request req;
  for (auto [key, val] : *obj) {
    result<void> ok;
    if (key == "ttl_s") {
      auto t = read_ttl(val, why);
      if (!t) return t.error();
      req.ttl_s = *t;
    } else if (key == "metadata") {
      ok = read_entries(val, key, true, s, req.metadata, why);
    } else if (key == "variables") {
      ok = read_entries(val, key, true, s, req.variables, why);
    } else if (key == "programs") {
      ok = read_entries(val, key, true, s, req.programs, why);
    } else if (key == "last_worker_id") {
      auto w = read_string(val, key, why);
      if (!w) return w.error();
      req.last_worker_id = std::move(w).value();
    }
    if (!ok) return ok.error();
  }
  return req;
}

result<std::string> parse_worker(std::string_view body, const api_settings& s, std::string* why) {
  auto obj = body_object(body, s, why);
  if (!obj) return obj.error();
  auto w = (*obj)["worker_id"];
  if (w.error()) {
    *why = "'worker_id' is required";
    return errc::invalid_argument;
  }
  return read_string(w.value_unsafe(), "worker_id", why);
}

result<std::string> parse_value(std::string_view body, const api_settings& s, std::string* why) {
  if (body.size() > s.value_bytes) {
    *why = "the value is larger than " + std::to_string(s.value_bytes) + " bytes";
    return errc::too_large;
  }
  auto doc = parse(parser(), body, s.json_depth, why);
  if (!doc) return doc.error();
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

result<list_query> parse_list_query(std::string_view query, size_t max_prefix, std::string* why) {
  bool bad = false;
  list_query q;
  q.prefix = query_param(query, "prefix", &bad).value_or("");
  const auto limit_s = query_param(query, "limit", &bad);
  q.cursor = query_param(query, "cursor", &bad).value_or("");
  if (bad) {
    *why = "bad percent-encoding in the query";
    return errc::invalid_argument;
  }
  if (limit_s) {
    auto r = std::from_chars(limit_s->data(), limit_s->data() + limit_s->size(), q.limit);
    if (r.ec != std::errc{} || r.ptr != limit_s->data() + limit_s->size() || q.limit == 0 || q.limit > 1000) {
      *why = "limit must be an integer from 1 to 1000";
      return errc::invalid_argument;
    }
  }
  if (q.prefix.size() > max_prefix) {
    *why = "prefix longer than an id";
    return errc::invalid_argument;
  }
  return q;
}

}  // namespace sessionmesh::http
