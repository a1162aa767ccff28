// Input checks of the adapter contract (session_store.hpp), shared by every
// adapter and by the HTTP layer. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "sessionmesh/options.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::store {

inline constexpr size_t id_bytes_max = 256;

// 1-256 bytes of [A-Za-z0-9._:@-].
bool valid_id(std::string_view id);
// Entry names and worker ids: 1..name_bytes bytes, valid UTF-8, no control characters.
bool valid_name(std::string_view name, size_t max_bytes);
// Validates one JSON value and returns it without insignificant whitespace.
// invalid_argument for bad JSON or nesting past limits.json_depth; too_large
// past limits.value_bytes.
result<std::string> canonical_json(std::string_view text, const store_limits& limits);
// Strips the quotes of an If-Match value ("v" or v).
std::string_view unquote(std::string_view v);

}  // namespace sessionmesh::store
