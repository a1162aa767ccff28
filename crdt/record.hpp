// session_record: the replicated state of one session, as a join-semilattice.
// Every field is a last-writer-wins register stamped (hlc, node); each entry
// of metadata / variables / programs is its own register (a removed entry is
// a register whose value is empty: a per-entry tombstone). `tombstone` is the
// stamp of the last delete of the whole session: registers stamped at or
// below it are dead and dropped by normalize().
// created_at and last_accessed are the physical parts of `created` and
// `touched`. A delta is a session_record holding only the registers a
// mutation changed; merge() is the only way state changes.
// Pure values: no I/O, no clock reads. Thread: plain value type.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>

#include "crdt/stamp.hpp"
#include "sessionmesh/types.hpp"

namespace sessionmesh::crdt {

struct entry {
  stamp ts;
  std::optional<std::string> value;  // compact JSON text; nullopt = removed
  friend bool operator==(const entry&, const entry&) = default;
};

using entry_map = std::map<std::string, entry, std::less<>>;

struct session_record {
  std::string id;
  stamp tombstone;   // last delete of the whole session
  stamp created;     // last (re)creation; created_at_ms = created.physical_ms()
  stamp touched;     // last access that was recorded; max-register
  stamp ttl_ts;
  uint32_t ttl_s = 0;
  stamp worker_ts;
  std::string worker;
  std::array<entry_map, section_count> sections;

  entry_map& map(section s) { return sections[static_cast<int>(s)]; }
  const entry_map& map(section s) const { return sections[static_cast<int>(s)]; }
  friend bool operator==(const session_record&, const session_record&) = default;
};

// TEST ONLY: makes merge deliberately wrong (a later-arriving entry wins
// within 50 ms, whatever its stamp), so the simulator can show its checkers
// catch a broken merge. Never set outside tests.
void set_broken_merge_for_testing(bool broken);
// Drops the tombstone of a merged-in record on purpose (a replica ignores
// remote deletes), for the same purpose. Never set outside tests.
void set_skipped_tombstone_for_testing(bool broken);

// What a session's limits look at: its entries holding a value, per map,
// and the bytes of their names and values plus the worker id.
struct live_counts {
  std::array<size_t, section_count> entries{};
  size_t bytes = 0;
};
live_counts live_counts_of(const session_record& r);

// Join: per-register max by (stamp, value); then normalize.
// REQUIRES: into.id == from.id.
void merge_into(session_record& into, const session_record& from);
session_record merge(session_record a, const session_record& b);

// Drops every register stamped at or below the tombstone.
void normalize(session_record& r);

// The session was created after its last delete.
bool exists(const session_record& r);
uint64_t last_accessed_ms(const session_record& r);
uint64_t created_at_ms(const session_record& r);
uint64_t expires_at_ms(const session_record& r);
// When a session last accessed at last_accessed_ms with this ttl expires.
// ttl_s 0 follows Snakepit's one-second resolution: the session lives to the
// end of the wall-clock second of its last access (so it can be read back
// right after it is created, and is reaped within a second).
constexpr uint64_t expiry_ms(uint64_t last_accessed_ms, uint32_t ttl_s) {
  return ttl_s == 0 ? (last_accessed_ms / 1000 + 1) * 1000 : last_accessed_ms + uint64_t{ttl_s} * 1000;
}
// exists and not expired at now_ms.
bool is_live(const session_record& r, uint64_t now_ms);
// Largest stamp of a content register (not touched, not tombstone): the
// session's version. Changes on every content write; equal on every node
// holding the same state.
stamp content_version(const session_record& r);
// Largest stamp anywhere in the record (for restoring a clock).
stamp max_stamp(const session_record& r);
// Number of live (non-removed) entries in a section.
size_t live_entries(const session_record& r, section s);

}  // namespace sessionmesh::crdt
