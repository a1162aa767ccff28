#include "crdt/hlc.hpp"

namespace sessionmesh::crdt {

result<stamp> hybrid_clock::now(uint64_t physical_ms) {
  if (physical_ms > hlc_physical_max) return errc::invalid_argument;
  uint64_t next = 0;
  if (physical_ms > hlc_physical_ms(last_)) {
    next = hlc_make(physical_ms, 0);
  } else {
    next = last_ + 1;  // a logical overflow carries into the physical part
  }
  last_ = next;
  return stamp{next, node_};
}

result<void> hybrid_clock::update(uint64_t remote_hlc, uint64_t physical_ms) {
  if (hlc_physical_ms(remote_hlc) > physical_ms + max_offset_ms_) return errc::clock_skew;
  uint64_t m = remote_hlc > last_ ? remote_hlc : last_;
  if (physical_ms > hlc_physical_ms(m)) {
    last_ = hlc_make(physical_ms, 0);
  } else {
    last_ = m + 1;
  }
  return {};
}

}  // namespace sessionmesh::crdt
