// JSON request bodies of the REST API, parsed with simdjson into the store's
// request types. Every error names the offending field in *why and maps to
// a status: invalid_argument (400) for bad JSON, wrong types, depth past the
// limit; too_large (413) for a value or map past its limit.
// Thread: thread-safe (a parser per thread).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/api.hpp"
#include "sessionmesh/session_store.hpp"

namespace sessionmesh::http {

result<create_request> parse_create(std::string_view body, const api_settings& s);
result<patch_request> parse_patch(std::string_view body, const api_settings& s);
// {"worker_id": "w"}
result<std::string> parse_worker(std::string_view body, const api_settings& s);
// A bare JSON value, returned compact.
result<std::string> parse_value(std::string_view body, const api_settings& s);

// Content-Type is application/json (parameters and case ignored).
bool is_json_type(std::string_view content_type);

// ?prefix=&limit=&cursor= of a list endpoint. limit: 1..1000, default 100;
// prefix at most max_prefix bytes. invalid_argument with a detail otherwise.
struct list_query {
  std::string prefix, cursor;
  size_t limit = 100;
};
result<list_query> parse_list_query(std::string_view query, size_t max_prefix);

// ?prefix=&snapshot=&cursor= of /v1/watch (access_token is the auth's).
// snapshot: true|false|1|0 (default false); prefix at most max_prefix
// bytes. invalid_argument with a detail otherwise (answered 400 before the
// upgrade).
struct watch_query {
  std::string prefix;
  bool snapshot = false;
  std::optional<std::string> cursor;
};
result<watch_query> parse_watch_query(std::string_view query, size_t max_prefix);
// The query of a /v1/watch target the API already checked (it must parse:
// an assertion); *query (when given) is set to the query text.
watch_query checked_watch_query(std::string_view target, std::string_view* query = nullptr);

}  // namespace sessionmesh::http
