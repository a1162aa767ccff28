// merkle_index: a fixed-shape hash tree over the records of a store, kept in
// step with the map (updated under the shard lock in every write path).
// Leaves are buckets by the top 12 bits of xxh3(id) (4,096 leaves: tens of
// records each at 100k+ sessions); fan-out 16 gives levels of 1, 16, 256 and
// 4,096 nodes. A node's hash is the wrapping sum of entry hashes beneath it,
// entry hash = xxh3(id hash, record digest), so an update is O(depth) and
// order-free: two stores holding the same records have the same tree.
// Only levels 2 and 3 are stored; the root and level 1 are summed from
// level 2 when read (anti-entropy reads them once per exchange). Every
// write would otherwise add into the same two cache lines from every core,
// while a level-2 node or leaf is written only under its own shard's lock
// (a shard is the top 6 bits of the id hash; a level-2 node the top 8).
// Beside the tree it keeps a diff_sketch of the same entries (one update
// feeds both), for exchanges that cost the size of the difference.
// Thread: lock-free (relaxed atomics); readers may see a write half-applied
// across levels, which anti-entropy tolerates (it re-checks next round).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "store/diff_sketch.hpp"

namespace sessionmesh::store {

class merkle_index {
 public:
  static constexpr int leaf_bits = 12;
  static constexpr int fanout_bits = 4;
  static constexpr int depth = leaf_bits / fanout_bits;  // levels below the root
  static constexpr size_t leaves = size_t{1} << leaf_bits;

  static uint32_t leaf_of(uint64_t id_hash) { return static_cast<uint32_t>(id_hash >> (64 - leaf_bits)); }
  static uint64_t entry_hash(uint64_t id_hash, uint64_t digest);

  // Replaces a record's contribution: old_digest 0 = absent before,
  // new_digest 0 = absent after.
  void update(uint64_t id_hash, uint64_t old_digest, uint64_t new_digest);
  uint64_t root() const { return node(0, 0); }
  // The 16^d hashes of level d (0 = root, depth = leaves).
  std::vector<uint64_t> level(int d) const;
  uint64_t node(int d, size_t i) const;
  // Entries added in bulk (recovery): built on any thread without atomics,
  // then merged once; equal to calling update(h, 0, d) for each.
  struct batch {
    std::vector<uint64_t> leaf_sums = std::vector<uint64_t>(leaves, 0);
    sketch entries{sketch::max_bits};
    void add(uint64_t id_hash, uint64_t digest);
    void remove(uint64_t id_hash, uint64_t digest);
  };
  void merge(const batch& b);
  // The entries' sketch folded to 2^bits cells per sub-table.
  sketch fold_sketch(int bits) const { return sketch_.fold(bits); }

 private:
  static constexpr size_t size_at(int d) { return size_t{1} << (fanout_bits * d); }
  static constexpr int stored_from = 2;  // levels above are sums of this one
  // Adds delta to a leaf and the stored level above it.
  void add(uint32_t leaf, uint64_t delta);
  std::array<std::vector<std::atomic<uint64_t>>, depth + 1> level_ = [] {
    std::array<std::vector<std::atomic<uint64_t>>, depth + 1> l;
    for (int d = stored_from; d <= depth; ++d) l[d] = std::vector<std::atomic<uint64_t>>(size_at(d));
    return l;
  }();
  live_sketch sketch_;
};

}  // namespace sessionmesh::store
