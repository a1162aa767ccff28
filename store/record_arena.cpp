#include "store/record_arena.hpp"

#include <sys/mman.h>

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "sessionmesh/result.hpp"

namespace sessionmesh::store {

namespace {

using list = record_arena::free_list;

// A class's shared blocks: whole batches (chains of exactly cache::batch
// blocks, linked through their first words; a batch's first block links
// the next batch through its second word), so a cache trades one batch
// with a few stores under the mutex instead of a walk over blocks no one
// has touched since they were freed; and the loose blocks given one at a
// time, fewer than a batch (a batch once they make one).
struct class_lists {
  void* batches = nullptr;
  list loose;
};

// The arena's shared state. Never destroyed: records may outlive every
// store (a session handle kept past close), and their blocks come back here.
struct shared_state {
  std::mutex mu;
  std::array<class_lists, record_arena::classes> lists{};
  char* cur = nullptr;  // the chunk being carved into class blocks, up to end
  char* end = nullptr;
  char* large_cur = nullptr;  // the chunk being carved into large blocks
  char* large_end = nullptr;
  std::vector<std::pair<size_t, list>> large;  // free large blocks by exact size
  size_t mapped = 0;
  size_t shared_bytes = 0;
  size_t loading = 0;             // plain_pages_while_loading alive
  std::vector<char*> not_advised;  // chunks mapped meanwhile
};

shared_state& state() {
  static auto* s = new shared_state;
  return *s;
}

// A free block's first word links it to the next; a shared batch's first
// block's second word, to the next batch.
void*& next_of(void* block) { return *static_cast<void**>(block); }
void*& next_batch_of(void* block) { return static_cast<void**>(block)[1]; }

size_t class_of(size_t bytes) { return record_arena::block_size(bytes) / record_arena::granule - 1; }
size_t size_of_class(size_t k) { return (k + 1) * record_arena::granule; }

std::atomic<bool> huge_pages{true};

void advise(char* chunk) {
  if (!huge_pages.load(std::memory_order_relaxed)) return;
  (void)madvise(chunk, record_arena::chunk_bytes, MADV_HUGEPAGE);  // a hint: plain pages where THP is off
}

// A chunk_bytes chunk aligned to its size (so it can be one huge page),
// asked for huge pages unless a load is under way; or nullptr.
// REQUIRES: st.mu held.
char* map_chunk(shared_state& st) {
  constexpr size_t c = record_arena::chunk_bytes;
  void* m = mmap(nullptr, 2 * c, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto at = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned = (at + c - 1) & ~uintptr_t{c - 1};
  if (aligned > at) munmap(m, aligned - at);
  if (const uintptr_t tail = at + 2 * c - (aligned + c); tail != 0) munmap(reinterpret_cast<void*>(aligned + c), tail);
  auto* chunk = reinterpret_cast<char*>(aligned);
  if (st.loading != 0) {
    st.not_advised.push_back(chunk);
  } else {
    advise(chunk);
  }
  st.mapped += c;
  return chunk;
}

void push(list& l, void* block) {
  next_of(block) = l.head;
  l.head = block;
  ++l.n;
}

void* pop(list& l) {
  void* b = l.head;
  l.head = next_of(b);
  --l.n;
  return b;
}

// Makes a free large block the region class blocks are carved from (what
// was left of the old region stays unused), so the slot arrays a table
// outgrew (a size no table may ask for again) become records. Whether
// there was one. REQUIRES: st.mu held.
bool recycle_large(shared_state& st) {
  for (auto& [size, l] : st.large) {
    if (l.head == nullptr) continue;
    st.shared_bytes -= size;
    st.cur = static_cast<char*>(pop(l));
    st.end = st.cur + size;
    return true;
  }
  return false;
}

// A run of blocks carved from the class region, not linked yet: the
// caller links them after unlocking (the first store to a fresh line, or
// a huge page's first fault, waits outside the section).
struct carved {
  char* at = nullptr;
  size_t n = 0;
};

// Links a carved run of blocks of `size` bytes onto l.
void link(list& l, carved c, size_t size) {
  for (size_t i = c.n; i != 0; --i) push(l, c.at + (i - 1) * size);
}

// Adds a chain of exactly batch blocks to the shared batches of class k.
// REQUIRES: st.mu held.
void push_batch(shared_state& st, size_t k, void* head) {
  class_lists& cl = st.lists[k];
  next_batch_of(head) = cl.batches;
  cl.batches = head;
  st.shared_bytes += record_arena::cache::batch * size_of_class(k);
}

// Gives l (empty) up to n blocks of class k, n <= batch, with a few
// stores: a shared batch when n is a batch and there is one; else the
// loose blocks, all at once (a batch broken up into loose ones when there
// are none and n is less); what is still missing is carved from the region
// (a new one, a kept large block or a new chunk, when it has no room for
// one block) and returned, to be linked after unlocking.
// REQUIRES: st.mu held; l empty.
carved refill(shared_state& st, size_t k, list& l, size_t n) {
  const size_t size = size_of_class(k);
  class_lists& cl = st.lists[k];
  if (cl.batches != nullptr && (n == record_arena::cache::batch || cl.loose.head == nullptr)) {
    void* b = cl.batches;
    cl.batches = next_batch_of(b);
    if (n == record_arena::cache::batch) {
      st.shared_bytes -= n * size;
      l = {b, n};
      return {};
    }
    cl.loose = {b, record_arena::cache::batch};  // its blocks are loose now (still counted as shared)
  }
  if (n >= cl.loose.n) {
    l = cl.loose;
    cl.loose = {};
  } else {
    for (size_t i = 0; i < n; ++i) push(l, pop(cl.loose));
  }
  st.shared_bytes -= l.n * size;
  n -= l.n;
  if (n == 0) return {};
  if (static_cast<size_t>(st.end - st.cur) < size && !recycle_large(st)) {
    char* c = map_chunk(st);
    if (c == nullptr) return {};
    st.cur = c;  // what was left of the old chunk (under max_block) stays unused
    st.end = c + record_arena::chunk_bytes;
  }
  const size_t fit = std::min(n, static_cast<size_t>(st.end - st.cur) / size);
  carved out{st.cur, fit};
  st.cur += fit * size;
  return out;
}

// Adds one block to the loose blocks of class k (a batch when they make
// one). REQUIRES: st.mu held.
void give_loose(shared_state& st, size_t k, void* block) {
  const size_t size = size_of_class(k);
  list& loose = st.lists[k].loose;
  push(loose, block);
  st.shared_bytes += size;
  if (loose.n == record_arena::cache::batch) {
    st.shared_bytes -= loose.n * size;  // push_batch counts them again
    push_batch(st, k, loose.head);
    loose = {};
  }
}

}  // namespace

record_arena::cache::~cache() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  for (size_t k = 0; k < classes; ++k)
    while (lists_[k].head != nullptr) give_loose(st, k, pop(lists_[k]));
}

void* record_arena::cache::take(size_t bytes) {
  if (!enabled || bytes == 0 || bytes > max_block) return nullptr;
  const size_t k = class_of(bytes);
  list& l = lists_[k];
  if (l.head == nullptr) {
    auto& st = state();
    carved c;
    {
      std::lock_guard lk(st.mu);
      c = refill(st, k, l, batch);
    }
    link(l, c, size_of_class(k));
    if (l.head == nullptr) return nullptr;
  }
  return pop(l);
}

const void* record_arena::cache::peek(size_t bytes) const {
  if (!enabled || bytes == 0 || bytes > max_block) return nullptr;
  return lists_[class_of(bytes)].head;
}

void record_arena::cache::give(void* block, size_t bytes) {
  SM_ASSERT(enabled && bytes != 0 && bytes <= max_block);
  const size_t k = class_of(bytes);
  list& l = lists_[k];
  push(l, block);
  if (l.n > keep_max) {  // a batch goes back, so a writer that frees as much as it takes stays here
    // The batch is split off here, over blocks this cache touched lately;
    // the mutex is held for a few stores.
    void* head = l.head;
    void* last = head;
    for (size_t i = 1; i < batch; ++i) last = next_of(last);
    l.head = next_of(last);
    l.n -= batch;
    next_of(last) = nullptr;
    auto& st = state();
    std::lock_guard lk(st.mu);
    push_batch(st, k, head);
  }
}

size_t record_arena::cache::bytes() const {
  size_t b = 0;
  for (size_t k = 0; k < classes; ++k) b += lists_[k].n * size_of_class(k);
  return b;
}

void* record_arena::take_shared(size_t bytes) {
  if (!enabled || bytes == 0 || bytes > chunk_bytes) return nullptr;
  auto& st = state();
  std::lock_guard lk(st.mu);
  if (bytes <= max_block) {
    list one;
    const carved c = refill(st, class_of(bytes), one, 1);
    return c.n != 0 ? c.at : one.head;
  }
  for (auto& [size, l] : st.large) {
    if (size == bytes && l.head != nullptr) {
      st.shared_bytes -= bytes;
      return pop(l);
    }
  }
  constexpr size_t align = 64;
  const size_t need = (bytes + align - 1) / align * align;
  if (static_cast<size_t>(st.large_end - st.large_cur) < need) {
    char* c = map_chunk(st);
    if (c == nullptr) return nullptr;
    st.large_cur = c;  // the rest of the old one stays unused
    st.large_end = c + chunk_bytes;
  }
  void* b = st.large_cur;
  st.large_cur += need;
  return b;
}

void record_arena::give_shared(void* block, size_t bytes) {
  SM_ASSERT(enabled && bytes != 0 && bytes <= chunk_bytes);
  auto& st = state();
  std::lock_guard lk(st.mu);
  if (bytes <= max_block) return give_loose(st, class_of(bytes), block);
  st.shared_bytes += bytes;
  for (auto& [size, l] : st.large)
    if (size == bytes) return push(l, block);
  st.large.emplace_back(bytes, list{});
  push(st.large.back().second, block);
}

record_arena::plain_pages_while_loading::plain_pages_while_loading() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  ++st.loading;
}

record_arena::plain_pages_while_loading::~plain_pages_while_loading() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  if (--st.loading != 0) return;
  for (char* c : st.not_advised) advise(c);
  st.not_advised.clear();
  st.not_advised.shrink_to_fit();
}

void record_arena::set_huge_pages(bool on) { huge_pages.store(on, std::memory_order_relaxed); }

record_arena::stats_t record_arena::stats() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  return {st.mapped, st.shared_bytes};
}

}  // namespace sessionmesh::store
