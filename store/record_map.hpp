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

#include "store/adaptive_mutex.hpp"
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
  mutable adaptive_shared_mutex mu;
  record_pool pool;               // before retired: outlives it (reclaim gives blocks to it)
  reclaim::retired_list retired;  // before set: outlives it
  record_table set{retired};
  // Under the unique lock: whether this shard's records are in the local
  // store's Merkle index (local_store::build_index); a write into an
  // indexed shard keeps the index in step, one into another does not.
  bool indexed = false;
};

// A writing thread's reusable buffers (writer_scratch::mine()): the record
// a write splices (crdt::merge_encoded's output) and the write's delta
// (through writer_delta). One per thread, not per shard: the buffers of a
// shard that two cores write would travel between them on almost every
// write (in a two-thread patch benchmark, about a tenth of the time went
// there); a thread's stay in its core's cache. They carry nothing from one
// write to the next: the delta is emptied when its writer_delta goes and
// the buffer is overwritten by each splice (trimmed back after a large
// record by local_store).
// Thread: its own thread's; one writer_delta at a time (asserted).
struct writer_scratch {
  std::string merged;
  crdt::session_record delta;
  // Map nodes of delta's entries from earlier writes, their values freed:
  // an entry put through writer_delta::put takes one instead of a new node.
  std::vector<crdt::entry_map::node_type> spare_nodes;
  bool in_use = false;  // a writer_delta holds delta
  // This thread's (made on its first write, freed when it exits).
  static writer_scratch& mine();
};

// The delta of one write, its id set, in this thread's writer_scratch (its
// strings keep their capacity: an id past the string's inline 15 bytes
// would cost an allocation and a free on every write); empty again (up to
// spare_max of its map nodes kept, every value freed) when this goes.
class writer_delta {
 public:
  static constexpr size_t spare_max = 16;
  explicit writer_delta(std::string_view id);
  ~writer_delta();
  writer_delta(const writer_delta&) = delete;
  writer_delta& operator=(const writer_delta&) = delete;
  crdt::session_record& operator*() { return s_.delta; }
  crdt::session_record* operator->() { return &s_.delta; }
  // delta.map(s).insert_or_assign(name, {ts, value}), in a kept node when
  // there is one. Moves from name and value.
  void put(section s, std::string& name, std::optional<std::string>& value, const crdt::stamp& ts);

 private:
  writer_scratch& s_;
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
