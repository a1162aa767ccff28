// record_pool: one shard's spare record blocks. A record the shard's map
// dropped and no one else holds (its last reference released when the
// shard reclaims it) is kept here instead of freed, and the shard's next
// write of a record that fits takes it instead of calling malloc. A patch
// replaces a record with one of about the same size, so in steady state a
// write allocates nothing and frees nothing: no allocator bookkeeping, and
// no lock of another thread's malloc arena (which a free of a block that
// thread allocated takes).
// A shard reclaims its dropped records in batches (reclaim::retired_list:
// up to 256 records or 256 KiB), so the pool holds up to a batch of small
// records: at most max_blocks blocks and max_bytes bytes (4 MiB over the
// 64 shards); a block beyond either goes back to malloc. Blocks are
// malloc's: free() of a taken one stays correct.
// Under AddressSanitizer it keeps nothing (every block freed at once), so a
// use after release is still reported.
// It also holds the shard's record arena cache (store/record_arena.hpp):
// records up to record_arena::max_block come from there first.
// Thread: the owning shard's unique lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "store/record_arena.hpp"

namespace sessionmesh::store {

class record_pool {
 public:
  static constexpr size_t max_blocks = 256;
  static constexpr size_t max_bytes = size_t{64} << 10;
  // A block taken may be up to this much larger than asked for.
  static constexpr size_t max_slack = 64;
  // False under AddressSanitizer (as the record arena is off there): every
  // block given goes back to malloc.
  static constexpr bool keeps_blocks = record_arena::enabled;

  record_pool() = default;
  ~record_pool();
  record_pool(const record_pool&) = delete;
  record_pool& operator=(const record_pool&) = delete;

  // A block of at least `bytes` usable bytes (and at most max_slack more),
  // its usable size in *usable; or nullptr: then the caller mallocs.
  void* take(size_t bytes, size_t* usable);
  // The shard's record arena cache.
  record_arena::cache& arena() { return arena_; }
  // Asks for the lines of the block a record of `bytes` would be written
  // into now (the arena's, else the one take(bytes) would return; up to
  // 512 bytes of it), for writing, without waiting: a block the pool kept
  // was last touched a batch of writes ago, and a record written into it
  // would otherwise wait for each line in turn. A hint: nothing changes.
  void prefetch(size_t bytes) const;
  // Keeps a malloc'ed block no one refers to (or frees it).
  // REQUIRES: usable == malloc_usable_size(block) (the caller knows it:
  // asking malloc would read a word on a line no one else touches).
  void give(void* block, size_t usable);
  // Heap bytes the kept blocks take (malloc's usable size and header; the
  // arena cache's block sizes).
  size_t bytes() const { return bytes_ + arena_.bytes(); }
  size_t size() const { return n_; }

 private:
  struct block {
    void* p;
    size_t usable;  // malloc_usable_size(p)
  };
  // The index of the block take(bytes) takes, or max_blocks for none.
  size_t pick(size_t bytes) const;
  record_arena::cache arena_;
  block blocks_[max_blocks] = {};
  size_t n_ = 0;
  size_t bytes_ = 0;
};

}  // namespace sessionmesh::store
