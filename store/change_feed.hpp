// change_feed: a bounded ring of the changes a store applied, in order,
// with cursors. Bounded twice: at most `capacity` changes and at most
// `max_bytes` bytes of them (each change counted with the session record it
// holds), the oldest dropped first; the newest change always stays. A
// cursor is "<incarnation>-<seq>" (hex incarnation, decimal seq): the
// position just after change `seq` of this store instance. A cursor of
// another incarnation, one that fell off the ring, or one that does not
// parse gives cursor_expired.
// The ring keeps each change unformatted: its version as a stamp, a put's
// id inside its record, the store's own node id as no origin, no cursor.
// A `change` is made from that when it is read or handed to subscribers, so
// a write with nobody watching allocates nothing here (the ring's slots
// are reused) and frees only what the dropped change held.
// Subscribers are called synchronously by publish(), in order, under the
// feed's lock: they must be quick and must not write to the store.
// Thread: thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crdt/stamp.hpp"
#include "store/adaptive_mutex.hpp"
#include "sessionmesh/session_store.hpp"

namespace sessionmesh::store {

class record_pool;

class change_feed {
 public:
  // home_origin: the origin of a change published with an empty one.
  change_feed(size_t capacity, size_t max_bytes, uint64_t incarnation, std::string home_origin);

  // A put, del or expire. version: null for none (an expire's); value: the
  // state after a put, empty otherwise; origin: empty for the home origin.
  // release_into: where the record of a change dropped to make room goes
  // if this was its last reference (a writer's shard pool, under that
  // shard's lock: any shard's pool takes any record's block, and the
  // arena's shared lists, which every writer would otherwise lock, stay
  // out of it); null: let go as any handle is.
  // REQUIRES: a value's id is id (not read back: a writer publishes a
  // record whose lines it has just filled, and reading them would wait for
  // those stores to reach the cache).
  void publish(change_type type, std::string_view id, const crdt::stamp* version, session value,
               std::string_view origin, record_pool* release_into = nullptr);
  // Any change, kept as given (moved changes); its seq and cursor are set here.
  void publish(change c);
  std::string current_cursor() const;
  result<change_batch> read(std::string_view cursor, size_t max) const;
  subscription subscribe(std::function<void(const change&)> fn);
  size_t subscribers() const;
  std::string cursor_of(uint64_t seq) const;
  size_t bytes() const;  // what the ring holds now (entries, their strings and records)

 private:
  struct entry {
    uint64_t seq = 0;
    change_type type = change_type::put;
    bool has_version = false;
    crdt::stamp version;
    session value;
    std::string id;      // empty: value's id
    std::string origin;  // empty: home_origin_
    std::unique_ptr<change> whole;  // publish(change): kept as given
    size_t bytes = 0;
  };
  static size_t bytes_of(const change& c);
  static size_t bytes_of(const entry& e);
  change make_change(const entry& e) const;
  const entry& at(size_t i) const { return ring_[(hot_.head + i) % ring_.size()]; }  // i-th oldest
  // What a dropped entry held that is costly to let go (its record, often
  // a cold line and its last reference; a whole change): the caller
  // destroys it after unlocking, out of the section every writer waits on.
  struct released {
    session value;
    std::unique_ptr<change> whole;
  };
  // REQUIRES: hot_.mu held. The slot of a new newest entry, counted in the
  // ring: when the ring is full and at capacity, the oldest is dropped to
  // make room (what it held moved into *spill) and its slot is the one
  // returned. The slot is filled in place — its strings keep their
  // capacity, so a write with nobody watching allocates nothing here — and
  // the caller sets every field (whole is null), then calls finish_push.
  entry& claim(released* spill);
  // REQUIRES: hot_.mu held; e the slot claim returned, filled. Counts its
  // bytes, drops the oldest past the byte bound (here, under the lock),
  // and hands the change to the subscribers.
  void finish_push(entry& e);
  // REQUIRES: hot_.mu held, hot_.count > 0. Drops the oldest entry; what it held
  // goes into *spill if given, else is let go here.
  void drop_oldest(released* spill);

  // Read by every publish, written rarely (growth, subscribe; under hot_.mu).
  size_t capacity_;  // at most max_capacity
  size_t max_bytes_;
  uint64_t incarnation_;
  std::string home_origin_;
  std::vector<entry> ring_;  // circular: hot_.count entries from hot_.head; grows by doubling up to capacity_
  uint64_t next_sub_ = 1;
  std::map<uint64_t, std::function<void(const change&)>> subs_;
  // Written by every publish: the lock and the ring's ends on one line of
  // their own, so a publish moves one line from the last writer's core,
  // not three (they used to straddle three, with fields read by all).
  struct alignas(64) hot_fields {
    adaptive_mutex mu;  // every write publishes: a short section, taken by all writers
    uint32_t head = 0;
    uint32_t count = 0;
    size_t bytes = 0;
    uint64_t last_seq = 0;
  };
  static_assert(sizeof(hot_fields) == 64, "the lock and the ring's ends fill one line");
  mutable hot_fields hot_;

 public:
  static constexpr size_t max_capacity = size_t{1} << 31;  // a larger capacity is this one
};

}  // namespace sessionmesh::store
