#include "store/record_map.hpp"

#include <mutex>

namespace sessionmesh::store {

record_map::~record_map() {
  for (auto& sh : shards_)
    for (auto* p : sh.set) detail::release(p);
}

void record_map::put(shard& sh, const hashed_id& k, detail::packed_record* p) {
  auto it = sh.set.find(k);
  if (it == sh.set.end()) {
    sh.set.insert(p);
    return;
  }
  detail::packed_record* old = *it;
  // Same id, so the same hash and slot: the set's order is untouched.
  const_cast<detail::packed_record*&>(*it) = p;
  detail::release(old);
}

void record_map::erase(shard& sh, std::string_view id) {
  auto it = sh.set.find(id);
  if (it == sh.set.end()) return;
  detail::packed_record* old = *it;
  sh.set.erase(it);
  detail::release(old);
}

size_t record_map::table_bytes() const {
  size_t b = 0;
  for (const auto& sh : shards_) {
    std::shared_lock lk(sh.mu);
    b += sh.set.capacity() * (sizeof(void*) + 1);
  }
  return b;
}

}  // namespace sessionmesh::store
