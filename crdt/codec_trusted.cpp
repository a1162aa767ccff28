// The trusted reader of the record's encoding (crdt/codec.hpp): for bytes
// the store encoded itself (or decode verified on arrival), on the hot
// paths. Bounds are asserted, nothing else is checked: a malformed
// encoding here is a bug.
#include <bit>
#include <cstring>

#include "crdt/codec.hpp"
#include "crdt/trusted_reader.hpp"

namespace sessionmesh::crdt {

namespace {

using detail::load_be64;
using detail::trusted_reader;

// std::string_view::compare's order (bytes unsigned, then length) without
// its call to memcmp: names are short.
int compare_names(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]) ? -1 : 1;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

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
