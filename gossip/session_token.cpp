#include "gossip/session_token.hpp"

#include <xxhash.h>

#include <algorithm>
#include <charconv>

namespace sessionmesh::gossip {

namespace {

std::optional<uint64_t> hex(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string to_hex(uint64_t v, int width = 0) {
  char buf[17];
  auto r = std::to_chars(buf, buf + 16, v, 16);
  std::string s(buf, r.ptr);
  if (static_cast<int>(s.size()) < width) s.insert(0, width - s.size(), '0');
  return s;
}

}  // namespace

uint64_t token_node(std::string_view node_id) { return XXH3_64bits(node_id.data(), node_id.size()); }

std::optional<session_token> parse_token(std::string_view text) {
  session_token t;
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (text.empty()) return t;
  if (text.size() > token_max_bytes) return std::nullopt;
  while (true) {
    const size_t comma = text.find(',');
    std::string_view e = text.substr(0, comma);
    while (!e.empty() && e.front() == ' ') e.remove_prefix(1);
    const size_t d1 = e.find('.');
    const size_t d2 = d1 == std::string_view::npos ? d1 : e.find('.', d1 + 1);
    if (d2 == std::string_view::npos) return std::nullopt;
    auto node = hex(e.substr(0, d1));
    auto epoch = hex(e.substr(d1 + 1, d2 - d1 - 1));
    auto seq = hex(e.substr(d2 + 1));
    if (!node || !epoch || !seq) return std::nullopt;
    if (t.entries.size() >= token_max_entries) return std::nullopt;
    merge_token(t, token_entry{*node, *epoch, *seq});
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return t;
}

std::string format_token(const session_token& t) {
  std::string out;
  for (const auto& e : t.entries) {
    if (!out.empty()) out += ',';
    out += to_hex(e.node, 16);
    out += '.';
    out += to_hex(e.epoch);
    out += '.';
    out += to_hex(e.seq);
  }
  return out;
}

void merge_token(session_token& t, const token_entry& e) {
  auto key = [](const token_entry& x) { return std::pair(x.node, x.epoch); };
  auto it = std::lower_bound(t.entries.begin(), t.entries.end(), e,
                             [&](const token_entry& a, const token_entry& b) { return key(a) < key(b); });
  if (it != t.entries.end() && key(*it) == key(e)) {
    it->seq = std::max(it->seq, e.seq);
    return;
  }
  t.entries.insert(it, e);
  while (t.entries.size() > token_max_entries) {
    // The oldest epoch of all (ties: the first) goes.
    auto victim = std::min_element(t.entries.begin(), t.entries.end(),
                                   [](const token_entry& a, const token_entry& b) { return a.epoch < b.epoch; });
    t.entries.erase(victim);
  }
}

}  // namespace sessionmesh::gossip
