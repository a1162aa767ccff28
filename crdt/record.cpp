#include "crdt/record.hpp"

#include <algorithm>

#include "sessionmesh/result.hpp"

namespace sessionmesh::crdt {
namespace {

bool broken_merge = false;
bool skipped_tombstone = false;

// Register max by (stamp, value): the value tie-break keeps merge
// commutative even if two writers ever reused one stamp.
void join_entry(entry& into, const entry& from) {
  if (broken_merge && from.ts.physical_ms() + 50 >= into.ts.physical_ms()) {
    into = from;  // deliberately wrong: arrival order decides
    return;
  }
  if (from.ts > into.ts || (from.ts == into.ts && from.value > into.value)) into = from;
}

template <class T>
void join_reg(stamp& ts, T& v, const stamp& from_ts, const T& from_v) {
  if (from_ts > ts || (from_ts == ts && from_v > v)) {
    ts = from_ts;
    v = from_v;
  }
}

}  // namespace

void set_broken_merge_for_testing(bool broken) { broken_merge = broken; }
void set_skipped_tombstone_for_testing(bool broken) { skipped_tombstone = broken; }

void normalize(session_record& r) {
  const stamp t = r.tombstone;
  if (t.is_bottom()) return;
  if (r.created <= t) r.created = {};
  if (r.touched <= t) r.touched = {};
  if (r.ttl_ts <= t) { r.ttl_ts = {}; r.ttl_s = 0; }
  if (r.worker_ts <= t) { r.worker_ts = {}; r.worker.clear(); }
  for (auto& m : r.sections) std::erase_if(m, [&](const auto& kv) { return kv.second.ts <= t; });
}

void merge_into(session_record& into, const session_record& from) {
  SM_ASSERT(into.id == from.id);
  if (!skipped_tombstone) into.tombstone = std::max(into.tombstone, from.tombstone);
  into.created = std::max(into.created, from.created);
  into.touched = std::max(into.touched, from.touched);
  join_reg(into.ttl_ts, into.ttl_s, from.ttl_ts, from.ttl_s);
  join_reg(into.worker_ts, into.worker, from.worker_ts, from.worker);
  for (int s = 0; s < section_count; ++s) {
    auto& dst = into.sections[s];
    for (const auto& [name, e] : from.sections[s]) {
      auto it = dst.find(name);
      if (it == dst.end()) dst.emplace(name, e);
      else join_entry(it->second, e);
    }
  }
  normalize(into);
}

session_record merge(session_record a, const session_record& b) {
  merge_into(a, b);
  return a;
}

bool exists(const session_record& r) { return !r.created.is_bottom() && r.created > r.tombstone; }

uint64_t created_at_ms(const session_record& r) { return r.created.physical_ms(); }

uint64_t last_accessed_ms(const session_record& r) {
  return std::max(r.touched, r.created).physical_ms();
}

uint64_t expires_at_ms(const session_record& r) {
  return expiry_ms(last_accessed_ms(r), r.ttl_s);
}

bool is_live(const session_record& r, uint64_t now_ms) {
  return exists(r) && now_ms < expires_at_ms(r);
}

stamp content_version(const session_record& r) {
  stamp v = std::max({r.created, r.ttl_ts, r.worker_ts});
  for (const auto& m : r.sections)
    for (const auto& kv : m) v = std::max(v, kv.second.ts);
  return v;
}

stamp max_stamp(const session_record& r) {
  return std::max({content_version(r), r.touched, r.tombstone});
}

live_counts live_counts_of(const session_record& r) {
  live_counts c;
  c.bytes = r.worker.size();
  for (size_t s = 0; s < section_count; ++s)
    for (const auto& [name, e] : r.sections[s])
      if (e.value) {
        ++c.entries[s];
        c.bytes += name.size() + e.value->size();
      }
  return c;
}

size_t live_entries(const session_record& r, section s) {
  const auto& m = r.map(s);
  return static_cast<size_t>(
      std::count_if(m.begin(), m.end(), [](const auto& kv) { return kv.second.value.has_value(); }));
}

}  // namespace sessionmesh::crdt
