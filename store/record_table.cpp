#include "store/record_table.hpp"

#include <new>

#include "sessionmesh/result.hpp"
#include "store/record_arena.hpp"

namespace sessionmesh::store {

namespace {
constexpr size_t min_capacity = 16;
// Whether a slot array of this many bytes comes from the record arena.
bool in_arena(size_t bytes) { return record_arena::enabled && bytes <= record_arena::chunk_bytes; }
// In use (live and removed) at most 4/5 of the slots.
bool over_full(size_t used, size_t cap) { return used * 5 > cap * 4; }
// A new array holds the live records at most half full: twice the slots
// when it grows from 4/5 full (at most 2/5 would take four times as many
// at the very point of growth).
size_t capacity_for(size_t live) {
  size_t cap = min_capacity;
  while (live * 2 > cap) cap *= 2;
  return cap;
}
}  // namespace

record_table::slots* record_table::make(size_t cap) {
  SM_ASSERT(cap >= min_capacity && (cap & (cap - 1)) == 0);
  // From the record arena when it fits a chunk: slot arrays on huge pages
  // too, so a lookup's walk to the slot hits the TLB as its walk to the
  // record does.
  const size_t bytes = alloc_bytes(cap);
  void* mem = nullptr;
  if (in_arena(bytes)) {
    mem = record_arena::take_shared(bytes);
    if (mem == nullptr) throw std::bad_alloc();
  } else {
    mem = ::operator new(bytes);
  }
  auto* a = new (mem) slots{cap - 1};
  for (size_t i = 0; i < cap; ++i) new (&a->at(i)) std::atomic<uint64_t>(empty);
  return a;
}

void record_table::free_slots(void* a, void*) {
  const size_t bytes = alloc_bytes(static_cast<slots*>(a)->mask + 1);
  if (in_arena(bytes)) {
    record_arena::give_shared(a, bytes);
  } else {
    ::operator delete(a);
  }
}

record_table::~record_table() {
  if (auto* a = a_.load(std::memory_order_relaxed)) free_slots(a, nullptr);
}

void record_table::rehash(size_t cap) {
  slots* old = a_.load(std::memory_order_relaxed);
  slots* a = make(cap);
  if (old != nullptr) {
    for (size_t i = 0; i <= old->mask; ++i) {
      const uint64_t v = old->at(i).load(std::memory_order_relaxed);
      if (v <= removed) continue;
      const auto* p = reinterpret_cast<const detail::packed_record*>(v & addr_mask);
      size_t j = id_hash64(detail::packed_id(p)) & a->mask;
      while (a->at(j).load(std::memory_order_relaxed) != empty) j = (j + 1) & a->mask;
      a->at(j).store(v, std::memory_order_relaxed);
    }
  }
  a_.store(a, std::memory_order_release);  // readers see the filled array or the old one
  used_ = live_;
  if (old != nullptr) {
    retired_.retire(old, free_slots, nullptr, alloc_bytes(old->mask + 1));
    (void)retired_.reclaim();  // rare and large: freed now unless a reader is on it
  }
}

detail::packed_record* record_table::put(uint64_t hash, std::string_view id, detail::packed_record* p) {
  const auto addr = reinterpret_cast<uint64_t>(p);
  SM_ASSERT(addr > removed && (addr & ~addr_mask) == 0);  // a user-space address fits in 48 bits
  slots* a = a_.load(std::memory_order_relaxed);
  if (a == nullptr || over_full(used_ + 1, a->mask + 1)) {
    rehash(capacity_for(live_ + 1));
    a = a_.load(std::memory_order_relaxed);
  }
  const uint64_t tag = tag_of(hash);
  size_t reuse = SIZE_MAX;
  size_t i = hash & a->mask;
  for (;; i = (i + 1) & a->mask) {
    const uint64_t v = a->at(i).load(std::memory_order_relaxed);
    if (v == empty) break;
    if (v == removed) {
      if (reuse == SIZE_MAX) reuse = i;
      continue;
    }
    if ((v & ~addr_mask) != tag) continue;
    auto* old = reinterpret_cast<detail::packed_record*>(v & addr_mask);
    if (detail::packed_id(old) != id) continue;
    a->at(i).store(tag | addr, std::memory_order_release);  // published: its bytes before its address
    return old;
  }
  if (reuse == SIZE_MAX) {
    reuse = i;
    ++used_;
  }
  a->at(reuse).store(tag | addr, std::memory_order_release);
  ++live_;
  return nullptr;
}

detail::packed_record* record_table::erase(uint64_t hash, std::string_view id) {
  slots* a = a_.load(std::memory_order_relaxed);
  if (a == nullptr) return nullptr;
  const uint64_t tag = tag_of(hash);
  for (size_t i = hash & a->mask;; i = (i + 1) & a->mask) {
    const uint64_t v = a->at(i).load(std::memory_order_relaxed);
    if (v == empty) return nullptr;
    if ((v & ~addr_mask) != tag || v == removed) continue;
    auto* old = reinterpret_cast<detail::packed_record*>(v & addr_mask);
    if (detail::packed_id(old) != id) continue;
    a->at(i).store(removed, std::memory_order_release);
    --live_;
    return old;
  }
}

void record_table::reserve(size_t n) {
  const slots* a = a_.load(std::memory_order_relaxed);
  if (a != nullptr && !over_full(n, a->mask + 1)) return;
  size_t cap = min_capacity;
  while (over_full(n, cap)) cap *= 2;
  if (a == nullptr || cap > a->mask + 1) rehash(cap);
}

}  // namespace sessionmesh::store
