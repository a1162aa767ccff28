#include "http/cluster_cursor.hpp"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "http/path.hpp"

namespace sessionmesh::http {

uint64_t placement_hash(const placement_sources& s) {
  std::vector<const placement_source*> v;
  for (const auto& n : s.nodes) v.push_back(&n);
  std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->node_id < b->node_id; });
  std::string text;
  for (auto* n : v) text.append(n->node_id).append(1, '\0').append(partitions_hex(n->parts)).append(1, '\n');
  return XXH3_64bits(text.data(), text.size());
}

namespace {

std::string hex_of(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : s) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

std::optional<std::string> unhex(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    auto r = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
    if (r.ec != std::errc{} || r.ptr != s.data() + i + 2) return std::nullopt;
    out.push_back(static_cast<char>(v));
  }
  return out;
}

}  // namespace

std::optional<cluster_cursor> parse_cluster_cursor(std::string_view c) {
  if (c.size() < 17 || c[0] != 'm') return std::nullopt;
  cluster_cursor out;
  auto r = std::from_chars(c.data() + 1, c.data() + 17, out.hash, 16);
  if (r.ec != std::errc{} || r.ptr != c.data() + 17) return std::nullopt;
  std::string_view rest = c.substr(17);
  while (!rest.empty()) {
    if (rest[0] != '_') return std::nullopt;
    rest.remove_prefix(1);
    const auto tilde = rest.find('~');
    if (tilde == std::string_view::npos) return std::nullopt;
    auto node = unhex(rest.substr(0, tilde));
    rest.remove_prefix(tilde + 1);
    const auto end = std::min(rest.find('_'), rest.size());
    const std::string_view own = rest.substr(0, end);  // a node's cursor: "<hex>-<decimal>"
    if (!node || node->empty() || node->size() > 256 || own.empty() || own.size() > 64 || out.at.size() >= 256)
      return std::nullopt;
    if (!std::all_of(own.begin(), own.end(), [](char ch) {
          return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == '-';
        }))
      return std::nullopt;
    if (!out.at.emplace(std::move(*node), std::string(own)).second) return std::nullopt;  // a node twice
    rest.remove_prefix(end);
  }
  return out;
}

std::string render_cluster_cursor(uint64_t hash, std::vector<std::pair<std::string_view, std::string_view>> at) {
  char h[17];
  std::snprintf(h, sizeof h, "%016llx", static_cast<unsigned long long>(hash));
  std::string c = "m";
  c += h;
  std::sort(at.begin(), at.end());
  for (const auto& [node, cur] : at) c.append("_").append(hex_of(node)).append("~").append(cur);
  return c;
}

std::optional<event_text> read_event(std::string_view m) {
  constexpr std::string_view head = "{\"type\":\"";
  if (m.substr(0, head.size()) != head) return std::nullopt;
  event_text e;
  const auto end = m.find('"', head.size());
  if (end == std::string_view::npos) return std::nullopt;
  e.type = m.substr(head.size(), end - head.size());
  constexpr std::string_view key = "\"cursor\":\"";
  if (auto at = m.find(key); at != std::string_view::npos) {
    e.cursor_at = at + key.size();
    const auto close = m.find('"', e.cursor_at);
    if (close == std::string_view::npos) return std::nullopt;
    e.cursor_len = close - e.cursor_at;
  }
  return e;
}

}  // namespace sessionmesh::http
