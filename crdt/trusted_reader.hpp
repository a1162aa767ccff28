// trusted_reader: a cursor over bytes of the record's encoding that the
// store made itself (or decode verified on arrival), for the hot paths:
// trusted_header and find_value (codec_trusted.cpp), merge_encoded
// (patch.cpp). Bounds are asserted, nothing else is checked: a malformed
// encoding here is a bug.
// Thread: a plain value; views point into the caller's buffer.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "sessionmesh/result.hpp"

namespace sessionmesh::crdt::detail {

inline uint64_t load_be64(const void* at) {
  static_assert(std::endian::native == std::endian::little, "load_be64 swaps bytes");
  uint64_t v;
  std::memcpy(&v, at, 8);
  return __builtin_bswap64(v);
}

// A cursor over trusted bytes: a malformed encoding is a bug (asserted).
struct trusted_reader {
  const uint8_t* p;
  const uint8_t* end;
  void need(size_t n) const { SM_ASSERT(static_cast<size_t>(end - p) >= n); }
  // A big-endian length of 1, 2 or 4 bytes.
  size_t be(size_t n) {
    need(n);
    size_t v = n == 1 ? p[0] : n == 2 ? (size_t{p[0]} << 8) | p[1]
                                      : (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
    p += n;
    return v;
  }
  uint8_t byte() {
    need(1);
    return *p++;
  }
  uint32_t map_size() {
    const uint8_t b = byte();
    if ((b & 0xf0) == 0x80) return b & 0x0f;
    SM_ASSERT(b == 0xde || b == 0xdf);
    return static_cast<uint32_t>(be(b == 0xde ? 2 : 4));
  }
  uint64_t uint() {
    const uint8_t b = byte();
    if (b <= 0x7f) return b;
    if (b == 0xcf) {  // a clock value: always 64 bits wide
      need(8);
      const uint64_t v = load_be64(p);
      p += 8;
      return v;
    }
    SM_ASSERT(b >= 0xcc && b <= 0xce);
    const size_t n = size_t{1} << (b - 0xcc);
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
    p += n;
    return v;
  }
  // One map entry: its name, its register's stamp as written (hlc, node
  // index), and its value (nullptr for nil: removed).
  struct entry_view {
    std::string_view name;
    const char* value;
    size_t value_size;
    const uint8_t* next;  // where the entry ends
    uint64_t hlc;
    uint64_t ni;
  };
  // The next entry. The common shape (a name under 32 bytes, a 64-bit hlc,
  // a node index under 128) is read in one step: every header byte it reads
  // lies within the 48 it first checks are left (1 + 31 + 11 + 5), and the
  // value's length is checked against the end. Any other shape is read
  // field by field, out of line, so the common path keeps its registers.
  entry_view next_entry() {
    const entry_view e = read_entry(p, end);
    p = e.next;
    return e;
  }
  // The entry at p. Takes the cursor by value and returns where the entry
  // ends: a reader that only calls this keeps p and end in registers.
  static entry_view read_entry(const uint8_t* p, const uint8_t* end) {
    if (end - p < 48 || (p[0] & 0xe0) != 0xa0) return slow_entry(p, end);
    const size_t nn = p[0] & 0x1f;
    const uint8_t* h = p + 1 + nn;
    uint16_t head;  // [0x93 (array of 3), 0xcf (uint64)], read as one word
    std::memcpy(&head, h, 2);
    if (head != 0xcf93 || h[10] > 0x7f) return slow_entry(p, end);
    const uint8_t* v = h + 12;
    size_t n;
    const uint8_t b = h[11];
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
    } else if (b == 0xda) {  // before str8: a JSON value of 256 bytes or more
      n = (size_t{v[0]} << 8) | v[1];
      v += 2;
    } else if (b == 0xd9) {
      n = *v++;
    } else if (b == 0xdb) {
      n = (size_t{v[0]} << 24) | (size_t{v[1]} << 16) | (size_t{v[2]} << 8) | v[3];
      v += 4;
    } else {
      SM_ASSERT(b == 0xc0);  // nil: a removed entry
      return {{reinterpret_cast<const char*>(p + 1), nn}, nullptr, 0, v, load_be64(h + 2), h[10]};
    }
    SM_ASSERT(static_cast<size_t>(end - v) >= n);
    return {{reinterpret_cast<const char*>(p + 1), nn}, reinterpret_cast<const char*>(v), n, v + n,
            load_be64(h + 2), h[10]};
  }
  __attribute__((noinline)) static entry_view slow_entry(const uint8_t* p, const uint8_t* end) {
    trusted_reader rd{p, end};
    entry_view e{*rd.str(false), nullptr, 0, nullptr, 0, 0};
    const uint8_t arr = rd.byte();
    SM_ASSERT(arr == 0x93);  // [hlc, node index, value]
    e.hlc = rd.uint();
    e.ni = rd.uint();
    if (const auto v = rd.str(true)) {
      e.value = v->data();
      e.value_size = v->size();
    }
    e.next = rd.p;
    return e;
  }
  // A string, or nullopt for nil when nil_ok.
  std::optional<std::string_view> str(bool nil_ok) {
    const uint8_t b = byte();
    size_t n = 0;
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
    } else if (b == 0xc0 && nil_ok) {
      return std::nullopt;
    } else {
      SM_ASSERT(b == 0xd9 || b == 0xda || b == 0xdb);
      n = be(b == 0xd9 ? 1 : b == 0xda ? 2 : 4);
    }
    need(n);
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
};

}  // namespace sessionmesh::crdt::detail
