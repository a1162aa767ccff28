// record_arena: the blocks of packed records up to max_block bytes, carved
// from 2 MiB chunks the kernel is asked to back with huge pages
// (MADV_HUGEPAGE; where transparent huge pages are off, they are plain
// pages and all else holds).
//
// Why: a read of a random session among a million waits for the record's
// line, and with 4 KiB pages first for the page walk that finds it (the
// records of 1M sessions span ~100k pages, far past the TLB). On 2 MiB
// pages the walk mostly hits. malloc can be told so only for the whole
// process, before it starts (a glibc tunable); an embedded store may not.
//
// Blocks come in size classes of 16 bytes (16 .. max_block): a block's size
// follows from the record's size, so a record needs no size word before it.
// A cache (one per shard, inside its record_pool, under the shard's lock;
// or one per loading thread) keeps a bounded list per class and trades
// whole batches with the arena's shared lists under the arena's mutex: a
// batch is a chain kept whole, so a trade is a few stores, not a walk over
// blocks no one has touched since they were freed (the section every
// writer may wait on stays short). A block released where no cache is at
// hand goes to the shared lists alone; such blocks make a batch once there
// are enough of them.
// Chunks are kept for the process's life and their blocks reused (as
// Redis's allocator keeps its pages): the arena's mapped bytes are its peak,
// not its current use (stats()).
// Under AddressSanitizer the arena hands out nothing (records come from
// malloc, so a use after release is still reported).
// Thread: the arena is thread-safe; a cache is its owner's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sessionmesh::store {

class record_arena {
 public:
  static constexpr size_t granule = 16;
  static constexpr size_t max_block = 4096;
  static constexpr size_t classes = max_block / granule;
  static constexpr size_t chunk_bytes = size_t{2} << 20;
  // False under AddressSanitizer (the one place that tells; record_pool
  // keeps no blocks there either).
#if defined(__SANITIZE_ADDRESS__)
  static constexpr bool enabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  static constexpr bool enabled = false;
#else
  static constexpr bool enabled = true;
#endif
#else
  static constexpr bool enabled = true;
#endif

  // The block size for a record of `bytes` (header included).
  // REQUIRES: 0 < bytes <= max_block.
  static constexpr size_t block_size(size_t bytes) { return (bytes + granule - 1) / granule * granule; }

  // Free blocks of one class, linked through their first word.
  struct free_list {
    void* head = nullptr;
    size_t n = 0;
  };

  // One owner's blocks of each class, bounded (the rest go back to the
  // arena). Not thread-safe: its owner's lock, or one thread.
  class cache {
   public:
    cache() = default;
    ~cache();  // gives every block back to the arena
    cache(const cache&) = delete;
    cache& operator=(const cache&) = delete;
    // A block of block_size(bytes), or nullptr: bytes > max_block, the
    // arena disabled, or no memory (then the caller mallocs).
    void* take(size_t bytes);
    // The block take(bytes) would return first, or nullptr (a hint for a
    // prefetch: nothing changes).
    const void* peek(size_t bytes) const;
    // Keeps a block this arena gave out for a record of `bytes`.
    void give(void* block, size_t bytes);
    size_t bytes() const;  // of the blocks kept here now

    static constexpr size_t keep_max = 64;  // per class; half goes back to the arena past it
    static constexpr size_t batch = 32;     // taken from the arena at a time

   private:
    std::array<free_list, classes> lists_{};
  };

  // A block of `bytes` with no cache at hand (any thread; under the
  // arena's mutex): a size class's block up to max_block; past it, up to
  // chunk_bytes, a block of exactly that size (64-byte aligned, from
  // chunks of their own, kept on a list per size when given back: the
  // record tables' slot arrays, whose sizes are few; a kept one also
  // becomes room for class blocks when their region runs out). nullptr: past
  // chunk_bytes, the arena disabled, or no memory (the caller allocates).
  static void* take_shared(size_t bytes);
  // Gives back a block taken from this arena for `bytes` (any thread).
  static void give_shared(void* block, size_t bytes);

  // While one lives (a store recovering its data directory), new chunks
  // are mapped on plain pages and only asked for huge pages when the last
  // one goes (the kernel's khugepaged then collapses them in the
  // background): a huge page's first fault can take milliseconds (the
  // kernel finding and zeroing 2 MiB; on a VM, the host backing it), which
  // a restart would wait for hundreds of times. Any thread.
  class plain_pages_while_loading {
   public:
    plain_pages_while_loading();
    ~plain_pages_while_loading();
    plain_pages_while_loading(const plain_pages_while_loading&) = delete;
    plain_pages_while_loading& operator=(const plain_pages_while_loading&) = delete;
  };

  // Whether chunks mapped from now on are asked for huge pages (true at
  // start; store_options::huge_pages). Any thread.
  static void set_huge_pages(bool on);

  struct stats_t {
    size_t mapped = 0;  // bytes of chunks mapped (the arena's peak)
    size_t shared = 0;  // bytes of blocks on the shared lists (both kinds)
  };
  static stats_t stats();
};

}  // namespace sessionmesh::store
