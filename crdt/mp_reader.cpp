#include "crdt/mp_reader.hpp"

namespace sessionmesh::crdt {

result<uint64_t> mp_reader::read_be(size_t n) {
  if (remaining() < n) return errc::decode_error;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p_[i];
  p_ += n;
  return v;
}

result<uint64_t> mp_reader::read_uint() {
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

result<uint32_t> mp_reader::read_array(uint32_t max_count) {
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

result<uint32_t> mp_reader::read_map(uint32_t max_count) {
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

result<std::string_view> mp_reader::read_str(size_t max_bytes) {
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

result<std::optional<std::string_view>> mp_reader::read_str_or_nil(size_t max_bytes) {
  if (!at_end() && *p_ == 0xc0) {
    ++p_;
    return std::optional<std::string_view>{};
  }
  auto s = read_str(max_bytes);
  if (!s) return s.error();
  return std::optional<std::string_view>{*s};
}

}  // namespace sessionmesh::crdt
