#include "store/validate.hpp"

#include <simdjson.h>

#include <array>

namespace sessionmesh::store {

namespace {

constexpr std::array<bool, 256> id_chars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : {'.', '_', ':', '@', '-'}) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

}  // namespace

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > id_bytes_max) return false;
  bool ok = true;
  for (unsigned char c : id) ok &= id_chars[c];
  return ok;
}

bool valid_name(std::string_view name, size_t max_bytes) {
  if (name.empty() || name.size() > max_bytes) return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return false;
  return simdjson::validate_utf8(name.data(), name.size());
}

result<std::string> canonical_json(std::string_view text, const store_limits& limits) {
  if (text.size() > limits.value_bytes) return errc::too_large;
  thread_local simdjson::dom::parser parser;
  thread_local size_t depth = 0;
  if (depth != limits.json_depth) {
    if (parser.allocate(std::max<size_t>(text.size(), 4096), limits.json_depth) != simdjson::SUCCESS)
      return errc::internal;
    depth = limits.json_depth;
  }
  auto doc = parser.parse(text.data(), text.size(), true);
  if (doc.error() == simdjson::DEPTH_ERROR) return errc::invalid_argument;
  if (doc.error() != simdjson::SUCCESS) return errc::invalid_argument;
  std::string out(text.size(), '\0');
  size_t out_len = 0;
  if (simdjson::minify(text.data(), text.size(), out.data(), out_len) != simdjson::SUCCESS)
    return errc::invalid_argument;
  out.resize(out_len);
  if (out.size() > limits.value_bytes) return errc::too_large;
  return out;
}

std::string_view unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  if (v.size() >= 4 && v.substr(0, 3) == "W/\"" && v.back() == '"') return v.substr(3, v.size() - 4);
  return v;
}

}  // namespace sessionmesh::store
