// Input checks of the adapter contract (session_store.hpp), shared by every
// adapter and by the HTTP layer. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "sessionmesh/options.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::store {

inline constexpr size_t id_bytes_max = 256;
// Global programs are records of the session map under this prefix (a
// character no session id may hold): local_store::global_record_id.
inline constexpr std::string_view global_record_prefix = "~gp:";

// 1-256 bytes of [A-Za-z0-9._:@-].
bool valid_id(std::string_view id);
// Entry names and worker ids: 1..name_bytes bytes, valid UTF-8, no control characters.
bool valid_name(std::string_view name, size_t max_bytes);
// Validates one JSON value and returns it without insignificant whitespace.
// invalid_argument for bad JSON or nesting past limits.json_depth; too_large
// past limits.value_bytes.
result<std::string> canonical_json(std::string_view text, const store_limits& limits);
// A JSON string with nothing to escape or unescape ("...", no quote,
// backslash or control character inside, valid UTF-8): valid, and its own
// compact form (canonical_json of it is itself).
bool plain_json_string(std::string_view text);
// Whether an If-Match header holds for a current version (RFC 9110 strong
// comparison): it lists entity tags separated by commas; "*" or a tag equal
// to the version matches; a weak tag (W/"...") never does. A bare version
// without quotes is accepted as one tag (API.md: raw or quoted).
bool if_match_satisfied(std::string_view header, std::string_view version);

}  // namespace sessionmesh::store
