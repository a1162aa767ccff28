// change_feed: a bounded ring of the changes a store applied, in order,
// with cursors. Bounded twice: at most `capacity` changes and at most
// `max_bytes` bytes of them (each change counted with the session record it
// holds), the oldest dropped first; the newest change always stays. A cursor is "<incarnation>-<seq>" (hex incarnation, decimal
// seq): the position just after change `seq` of this store instance. A
// cursor of another incarnation, one that fell off the ring, or one that
// does not parse gives cursor_expired.
// Subscribers are called synchronously by publish(), in order, under the
// feed's lock: they must be quick and must not write to the store.
// Thread: thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "sessionmesh/session_store.hpp"

namespace sessionmesh::store {

class change_feed {
 public:
  change_feed(size_t capacity, size_t max_bytes, uint64_t incarnation);

  // Assigns seq and cursor, stores the change, calls subscribers.
  void publish(change c);
  std::string current_cursor() const;
  result<change_batch> read(std::string_view cursor, size_t max) const;
  subscription subscribe(std::function<void(const change&)> fn);
  size_t subscribers() const;
  std::string cursor_of(uint64_t seq) const;
  size_t bytes() const;  // what the ring holds now, by the same count
  // The bytes a change is counted for.
  static size_t bytes_of(const change& c);

 private:
  size_t capacity_;
  size_t max_bytes_;
  uint64_t incarnation_;
  mutable std::mutex mu_;
  std::deque<change> ring_;
  std::deque<size_t> ring_bytes_;  // bytes_of each ring_ entry
  size_t bytes_ = 0;
  uint64_t last_seq_ = 0;
  uint64_t next_sub_ = 1;
  std::map<uint64_t, std::function<void(const change&)>> subs_;
};

}  // namespace sessionmesh::store
