#include "crdt/hlc.hpp"

namespace sessionmesh::crdt {

result<stamp> hybrid_clock::now(uint64_t physical_ms) {
  if (physical_ms > hlc_physical_max) return errc::invalid_argument;
  last_ = hlc_next(last_, physical_ms);
  return stamp{last_, node_};
}

result<void> hybrid_clock::update(uint64_t remote_hlc, uint64_t physical_ms) {
  if (hlc_too_far_ahead(remote_hlc, physical_ms, max_offset_ms_)) return errc::clock_skew;
  last_ = hlc_merge(last_, remote_hlc, physical_ms);
  return {};
}

}  // namespace sessionmesh::crdt
