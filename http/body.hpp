// JSON request bodies of the REST API, parsed with simdjson into the store's
// request types. Every error names the offending field in *why and maps to
// a status: invalid_argument (400) for bad JSON, wrong types, depth past the
// limit; too_large (413) for a value or map past its limit.
// Thread: thread-safe (a parser per thread).
#pragma once

#include <string>
#include <string_view>

#include "http/api.hpp"
#include "sessionmesh/session_store.hpp"

namespace sessionmesh::http {

result<create_request> parse_create(std::string_view body, const api_settings& s, std::string* why);
result<patch_request> parse_patch(std::string_view body, const api_settings& s, std::string* why);
// {"worker_id": "w"}
result<std::string> parse_worker(std::string_view body, const api_settings& s, std::string* why);
// A bare JSON value, returned compact.
result<std::string> parse_value(std::string_view body, const api_settings& s, std::string* why);

}  // namespace sessionmesh::http
