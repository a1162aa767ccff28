// record_map: the sharded in-memory map of packed records, keyed by id.
// 64 shards chosen by the top bits of xxh3(id); each shard is an
// absl::flat_hash_set of packed_record pointers (the id lives inside the
// record, so a slot is one pointer) guarded by its own shared_mutex.
// The set owns one reference of every record it holds.
// Thread: lock the shard (shared to read, unique to write) before touching
// its set.
#pragma once

#include <absl/container/flat_hash_set.h>
// Inlined: a 16-byte id hashes in a few instructions instead of a call.
#define XXH_INLINE_ALL
#include <xxhash.h>
#undef XXH_INLINE_ALL

#include <array>
#include <shared_mutex>
#include <string_view>

#include "store/packed.hpp"

namespace sessionmesh::store {

inline uint64_t id_hash64(std::string_view id) { return XXH3_64bits(id.data(), id.size()); }

// An id with its id_hash64, computed once: the shard and the slot come from
// the same hash (a lookup keyed by it hashes nothing more).
struct hashed_id {
  explicit hashed_id(std::string_view i) : id(i), hash(id_hash64(i)) {}
  std::string_view id;
  uint64_t hash;
};

struct packed_id_hash {
  using is_transparent = void;
  size_t operator()(std::string_view id) const { return id_hash64(id); }
  size_t operator()(const hashed_id& k) const { return k.hash; }
  size_t operator()(const detail::packed_record* p) const { return id_hash64(detail::packed_id(p)); }
};

struct packed_id_eq {
  using is_transparent = void;
  static std::string_view key(std::string_view s) { return s; }
  static std::string_view key(const hashed_id& k) { return k.id; }
  // Comparing reads the record's first line; its second (where the maps
  // and usually the first values start) is fetched alongside, so a reader
  // of the found record does not wait for it after the compare.
  static std::string_view key(const detail::packed_record* p) {
    __builtin_prefetch(reinterpret_cast<const char*>(p) + 64);
    return detail::packed_id(p);
  }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const { return key(a) == key(b); }
};

using record_set = absl::flat_hash_set<detail::packed_record*, packed_id_hash, packed_id_eq>;

struct shard {
  mutable std::shared_mutex mu;
  record_set set;
};

class record_map {
 public:
  static constexpr size_t shard_count = 64;
  record_map() = default;
  ~record_map();
  record_map(const record_map&) = delete;
  record_map& operator=(const record_map&) = delete;

  // The shard of an id with this id_hash64: its top 6 bits.
  static size_t shard_index(uint64_t id_hash) { return id_hash >> 58; }
  shard& shard_for(std::string_view id) { return shards_[shard_index(id_hash64(id))]; }
  shard& shard_for(const hashed_id& k) { return shards_[shard_index(k.hash)]; }
  shard& at(size_t i) { return shards_[i]; }
  // Replaces (or inserts) the record p, whose id is k; takes p's
  // reference. A replaced record's slot is reused. REQUIRES: unique lock on sh.
  static void put(shard& sh, const hashed_id& k, detail::packed_record* p);
  // REQUIRES: unique lock on sh.
  static void erase(shard& sh, std::string_view id);
  // The record with this id, or nullptr. REQUIRES: a lock on sh.
  static detail::packed_record* find(const shard& sh, std::string_view id) {
    auto it = sh.set.find(id);
    return it == sh.set.end() ? nullptr : *it;
  }
  static detail::packed_record* find(const shard& sh, const hashed_id& k) {
    auto it = sh.set.find(k);
    return it == sh.set.end() ? nullptr : *it;
  }
  // Heap bytes of the slot arrays (not the records).
  size_t table_bytes() const;

 private:
  std::array<shard, shard_count> shards_;
};

}  // namespace sessionmesh::store
