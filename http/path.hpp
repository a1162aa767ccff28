// URL path and query helpers: percent-decoding, segment split, query lookup.
// Pure functions; thread-safe.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessionmesh::http {

// Decodes %XX (and, when plus_is_space, '+'); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);
// Encodes every byte but RFC 3986's unreserved ones as %XX (a query value).
std::string percent_encode(std::string_view s);
// "a/b%2Fc/d" -> {"a", "b/c", "d"}; empty segments are kept; nullopt on a bad escape.
std::optional<std::vector<std::string>> split_path(std::string_view path);
// The decoded value of key in a query string; nullopt if absent; throws nothing.
// *bad is set when the value has a bad escape.
std::optional<std::string> query_param(std::string_view query, std::string_view key, bool* bad);
// A set of the 256 partitions as 64 hex digits (digit i: partitions 4i to
// 4i+3, the lowest bit the first), as X-Sessionmesh-Partitions carries it;
// nullopt when it is not 64 hex digits.
std::string partitions_hex(const std::bitset<256>& parts);
std::optional<std::bitset<256>> parse_partitions_hex(std::string_view hex);

}  // namespace sessionmesh::http
