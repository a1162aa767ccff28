// Random session records and deltas for property tests.
#pragma once

#include <random>

#include "crdt/record.hpp"

namespace sessionmesh::testing {

// Small domains on purpose: collisions of names, stamps and nodes are where
// merge bugs live.
inline crdt::stamp random_stamp(std::mt19937_64& rng, bool allow_bottom = true) {
  if (allow_bottom && rng() % 4 == 0) return {};
  const uint64_t nodes[] = {0x1111, 0x2222, 0xfffffffffffffff0ull};
  return {crdt::hlc_make(1'700'000'000'000ull + rng() % 8, rng() % 3), nodes[rng() % 3]};
}

inline crdt::session_record random_record(std::mt19937_64& rng, const std::string& id = "sess-1") {
  crdt::session_record r;
  r.id = id;
  r.tombstone = rng() % 3 == 0 ? random_stamp(rng) : crdt::stamp{};
  r.created = random_stamp(rng);
  r.touched = random_stamp(rng);
  r.ttl_ts = random_stamp(rng);
  if (!r.ttl_ts.is_bottom()) r.ttl_s = 1 + static_cast<uint32_t>(rng() % 4);
  r.worker_ts = random_stamp(rng);
  if (!r.worker_ts.is_bottom()) r.worker = "w" + std::to_string(rng() % 3);
  const char* names[] = {"a", "b", "c", "temperature"};
  for (auto& m : r.sections) {
    const int n = static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      crdt::entry e{random_stamp(rng, false), std::nullopt};
      if (rng() % 4 != 0) e.value = std::to_string(rng() % 5);
      m[names[rng() % 4]] = e;
    }
  }
  crdt::normalize(r);
  return r;
}

}  // namespace sessionmesh::testing
