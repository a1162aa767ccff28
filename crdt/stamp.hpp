// stamp: a hybrid-logical-clock timestamp plus the writing node's tag.
// hlc packs 48 bits of physical milliseconds and a 16-bit logical counter.
// node is xxh3_64 of the node id string: a total, node-independent tie-break.
// Ordering is lexicographic (hlc, node); {0, 0} is bottom ("never written").
#pragma once

#include <compare>
#include <cstdint>

namespace sessionmesh::crdt {

inline constexpr uint64_t hlc_logical_bits = 16;
inline constexpr uint64_t hlc_logical_mask = (uint64_t{1} << hlc_logical_bits) - 1;
inline constexpr uint64_t hlc_physical_max = (uint64_t{1} << 48) - 1;

constexpr uint64_t hlc_make(uint64_t physical_ms, uint64_t logical) {
  return (physical_ms << hlc_logical_bits) | (logical & hlc_logical_mask);
}
constexpr uint64_t hlc_physical_ms(uint64_t hlc) { return hlc >> hlc_logical_bits; }
constexpr uint64_t hlc_logical(uint64_t hlc) { return hlc & hlc_logical_mask; }

struct stamp {
  uint64_t hlc = 0;
  uint64_t node = 0;

  constexpr bool is_bottom() const { return hlc == 0 && node == 0; }
  constexpr uint64_t physical_ms() const { return hlc_physical_ms(hlc); }
  friend constexpr auto operator<=>(const stamp&, const stamp&) = default;
};

}  // namespace sessionmesh::crdt
