// hybrid_clock: a hybrid logical clock (Kulkarni et al. 2014) for one node.
// Sans-I/O: the caller passes physical time (ms since the Unix epoch) in.
// Invariants: every stamp it returns is strictly greater than the previous
// one; it runs at most max_offset_ms (plus logical carries: one ms per
// 65,536 events within a millisecond) ahead of the largest physical time it
// was given; a remote hlc more than max_offset_ms ahead of physical time is
// refused with errc::clock_skew and not adopted. A physical clock that
// steps back leaves the HLC where it was: local events keep counting up.
// Thread: not thread-safe; the owner serializes calls.
#pragma once

#include <cstdint>

#include "crdt/stamp.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::crdt {

// The clock's two steps as pure functions of its last value: hybrid_clock
// applies them in place, store::shared_clock in a compare-and-swap loop, so
// both keep the same invariants.
// hlc_next: a local event at physical_ms (REQUIRES physical_ms <= hlc_physical_max).
constexpr uint64_t hlc_next(uint64_t last, uint64_t physical_ms) {
  return physical_ms > hlc_physical_ms(last) ? hlc_make(physical_ms, 0)
                                             : last + 1;  // a logical overflow carries into the physical part
}
// A remote hlc more than max_offset_ms ahead of physical time: refused
// (clock_skew), not adopted.
constexpr bool hlc_too_far_ahead(uint64_t remote_hlc, uint64_t physical_ms, uint64_t max_offset_ms) {
  return hlc_physical_ms(remote_hlc) > physical_ms + max_offset_ms;
}
// hlc_merge: a remote hlc folded in at physical_ms (the caller checks hlc_too_far_ahead first).
constexpr uint64_t hlc_merge(uint64_t last, uint64_t remote_hlc, uint64_t physical_ms) {
  const uint64_t m = remote_hlc > last ? remote_hlc : last;
  return physical_ms > hlc_physical_ms(m) ? hlc_make(physical_ms, 0) : m + 1;
}

class hybrid_clock {
 public:
  explicit hybrid_clock(uint64_t node_tag, uint64_t max_offset_ms = 500)
      : node_(node_tag), max_offset_ms_(max_offset_ms) {}

  // A fresh stamp for a local event at physical time physical_ms.
  // Fails only for a physical time past the 48-bit range.
  result<stamp> now(uint64_t physical_ms);

  // Fold in a remote hlc received at physical time physical_ms.
  result<void> update(uint64_t remote_hlc, uint64_t physical_ms);

  uint64_t last() const { return last_; }
  uint64_t node() const { return node_; }
  uint64_t max_offset_ms() const { return max_offset_ms_; }
  // Restores the clock after restart (e.g. the largest hlc found on disk).
  void observe_persisted(uint64_t hlc) { if (hlc > last_) last_ = hlc; }

 private:
  uint64_t node_;
  uint64_t max_offset_ms_;
  uint64_t last_ = 0;
};

}  // namespace sessionmesh::crdt
