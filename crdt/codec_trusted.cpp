// The trusted reader of the record's encoding (crdt/codec.hpp): for bytes
// the store encoded itself (or decode verified on arrival), on the hot
// paths. Bounds are asserted, nothing else is checked: a malformed
// encoding here is a bug.
#include <bit>
#include <cstring>

#include "crdt/codec.hpp"

namespace sessionmesh::crdt {

namespace {

uint64_t load_be64(const void* at) {
  static_assert(std::endian::native == std::endian::little, "load_be64 swaps bytes");
  uint64_t v;
  std::memcpy(&v, at, 8);
  return __builtin_bswap64(v);
}

// std::string_view::compare's order (bytes unsigned, then length) without
// its call to memcmp: names are short.
int compare_names(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]) ? -1 : 1;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
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
  void skip_uint() {
    const uint8_t b = byte();
    if (b <= 0x7f) return;
    SM_ASSERT(b >= 0xcc && b <= 0xcf);
    const size_t n = size_t{1} << (b - 0xcc);
    need(n);
    p += n;
  }
  // An entry's register head, [hlc, node index, ...: the common shape (a
  // 64-bit hlc, a node index under 128) in one check, else field by field.
  void skip_register_head() {
    if (end - p >= 11 && p[0] == 0x93 && p[1] == 0xcf && p[10] <= 0x7f) {
      p += 11;
      return;
    }
    const uint8_t arr = byte();
    SM_ASSERT(arr == 0x93);  // [hlc, node index, value]
    skip_uint();
    skip_uint();
  }
  // One map entry: its name, and its value (nullptr for nil: removed).
  struct entry_view {
    std::string_view name;
    const char* value;
    size_t value_size;
    const uint8_t* next;  // where the entry ends
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
      return {{reinterpret_cast<const char*>(p + 1), nn}, nullptr, 0, v};
    }
    SM_ASSERT(static_cast<size_t>(end - v) >= n);
    return {{reinterpret_cast<const char*>(p + 1), nn}, reinterpret_cast<const char*>(v), n, v + n};
  }
  __attribute__((noinline)) static entry_view slow_entry(const uint8_t* p, const uint8_t* end) {
    trusted_reader rd{p, end};
    entry_view e{*rd.str(false), nullptr, 0, nullptr};
    rd.skip_register_head();
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

// The end of the map at p (entries walked, none kept).
__attribute__((noinline)) const uint8_t* skip_map(const uint8_t* p, const uint8_t* end) {
  trusted_reader rd{p, end};
  for (uint32_t i = 0, n = rd.map_size(); i < n; ++i) (void)rd.next_entry();
  return rd.p;
}

}  // namespace

packed_header trusted_header(std::string_view bytes) {
  const auto* base = reinterpret_cast<const uint8_t*>(bytes.data());
  trusted_reader rd{base, base + bytes.size()};
  const uint8_t arr = rd.byte();
  SM_ASSERT(arr == 0xdc && rd.be(2) == record_field_count);
  SM_ASSERT(rd.uint() == record_format_version);
  packed_header h;
  h.id = *rd.str(false);
  h.nodes = *rd.str(false);
  const size_t n_nodes = h.nodes.size() / 8;
  auto read_stamp = [&] {
    // The common shapes in one check each: bottom (two zero bytes), and a
    // 64-bit hlc with a node index under 128 (ten bytes).
    if (rd.end - rd.p >= 10) {
      if (rd.p[0] == 0 && rd.p[1] == 0) {
        rd.p += 2;
        return stamp{};
      }
      if (rd.p[0] == 0xcf && rd.p[9] <= 0x7f) {
        const uint64_t hlc = load_be64(rd.p + 1);
        const size_t ni = rd.p[9];
        rd.p += 10;
        SM_ASSERT(hlc != 0 && ni < n_nodes);
        return stamp{hlc, load_be64(h.nodes.data() + ni * 8)};
      }
    }
    const uint64_t hlc = rd.uint();
    const uint64_t ni = rd.uint();
    if (hlc == 0) return stamp{};
    SM_ASSERT(ni < n_nodes);
    return stamp{hlc, load_be64(h.nodes.data() + ni * 8)};
  };
  h.tombstone = read_stamp();
  h.created = read_stamp();
  h.touched = read_stamp();
  h.ttl_ts = read_stamp();
  const uint64_t ttl = rd.uint();
  SM_ASSERT(ttl <= UINT32_MAX);
  h.ttl_s = static_cast<uint32_t>(ttl);
  h.worker_ts = read_stamp();
  h.worker = *rd.str(false);
  h.maps_offset = static_cast<size_t>(rd.p - base);
  return h;
}

// The hot read: one pointer walks the maps in registers; an empty map
// before the section is one byte compare, a longer one is skipped out of line.
std::string_view find_value_or_null(std::string_view bytes, size_t maps_offset, section s, std::string_view name) {
  SM_ASSERT(maps_offset < bytes.size());  // three map headers at least follow
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + maps_offset;
  const auto* end = reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size();
  for (int sec = 0; sec < static_cast<int>(s); ++sec) p = *p == 0x80 ? p + 1 : skip_map(p, end);
  uint32_t n;
  if ((*p & 0xf0) == 0x80) {
    n = *p++ & 0x0f;
  } else {
    trusted_reader rd{p, end};
    n = rd.map_size();
    p = rd.p;
  }
  for (; n != 0; --n) {
    const auto e = trusted_reader::read_entry(p, end);
    p = e.next;
    const int c = compare_names(e.name, name);
    if (c == 0) return {e.value, e.value_size};  // e.value is null for a removed entry
    if (c > 0) break;                            // canonical order: past the name
  }
  return {};
}

}  // namespace sessionmesh::crdt
