#include "store/merkle_index.hpp"

#include <xxhash.h>

namespace sessionmesh::store {

uint64_t merkle_index::entry_hash(uint64_t id_hash, uint64_t digest) {
  const uint64_t both[2] = {id_hash, digest};
  return XXH3_64bits(both, sizeof both);
}

void merkle_index::update(uint64_t id_hash, uint64_t old_digest, uint64_t new_digest) {
  if (old_digest == new_digest) return;
  sketch_.update(id_hash, old_digest, new_digest);
  const uint64_t add = new_digest ? entry_hash(id_hash, new_digest) : 0;
  const uint64_t sub = old_digest ? entry_hash(id_hash, old_digest) : 0;
  const uint64_t delta = add - sub;  // wrapping
  const uint32_t leaf = leaf_of(id_hash);
  for (int d = depth; d >= 0; --d) {
    const size_t i = leaf >> (fanout_bits * (depth - d));
    level_[d][i].fetch_add(delta, std::memory_order_relaxed);
  }
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
    if (delta == 0) continue;
    for (int d = depth; d >= 0; --d)
      level_[d][leaf >> (fanout_bits * (depth - d))].fetch_add(delta, std::memory_order_relaxed);
  }
  sketch_.merge(b.entries);
}

std::vector<uint64_t> merkle_index::level(int d) const {
  std::vector<uint64_t> out(size_at(d));
  for (size_t i = 0; i < out.size(); ++i) out[i] = level_[d][i].load(std::memory_order_relaxed);
  return out;
}

}  // namespace sessionmesh::store
