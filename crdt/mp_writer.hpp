// mp_writer: writes MessagePack in the shortest forms, the very bytes
// msgpack-c's packer writes (pack_uint64, pack_str, pack_array, pack_map,
// pack_nil), so the record's encoding stays canonical. It writes through a
// raw pointer into a buffer the caller sized for the worst case (the
// *_bound helpers below): nothing is checked per write, the caller asserts
// the end is within its bound. Used by encode and merge_encoded, the one
// writer of the record's bytes.
// Thread: a plain value.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sessionmesh::crdt {

struct mp_writer {
  char* p;

  // The widest forms, for a caller's bound.
  static constexpr size_t uint_max = 9, str_head_max = 5, map_head_max = 5;

  void byte(uint8_t b) { *p++ = static_cast<char>(b); }
  void raw(const void* data, size_t n) {
    std::memcpy(p, data, n);
    p += n;
  }
  // positive fixint, uint8, uint16, uint32 or uint64.
  void uint(uint64_t v) {
    static_assert(std::endian::native == std::endian::little, "mp_writer swaps bytes");
    if (v < 0x80) {
      byte(static_cast<uint8_t>(v));
    } else if (v < 0x100) {
      byte(0xcc);
      byte(static_cast<uint8_t>(v));
    } else if (v < 0x10000) {
      byte(0xcd);
      const uint16_t be = __builtin_bswap16(static_cast<uint16_t>(v));
      raw(&be, 2);
    } else if (v < 0x100000000) {
      byte(0xce);
      const uint32_t be = __builtin_bswap32(static_cast<uint32_t>(v));
      raw(&be, 4);
    } else {
      byte(0xcf);
      const uint64_t be = __builtin_bswap64(v);
      raw(&be, 8);
    }
  }
  // fixstr, str8, str16 or str32 head.
  void str_head(size_t n) { head(n, 0xa0, 32, 0xd9); }
  void str(std::string_view s) {
    str_head(s.size());
    raw(s.data(), s.size());
  }
  // fixmap, map16 or map32 head.
  void map_head(size_t n) { head(n, 0x80, 16, 0); }
  // fixarray, array16 or array32 head.
  void array_head(size_t n) { head(n, 0x90, 16, 0); }
  void nil() { byte(0xc0); }

  // How many bytes map_head(n) writes.
  static size_t map_head_size(size_t n) { return n < 16 ? 1 : n < 0x10000 ? 3 : 5; }

 private:
  // A head of `fix | n` below fix_limit, else the 8-bit form (op8, strings
  // only; 0 for none), then 16 and 32 bits, each one opcode past the last:
  // str8 0xd9, str16 0xda, str32 0xdb; array16 0xdc, array32 0xdd; map16
  // 0xde, map32 0xdf.
  void head(size_t n, uint8_t fix, size_t fix_limit, uint8_t op8) {
    if (n < fix_limit) {
      byte(static_cast<uint8_t>(fix | n));
      return;
    }
    const uint8_t op16 = op8 != 0 ? 0xda : fix == 0x90 ? 0xdc : 0xde;
    if (op8 != 0 && n < 0x100) {
      byte(op8);
      byte(static_cast<uint8_t>(n));
    } else if (n < 0x10000) {
      byte(op16);
      const uint16_t be = __builtin_bswap16(static_cast<uint16_t>(n));
      raw(&be, 2);
    } else {
      byte(static_cast<uint8_t>(op16 + 1));
      const uint32_t be = __builtin_bswap32(static_cast<uint32_t>(n));
      raw(&be, 4);
    }
  }
};

}  // namespace sessionmesh::crdt
