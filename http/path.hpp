// URL path and query helpers: percent-decoding, segment split, query lookup.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessionmesh::http {

// Decodes %XX (and, when plus_is_space, '+'); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);
// "a/b%2Fc/d" -> {"a", "b/c", "d"}; empty segments are kept; nullopt on a bad escape.
std::optional<std::vector<std::string>> split_path(std::string_view path);
// The decoded value of key in a query string; nullopt if absent; throws nothing.
// *bad is set when the value has a bad escape.
std::optional<std::string> query_param(std::string_view query, std::string_view key, bool* bad);

}  // namespace sessionmesh::http
