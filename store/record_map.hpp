// record_map: the sharded in-memory map of packed records, keyed by id.
// 64 shards chosen by the top bits of xxh3(id); each shard is a
// record_table of packed_record pointers (the id lives inside the record,
// so a slot is one word) with its own shared_mutex and retired list.
// The map owns one reference of every record it holds; a record it drops
// is released only once no reader can still hold it (store/reclaim.hpp).
// Thread: writers lock the shard uniquely; iterating needs the shard lock
// (shared); find() needs the lock or a reclaim::read_guard.
#pragma once

#include <array>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/packed.hpp"
#include "store/reclaim.hpp"
#include "store/record_pool.hpp"
#include "store/record_table.hpp"

namespace sessionmesh::store {

struct hashed_id {
  explicit hashed_id(std::string_view i) : id(i), hash(id_hash64(i)) {}
  std::string_view id;
  uint64_t hash;
};

struct shard {
  mutable std::shared_mutex mu;
  record_pool pool;               // before retired: outlives it (reclaim gives blocks to it)
  reclaim::retired_list retired;  // before set: outlives it
  record_table set{retired};
  // A writer's buffer for the record it splices (crdt::merge_encoded), under
  // the unique lock; trimmed back after a large record (local_store).
  std::string scratch;
  // A writer's delta (through shard_delta), under the unique lock: kept
  // so its strings keep their capacity (an id past the string's inline 15
  // bytes costs an allocation and a free on every write otherwise).
  crdt::session_record delta;
  // Map nodes of delta's entries from earlier writes, their values freed:
  // an entry put through shard_delta::put takes one instead of a new node.
  std::vector<crdt::entry_map::node_type> spare_nodes;
  // Under the unique lock: whether this shard's records are in the local
  // store's Merkle index (local_store::build_index); a write into an
  // indexed shard keeps the index in step, one into another does not.
  bool indexed = false;
};

// The shard's delta for one write, under the shard's unique lock, its id
// set; empty again (its strings' capacity and up to spare_max of its map
// nodes kept, every value freed) when this goes.
class shard_delta {
 public:
  static constexpr size_t spare_max = 16;
  shard_delta(shard& sh, std::string_view id) : d_(sh.delta), spare_(sh.spare_nodes) { d_.id.assign(id); }
  ~shard_delta();
  shard_delta(const shard_delta&) = delete;
  shard_delta& operator=(const shard_delta&) = delete;
  crdt::session_record& operator*() { return d_; }
  crdt::session_record* operator->() { return &d_; }
  // delta.map(s).insert_or_assign(name, {ts, value}), in a kept node when
  // there is one. Moves from name and value.
  void put(section s, std::string& name, std::optional<std::string>& value, const crdt::stamp& ts);

 private:
  crdt::session_record& d_;
  std::vector<crdt::entry_map::node_type>& spare_;
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
  // Replaces (or inserts) the record p, whose id is k (k.id is compared,
  // p's own bytes are not read); takes p's reference and retires the one it
  // replaces. REQUIRES: unique lock on sh; k.id == detail::packed_id(p).
  static void put(shard& sh, const hashed_id& k, detail::packed_record* p);
  // REQUIRES: unique lock on sh.
  static void erase(shard& sh, std::string_view id);
  // reclaim() on every shard that has something waiting (the maintenance pass).
  void reclaim_all();
  // The record with this id, or nullptr. REQUIRES: a lock on sh, or a
  // reclaim::read_guard held for as long as the record is used.
  static detail::packed_record* find(const shard& sh, std::string_view id) { return sh.set.find(id_hash64(id), id); }
  static detail::packed_record* find(const shard& sh, const hashed_id& k) { return sh.set.find(k.hash, k.id); }
  // Warming for a write about to take sh's lock: prefetch_slot asks for the
  // table's line and returns at once; prefetch_record finds the record
  // with no lock (inside a read guard) and asks for its lines (up to 512
  // bytes). Hints only: the write finds the record again under its lock.
  static void prefetch_slot(const shard& sh, const hashed_id& k) { sh.set.prefetch_slot(k.hash); }
  static void prefetch_record(const shard& sh, const hashed_id& k);
  // Heap bytes of the slot arrays and the shards' spare record blocks (not
  // the records in use).
  size_t table_bytes() const;

 private:
  std::array<shard, shard_count> shards_;
};

}  // namespace sessionmesh::store
