// mp_reader: a bounds-checked MessagePack reader over a byte span.
// Every read checks the remaining length and a caller-given limit before it
// returns a view; nothing allocates. A failed read returns decode_error
// (malformed / truncated) or limit_exceeded (a length or count past its
// limit) and leaves the reader in an unspecified position.
// Thread: a plain value; views point into the caller's buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sessionmesh/result.hpp"

namespace sessionmesh::crdt {

class mp_reader {
 public:
  mp_reader(const void* data, size_t size)
      : p_(static_cast<const uint8_t*>(data)), end_(p_ + size) {}
  explicit mp_reader(std::string_view s) : mp_reader(s.data(), s.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }
  bool at_end() const { return p_ == end_; }

  result<uint64_t> read_uint();
  result<uint32_t> read_array(uint32_t max_count);
  result<uint32_t> read_map(uint32_t max_count);
  result<std::string_view> read_str(size_t max_bytes);
  // A str, or nil (returns nullopt).
  result<std::optional<std::string_view>> read_str_or_nil(size_t max_bytes);

 private:
  result<uint64_t> read_be(size_t n);
  const uint8_t* p_;
  const uint8_t* end_;
};

inline result<uint64_t> mp_reader::read_be(size_t n) {
  if (remaining() < n) return errc::decode_error;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p_[i];
  p_ += n;
  return v;
}

inline result<uint64_t> mp_reader::read_uint() {
  if (at_end()) return errc::decode_error;
  const uint8_t b = *p_++;
  if (b <= 0x7f) return uint64_t{b};
  switch (b) {
    case 0xcc: return read_be(1);
    case 0xcd: return read_be(2);
    case 0xce: return read_be(4);
    case 0xcf: return read_be(8);
    default: return errc::decode_error;
  }
}

inline result<uint32_t> mp_reader::read_array(uint32_t max_count) {
  if (at_end()) return errc::decode_error;
  const uint8_t b = *p_++;
  uint64_t n = 0;
  if ((b & 0xf0) == 0x90) {
    n = b & 0x0f;
  } else if (b == 0xdc || b == 0xdd) {
    auto r = read_be(b == 0xdc ? 2 : 4);
    if (!r) return r.error();
    n = *r;
  } else {
    return errc::decode_error;
  }
  if (n > max_count) return errc::limit_exceeded;
  // Each element takes at least one byte: a count past the remaining bytes is garbage.
  if (n > remaining()) return errc::decode_error;
  return static_cast<uint32_t>(n);
}

inline result<uint32_t> mp_reader::read_map(uint32_t max_count) {
  if (at_end()) return errc::decode_error;
  const uint8_t b = *p_++;
  uint64_t n = 0;
  if ((b & 0xf0) == 0x80) {
    n = b & 0x0f;
  } else if (b == 0xde || b == 0xdf) {
    auto r = read_be(b == 0xde ? 2 : 4);
    if (!r) return r.error();
    n = *r;
  } else {
    return errc::decode_error;
  }
  if (n > max_count) return errc::limit_exceeded;
  if (n * 2 > remaining()) return errc::decode_error;
  return static_cast<uint32_t>(n);
}

inline result<std::string_view> mp_reader::read_str(size_t max_bytes) {
  if (at_end()) return errc::decode_error;
  const uint8_t b = *p_++;
  uint64_t n = 0;
  if ((b & 0xe0) == 0xa0) {
    n = b & 0x1f;
  } else if (b == 0xd9 || b == 0xda || b == 0xdb) {
    auto r = read_be(b == 0xd9 ? 1 : b == 0xda ? 2 : 4);
    if (!r) return r.error();
    n = *r;
  } else {
    return errc::decode_error;
  }
  if (n > max_bytes) return errc::limit_exceeded;
  if (n > remaining()) return errc::decode_error;
  std::string_view s(reinterpret_cast<const char*>(p_), n);
  p_ += n;
  return s;
}

inline result<std::optional<std::string_view>> mp_reader::read_str_or_nil(size_t max_bytes) {
  if (!at_end() && *p_ == 0xc0) {
    ++p_;
    return std::optional<std::string_view>{};
  }
  auto s = read_str(max_bytes);
  if (!s) return s.error();
  return std::optional<std::string_view>{*s};
}

}  // namespace sessionmesh::crdt
