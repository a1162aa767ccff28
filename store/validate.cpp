#include "store/validate.hpp"

#include <simdjson.h>

#include <array>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <cstring>

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
  bool ascii = true;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return false;
    ascii &= c < 0x80;
  }
  return ascii || simdjson::validate_utf8(name.data(), name.size());  // ASCII is UTF-8
}

namespace {

// Bytes of x that are below 0x20, or equal to '"' or '\\', get their top bit
// set (SWAR: eight bytes per step; a byte of 0x80 or more is never flagged).
uint64_t json_specials(uint64_t x) {
  constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto zero_bytes = [&](uint64_t v) { return (v - ones) & ~v & highs; };
  const uint64_t control = (x - 0x20 * ones) & ~x & highs;
  return control | zero_bytes(x ^ ('"' * ones)) | zero_bytes(x ^ ('\\' * ones));
}

}  // namespace

bool plain_json_string(std::string_view t) {
  if (t.size() < 2 || t.front() != '"' || t.back() != '"') return false;
  const auto body = t.substr(1, t.size() - 2);
  size_t i = 0;
  bool ascii = true;
#ifdef __SSE2__
  // Sixteen bytes a step: a byte is special if it equals '"' or '\\' or is
  // at most 0x1f unsigned (max(x, 0x1f) == 0x1f); its top bit marks it as
  // not ASCII, and only then does UTF-8 need checking.
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), c1f = _mm_set1_epi8(0x1f);
  __m128i high = _mm_setzero_si128();
  auto special = [&](const char* at) {  // the special bytes among these 16, marked 0xff
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    high = _mm_or_si128(high, x);
    return _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                        _mm_cmpeq_epi8(_mm_max_epu8(x, c1f), c1f));
  };
  auto step = [&](const char* at) { return _mm_movemask_epi8(special(at)) == 0; };  // false: a special byte
  // Four steps to one test: a value is nearly always clean.
  for (; i + 64 <= body.size(); i += 64) {
    const char* at = body.data() + i;
    const __m128i bad = _mm_or_si128(_mm_or_si128(special(at), special(at + 16)),
                                     _mm_or_si128(special(at + 32), special(at + 48)));
    if (_mm_movemask_epi8(bad) != 0) return false;
  }
  for (; i + 16 <= body.size(); i += 16)
    if (!step(body.data() + i)) return false;
  if (i != body.size() && body.size() >= 16) {
    // The last 16 bytes as one more step, overlapping bytes that passed:
    // no byte-by-byte tail.
    if (!step(body.data() + body.size() - 16)) return false;
    i = body.size();
  }
  ascii = _mm_movemask_epi8(high) == 0;
#endif
  for (; i + 8 <= body.size(); i += 8) {
    uint64_t x;
    std::memcpy(&x, body.data() + i, 8);
    if (json_specials(x) != 0) return false;
    ascii &= (x & 0x8080808080808080ull) == 0;
  }
  for (; i < body.size(); ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c < 0x20 || c == '"' || c == '\\') return false;
    ascii &= c < 0x80;
  }
  return ascii || simdjson::validate_utf8(body.data(), body.size());
}

result<std::string> canonical_json(std::string_view text, const store_limits& limits) {
  if (text.size() > limits.value_bytes) return errc::too_large;
  if (plain_json_string(text)) return std::string(text);
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

bool if_match_satisfied(std::string_view h, std::string_view version) {
  size_t i = 0;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
    if (i >= h.size()) break;
    bool weak = false;
    if (h.compare(i, 2, "W/") == 0) {
      weak = true;
      i += 2;
    }
    std::string_view tag;
    if (i < h.size() && h[i] == '"') {
      const size_t end = h.find('"', i + 1);
      if (end == std::string_view::npos) return false;  // unbalanced: matches nothing
      tag = h.substr(i + 1, end - i - 1);
      i = end + 1;
    } else {
      size_t end = h.find(',', i);
      if (end == std::string_view::npos) end = h.size();
      tag = h.substr(i, end - i);
      while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
      i = end;
    }
    if (!weak && (tag == version || (tag == "*" && h[i - 1] != '"'))) return true;
  }
  return false;
}

}  // namespace sessionmesh::store
