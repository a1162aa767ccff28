#include "http/path.hpp"

namespace sessionmesh::http {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string partitions_hex(const std::bitset<256>& parts) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < 64; ++i) {
    unsigned v = 0;
    for (size_t b = 0; b < 4; ++b) v |= parts.test(i * 4 + b) ? 1u << b : 0u;
    out[i] = hex[v];
  }
  return out;
}

std::optional<std::bitset<256>> parse_partitions_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::bitset<256> out;
  for (size_t i = 0; i < 64; ++i) {
    const char c = hex[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) return std::nullopt;
    for (size_t b = 0; b < 4; ++b)
      if (v & (1 << b)) out.set(i * 4 + b);
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int a = hex(s[i + 1]), b = hex(s[i + 2]);
      if (a < 0 || b < 0) return std::nullopt;
      out.push_back(static_cast<char>(a * 16 + b));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> out;
  out.reserve(8);  // /v1/sessions/{id}/variables/{name} and the like: one allocation
  size_t pos = 0;
  while (true) {
    const size_t slash = path.find('/', pos);
    auto seg = percent_decode(path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos));
    if (!seg) return std::nullopt;
    out.push_back(std::move(*seg));
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
    if (out.size() > 16) break;
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key, bool* bad) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view kv = query.substr(pos, amp - pos);
    const size_t eq = kv.find('=');
    std::string_view k = kv.substr(0, eq);
    if (k == key) {
      auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1), true);
      if (!v) {
        *bad = true;
        return std::nullopt;
      }
      return v;
    }
    pos = amp + 1;
  }
  return std::nullopt;
}

}  // namespace sessionmesh::http
