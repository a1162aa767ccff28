#include "store/reclaim.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <mutex>

#include "sessionmesh/result.hpp"

namespace sessionmesh::store::reclaim {

namespace detail {
std::atomic<uint64_t> global_epoch{1};
bool light_readers = false;
thread_local reader_slot* thread_slot = nullptr;
}  // namespace detail

namespace {

std::atomic<reader_slot*> registry{nullptr};
std::once_flag init_flag;

long membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

// Decided once, before the first slot is claimed or the first reclaim runs
// (both pass here): readers read the flag without synchronization after.
void init() {
  std::call_once(init_flag, [] {
    const long q = membarrier(MEMBARRIER_CMD_QUERY);
    detail::light_readers = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                            membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  });
}

// Gives the thread's slot back when it exits.
struct slot_owner {
  reader_slot* s = nullptr;
  ~slot_owner() {
    if (s == nullptr) return;
    SM_ASSERT(s->depth == 0);
    detail::thread_slot = nullptr;
    s->owned.store(false, std::memory_order_release);
  }
};
thread_local slot_owner owner;

// Orders every reader's slot store before the scan that follows, or the
// reader's later loads after the unlinks that preceded this call.
void heavy_barrier() {
  if (detail::light_readers) {
    const long r = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    SM_ASSERT(r == 0);  // registered in init(): it cannot be refused after
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

}  // namespace

reader_slot* detail::claim_slot() {
  init();
  reader_slot* s = registry.load(std::memory_order_acquire);
  for (; s != nullptr; s = s->next) {
    bool free = false;
    if (s->owned.compare_exchange_strong(free, true, std::memory_order_acq_rel)) break;
  }
  if (s == nullptr) {
    s = new reader_slot;  // never freed: a thread may still be scanning the list
    s->owned.store(true, std::memory_order_relaxed);
    s->next = registry.load(std::memory_order_relaxed);
    while (!registry.compare_exchange_weak(s->next, s, std::memory_order_acq_rel)) {
    }
  }
  owner.s = s;
  thread_slot = s;
  return s;
}

bool uses_membarrier() {
  init();
  return detail::light_readers;
}

retired_list::~retired_list() {
  for (const auto& it : items_) it.fn(it.p, it.ctx);
}

void retired_list::retire(void* p, free_fn fn, void* ctx, size_t bytes) {
  items_.push_back({pending, p, fn, ctx, bytes});  // its epoch is given by the next reclaim
  bytes_ += bytes;
}

size_t retired_list::reclaim() {
  if (items_.empty()) return 0;
  init();
  // Everything waiting was unlinked before this increment (by this thread,
  // or by a writer that held the owner's lock before it): a release
  // read-modify-write, so a reader that reads this epoch or a later one
  // (acquire) is ordered after those unlinks and cannot reach them. One
  // such write per reclaim, none per retire: writers share no line.
  const uint64_t e = detail::global_epoch.fetch_add(1, std::memory_order_acq_rel) + 1;
  for (auto& it : items_)
    if (it.epoch == pending) it.epoch = e;
  heavy_barrier();
  uint64_t oldest = std::numeric_limits<uint64_t>::max();
  for (reader_slot* s = registry.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    const uint64_t r = s->epoch.load(std::memory_order_acquire);
    if (r != 0) oldest = std::min(oldest, r);
  }
  // An item of epoch e is out of reach of every reader that began in e or
  // later; a reader that began earlier (still in its guard) may hold it.
  // Frees in place, the kept ones closed up in order (std::stable_partition
  // would allocate a buffer on every reclaim).
  // The release writes each object's first line (a reference count, a
  // free list's link), untouched since it was retired: asked for a few
  // items ahead, so the misses overlap instead of coming one by one.
  constexpr size_t ahead = 4;
  size_t freed = 0, kept = 0;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i + ahead < items_.size()) __builtin_prefetch(items_[i + ahead].p, 1);
    auto& it = items_[i];
    if (it.epoch > oldest) {
      items_[kept++] = it;
      continue;
    }
    it.fn(it.p, it.ctx);
    bytes_ -= it.bytes;
    ++freed;
  }
  items_.resize(kept);
  return freed;
}

}  // namespace sessionmesh::store::reclaim
