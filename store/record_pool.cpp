#include "store/record_pool.hpp"

#include <malloc.h>

#include <cstdlib>

namespace sessionmesh::store {

record_pool::~record_pool() {
  for (size_t i = 0; i < n_; ++i) std::free(blocks_[i].p);
}

size_t record_pool::pick(size_t bytes) const {
  // The newest few: a patch's record is about the size of the one it
  // replaced, and the blocks of one batch are of the sizes its writes made.
  for (size_t k = 0; k < n_ && k < 4; ++k) {
    const size_t i = n_ - 1 - k;
    if (blocks_[i].usable >= bytes && blocks_[i].usable <= bytes + max_slack) return i;
  }
  return max_blocks;
}

void* record_pool::take(size_t bytes, size_t* usable) {
  const size_t i = pick(bytes);
  if (i == max_blocks) return nullptr;
  const block b = blocks_[i];
  blocks_[i] = blocks_[n_ - 1];
  --n_;
  bytes_ -= b.usable + sizeof(size_t);
  *usable = b.usable;
  return b.p;
}

void record_pool::prefetch(size_t bytes) const {
  const char* p = static_cast<const char*>(arena_.peek(bytes));
  if (p == nullptr) {
    const size_t i = pick(bytes);
    if (i == max_blocks) return;
    p = static_cast<const char*>(blocks_[i].p);
  }
  for (size_t off = 0; off < bytes && off < 512; off += 64) __builtin_prefetch(p + off, 1);
}

void record_pool::give(void* p, size_t usable) {
  if (!keeps_blocks || n_ == max_blocks || bytes_ + usable + sizeof(size_t) > max_bytes) {
    std::free(p);
    return;
  }
  bytes_ += usable + sizeof(size_t);
  blocks_[n_++] = {p, usable};
}

}  // namespace sessionmesh::store
