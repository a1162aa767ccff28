// reclaim: epoch-based reclamation, so that readers of the record map take
// no lock and write no shared line. A reader holds a read_guard while it
// follows pointers out of the map; a writer that unlinks something hands it
// to a retired_list, which frees it only once no guard that could have seen
// it is still held.
//
// Readers pay two plain stores to their own thread's slot. The ordering a
// reader's store would need (its slot visible before its loads) is paid by
// the reclaimer instead: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a
// full barrier on every thread of the process. Where the kernel refuses it,
// readers and reclaimer both fall back to a seq_cst fence.
//
// Contract:
// - Inside a read_guard, a pointer loaded (acquire) from a structure whose
//   writers retire what they unlink stays valid until the guard ends.
// - Guards nest on a thread; a guard never blocks and never waits.
// - retired_list::reclaim() never waits either: what a guard may still see
//   stays on the list for a later call.
// Thread: read_guard is per thread (not movable across threads). A
// retired_list is guarded by its owner (the record map's shard lock).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sessionmesh::store::reclaim {

// One per thread that has read. epoch: the global epoch its outermost
// guard began in (0: no guard held); depth: its guards, nested.
struct alignas(64) reader_slot {
  std::atomic<uint64_t> epoch{0};
  uint32_t depth = 0;  // only its own thread touches it
  std::atomic<bool> owned{false};
  reader_slot* next = nullptr;  // the registry's list; never unlinked
};

namespace detail {
extern std::atomic<uint64_t> global_epoch;
extern bool light_readers;  // membarrier is available; set before any slot is claimed
extern thread_local reader_slot* thread_slot;
reader_slot* claim_slot();  // first guard on a thread
}  // namespace detail

inline reader_slot* this_thread_slot() {
  reader_slot* s = detail::thread_slot;
  return s != nullptr ? s : detail::claim_slot();
}
// Release stores: a reclaimer that reads the slot (acquire) is ordered after
// everything this thread read under its earlier guards.
inline void enter(reader_slot* s) {
  if (s->depth++ != 0) return;
  s->epoch.store(detail::global_epoch.load(std::memory_order_acquire), std::memory_order_release);
  if (detail::light_readers)
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the reclaimer's membarrier orders it
  else
    std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline void leave(reader_slot* s) {
  if (--s->depth == 0) s->epoch.store(0, std::memory_order_release);
}

class read_guard {
 public:
  read_guard() : s_(this_thread_slot()) { enter(s_); }
  ~read_guard() { leave(s_); }
  read_guard(const read_guard&) = delete;
  read_guard& operator=(const read_guard&) = delete;

 private:
  reader_slot* s_;
};

// Objects unlinked from a shared structure, each freed by its own function
// once no reader can hold it.
class retired_list {
 public:
  using free_fn = void (*)(void* p, void* ctx);
  retired_list() = default;
  ~retired_list();  // frees everything: REQUIRES no reader left
  retired_list(const retired_list&) = delete;
  retired_list& operator=(const retired_list&) = delete;

  // REQUIRES: p is no longer reachable from the structure (new readers
  // cannot find it). bytes only steer when reclaim is worth its barrier.
  // fn(p, ctx) frees it.
  void retire(void* p, free_fn fn, void* ctx, size_t bytes);
  // Frees what no reader can still hold; returns how many were freed.
  size_t reclaim();
  // True when enough is waiting that a reclaim is worth its barrier.
  bool due() const { return items_.size() >= max_items || bytes_ >= max_bytes; }
  size_t size() const { return items_.size(); }
  size_t bytes() const { return bytes_; }

  static constexpr size_t max_items = 256;
  static constexpr size_t max_bytes = size_t{256} << 10;

 private:
  static constexpr uint64_t pending = 0;  // retired since the last reclaim
  struct item {
    uint64_t epoch;  // the epoch the reclaim after its retire began (pending: none yet)
    void* p;
    free_fn fn;
    void* ctx;
    size_t bytes;
  };
  std::vector<item> items_;
  size_t bytes_ = 0;
};

// For tests: whether readers rely on membarrier (false: seq_cst fences).
bool uses_membarrier();

}  // namespace sessionmesh::store::reclaim
