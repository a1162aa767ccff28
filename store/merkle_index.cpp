#include "store/merkle_index.hpp"

// Inlined: two 8-byte words hash in a few instructions, twice per write.
#define XXH_INLINE_ALL
#include <xxhash.h>
#undef XXH_INLINE_ALL

namespace sessionmesh::store {

uint64_t merkle_index::entry_hash(uint64_t id_hash, uint64_t digest) {
  const uint64_t both[2] = {id_hash, digest};
  return XXH3_64bits(both, sizeof both);
}

void merkle_index::update(uint64_t id_hash, uint64_t old_digest, uint64_t new_digest) {
  if (old_digest == new_digest) return;
  sketch_.update(id_hash, old_digest, new_digest);
  const uint64_t plus = new_digest ? entry_hash(id_hash, new_digest) : 0;
  const uint64_t minus = old_digest ? entry_hash(id_hash, old_digest) : 0;
  const uint64_t delta = plus - minus;  // wrapping
  add(leaf_of(id_hash), delta);
}

void merkle_index::add(uint32_t leaf, uint64_t delta) {
  for (int d = depth; d >= stored_from; --d)
    level_[d][leaf >> (fanout_bits * (depth - d))].fetch_add(delta, std::memory_order_relaxed);
}

uint64_t merkle_index::node(int d, size_t i) const {
  if (d >= stored_from) return level_[d][i].load(std::memory_order_relaxed);
  const size_t span = size_at(stored_from - d);  // stored nodes under one node of level d
  uint64_t sum = 0;
  for (size_t k = i * span; k < (i + 1) * span; ++k) sum += level_[stored_from][k].load(std::memory_order_relaxed);
  return sum;
}

void merkle_index::batch::add(uint64_t id_hash, uint64_t digest) {
  leaf_sums[leaf_of(id_hash)] += entry_hash(id_hash, digest);  // wrapping
  entries.add(id_hash, digest);
}

void merkle_index::batch::remove(uint64_t id_hash, uint64_t digest) {
  leaf_sums[leaf_of(id_hash)] -= entry_hash(id_hash, digest);
  entries.remove(id_hash, digest);
}

void merkle_index::merge(const batch& b) {
  for (uint32_t leaf = 0; leaf < leaves; ++leaf) {
    const uint64_t delta = b.leaf_sums[leaf];
    if (delta != 0) add(leaf, delta);
  }
  sketch_.merge(b.entries);
}

std::vector<uint64_t> merkle_index::level(int d) const {
  std::vector<uint64_t> out(size_at(d));
  for (size_t i = 0; i < out.size(); ++i) out[i] = node(d, i);
  return out;
}

}  // namespace sessionmesh::store
