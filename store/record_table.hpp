// record_table: one shard's records, an open-addressing table of
// packed_record pointers keyed by the id's xxh3 hash, which readers search
// with no lock while one writer changes it.
//
// A slot is one 64-bit word: 0 empty, 1 removed, else the record's address
// with 16 bits of the hash above it (a probe compares those bits before it
// reads a record). Linear probing; at most 4/5 of the slots are in use
// (live or removed), so a probe always ends on an empty slot.
// Under AddressSanitizer the hash bits are left out (every slot is a bare
// address): LeakSanitizer finds an object only through a word holding its
// address, and would report each record the table alone refers to as
// leaked. Probes then compare ids on every live slot; results are the same.
//
// Contract:
// - find() may run without the shard's lock inside a reclaim::read_guard:
//   it sees each slot as before or after a concurrent change, and an array
//   the writer replaced stays readable (retired, not freed).
// - Writers (put, erase, reserve) hold the shard's unique lock. They return
//   what they unlinked; the caller retires it (readers may still hold it).
// - Iteration and size() need the shard's lock (shared or unique).
// - The table holds pointers only: it never retains or releases a record.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

// Inlined: a 16-byte id hashes in a few instructions instead of a call.
#define XXH_INLINE_ALL
#include <xxhash.h>
#undef XXH_INLINE_ALL

#include "store/packed.hpp"
#include "store/reclaim.hpp"

namespace sessionmesh::store {

inline uint64_t id_hash64(std::string_view id) { return XXH3_64bits(id.data(), id.size()); }

class record_table {
 public:
  explicit record_table(reclaim::retired_list& retired) : retired_(retired) {}
  ~record_table();
  record_table(const record_table&) = delete;
  record_table& operator=(const record_table&) = delete;

  detail::packed_record* find(uint64_t hash, std::string_view id) const {
    const slots* a = a_.load(std::memory_order_acquire);
    if (a == nullptr) return nullptr;
    const uint64_t tag = tag_of(hash);
    for (size_t i = hash & a->mask;; i = (i + 1) & a->mask) {
      const uint64_t v = a->at(i).load(std::memory_order_acquire);
      if (v == empty) return nullptr;
      if ((v & ~addr_mask) == tag && v != removed) {
        auto* p = reinterpret_cast<detail::packed_record*>(v & addr_mask);
        // The compare reads the record's first line; the next two (where
        // its maps and usually the first values start, wherever malloc put
        // the record within a line) are fetched alongside, not after.
        __builtin_prefetch(reinterpret_cast<const char*>(p) + 64);
        __builtin_prefetch(reinterpret_cast<const char*>(p) + 128);
        if (detail::same_id(detail::packed_id(p), id)) return p;
      }
    }
  }

  // Asks for the cache line of the slot where a probe for hash starts,
  // without waiting for it (a hint: no lock or guard needed).
  void prefetch_slot(uint64_t hash) const {
    const slots* a = a_.load(std::memory_order_acquire);
    if (a != nullptr) __builtin_prefetch(&a->at(hash & a->mask));
  }

  // Puts p, whose id is id (hashing to hash), in place of the record with
  // that id; returns that record, or nullptr if there was none. The id is
  // the caller's, not read back from p: a writer puts a record whose lines
  // it has just filled, and a read of them waits for those stores to reach
  // the cache. REQUIRES: id == detail::packed_id(p).
  detail::packed_record* put(uint64_t hash, std::string_view id, detail::packed_record* p);
  // Takes out the record with this id; returns it, or nullptr.
  detail::packed_record* erase(uint64_t hash, std::string_view id);
  // Room for n records without growing.
  void reserve(size_t n);
  size_t size() const { return live_; }
  size_t capacity() const { return a_ ? a_.load(std::memory_order_relaxed)->mask + 1 : 0; }
  size_t heap_bytes() const { return a_ ? alloc_bytes(capacity()) : 0; }

  class iterator {
   public:
    iterator(const record_table* t, size_t i) : t_(t), i_(i) { skip(); }
    detail::packed_record* operator*() const {
      return reinterpret_cast<detail::packed_record*>(t_->raw(i_) & addr_mask);
    }
    iterator& operator++() {
      ++i_;
      skip();
      return *this;
    }
    bool operator!=(const iterator& o) const { return i_ != o.i_; }

   private:
    void skip() {
      while (i_ < t_->capacity() && t_->raw(i_) <= removed) ++i_;
    }
    const record_table* t_;
    size_t i_;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, capacity()}; }

 private:
  static constexpr uint64_t empty = 0;
  static constexpr uint64_t removed = 1;
  static constexpr uint64_t addr_mask = (uint64_t{1} << 48) - 1;
#if defined(__SANITIZE_ADDRESS__)
#define SM_RECORD_TABLE_BARE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SM_RECORD_TABLE_BARE 1
#endif
#endif
#ifdef SM_RECORD_TABLE_BARE
  static uint64_t tag_of(uint64_t) { return 0; }  // see the header comment
#else
  static uint64_t tag_of(uint64_t hash) { return (hash >> 32) << 48; }
#endif

  struct slots {
    size_t mask;
    std::atomic<uint64_t>& at(size_t i) { return reinterpret_cast<std::atomic<uint64_t>*>(this + 1)[i]; }
    const std::atomic<uint64_t>& at(size_t i) const {
      return reinterpret_cast<const std::atomic<uint64_t>*>(this + 1)[i];
    }
  };
  static size_t alloc_bytes(size_t cap) { return sizeof(slots) + cap * sizeof(uint64_t); }
  static slots* make(size_t cap);
  static void free_slots(void* a, void*);
  uint64_t raw(size_t i) const { return a_.load(std::memory_order_relaxed)->at(i).load(std::memory_order_relaxed); }
  // Moves every live record into a new array of cap slots and retires the old one.
  void rehash(size_t cap);

  std::atomic<slots*> a_{nullptr};
  size_t live_ = 0;
  size_t used_ = 0;  // live and removed slots
  reclaim::retired_list& retired_;
};

}  // namespace sessionmesh::store
