// shared_clock: crdt::hybrid_clock for writers on many threads, without a
// lock. Its last hlc is one atomic word; each step is a compare-and-swap
// loop over crdt::hlc_next or crdt::hlc_merge, so it keeps hybrid_clock's
// invariants: every stamp it returns is unique and greater than every stamp
// returned before it (in the order the swaps took effect), and a remote hlc
// more than max_offset_ms ahead of physical time is refused (clock_skew)
// and not adopted. Sans-I/O: the caller passes physical time in.
// Thread: every member may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "crdt/hlc.hpp"
#include "crdt/stamp.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::store {

class shared_clock {
 public:
  shared_clock(uint64_t node_tag, uint64_t max_offset_ms) : node_(node_tag), max_offset_ms_(max_offset_ms) {}

  // A fresh stamp for a local event at physical time physical_ms.
  // Fails only for a physical time past the 48-bit range.
  result<crdt::stamp> now(uint64_t physical_ms) {
    if (physical_ms > crdt::hlc_physical_max) return errc::invalid_argument;
    uint64_t last = last_.load(std::memory_order_relaxed);
    uint64_t next = 0;
    do {
      next = crdt::hlc_next(last, physical_ms);
    } while (!last_.compare_exchange_weak(last, next, std::memory_order_acq_rel, std::memory_order_relaxed));
    return crdt::stamp{next, node_};
  }

  // Fold in a remote hlc received at physical time physical_ms.
  result<void> update(uint64_t remote_hlc, uint64_t physical_ms) {
    if (crdt::hlc_too_far_ahead(remote_hlc, physical_ms, max_offset_ms_)) return errc::clock_skew;
    uint64_t last = last_.load(std::memory_order_relaxed);
    while (!last_.compare_exchange_weak(last, crdt::hlc_merge(last, remote_hlc, physical_ms),
                                        std::memory_order_acq_rel, std::memory_order_relaxed)) {
    }
    return {};
  }

  // Restores the clock after restart (e.g. the largest hlc found on disk).
  void observe_persisted(uint64_t hlc) {
    uint64_t last = last_.load(std::memory_order_relaxed);
    while (hlc > last && !last_.compare_exchange_weak(last, hlc, std::memory_order_acq_rel, std::memory_order_relaxed)) {
    }
  }

  uint64_t last() const { return last_.load(std::memory_order_acquire); }
  uint64_t node() const { return node_; }
  uint64_t max_offset_ms() const { return max_offset_ms_; }

 private:
  const uint64_t node_;
  const uint64_t max_offset_ms_;
  alignas(64) std::atomic<uint64_t> last_{0};  // a line of its own: every writer swaps it
};

}  // namespace sessionmesh::store
