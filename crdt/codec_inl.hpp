// Template part of codec.hpp; include codec.hpp instead.
#pragma once

#include "crdt/mp_reader.hpp"

namespace sessionmesh::crdt {

// Resolves (hlc, node index) against a record's node table.
inline result<stamp> resolve_stamp(std::string_view nodes, uint64_t hlc, uint64_t ni) {
  if (hlc == 0) {
    if (ni != 0) return errc::decode_error;
    return stamp{};
  }
  if (ni >= nodes.size() / 8) return errc::decode_error;
  uint64_t tag = 0;
  for (size_t i = 0; i < 8; ++i) tag = (tag << 8) | static_cast<uint8_t>(nodes[ni * 8 + i]);
  return stamp{hlc, tag};
}

// Walks the three maps from maps_offset; with_stamps resolves each entry's
// stamp against the node table (for_each_entry), else skips it (the read path).
// end (optional): where the maps end, once all three were walked.
template <bool with_stamps, class Fn>
result<void> walk_entries(std::string_view bytes, size_t maps_offset, std::string_view nodes, Fn&& fn,
                          const codec_limits& lim, size_t* end = nullptr) {
  mp_reader rd(bytes.data() + maps_offset, bytes.size() - maps_offset);
  for (int s = 0; s < section_count; ++s) {
    auto n = rd.read_map(lim.entries_per_map);
    if (!n) return n.error();
    for (uint32_t i = 0; i < *n; ++i) {
      auto name = rd.read_str(lim.name_bytes);
      if (!name) return name.error();
      auto arr = rd.read_array(3);
      if (!arr) return arr.error();
      if (*arr != 3) return errc::decode_error;
      auto hlc = rd.read_uint();
      if (!hlc) return hlc.error();
      auto ni = rd.read_uint();
      if (!ni) return ni.error();
      auto value = rd.read_str_or_nil(lim.value_bytes);
      if (!value) return value.error();
      if constexpr (with_stamps) {
        auto st = resolve_stamp(nodes, *hlc, *ni);
        if (!st) return st.error();
        if (!fn(static_cast<section>(s), *name, *st, *value)) return {};
      } else {
        if (!fn(static_cast<section>(s), *name, *value)) return {};
      }
    }
  }
  if (end != nullptr) *end = static_cast<size_t>(rd.position() - reinterpret_cast<const uint8_t*>(bytes.data()));
  return {};
}

template <class Fn>
result<void> for_each_entry(std::string_view bytes, const packed_header& h, Fn&& fn, const codec_limits& lim) {
  return walk_entries<true>(bytes, h.maps_offset, h.nodes, std::forward<Fn>(fn), lim);
}

template <class Fn>
result<void> for_each_value(std::string_view bytes, size_t maps_offset, Fn&& fn, const codec_limits& lim) {
  return walk_entries<false>(bytes, maps_offset, {}, std::forward<Fn>(fn), lim);
}

}  // namespace sessionmesh::crdt
