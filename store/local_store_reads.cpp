// local_store: the reads that record nothing — peek, exists, list (get,
// which may record a touch, lives with the writes in local_store.cpp).
#include <algorithm>
#include <queue>

#include "store/local_store.hpp"
#include "store/validate.hpp"

namespace sessionmesh::store {

result<session> local_store::peek(std::string_view id) {
  if (!valid_id(id)) return errc::invalid_argument;
  const hashed_id key(id);
  const shard& sh = map_.shard_for(key);
  reclaim::read_guard g;  // no lock: a record found stays valid while g is held
  auto* p = record_map::find(sh, key);
  if (p == nullptr || !p->live(now_ms_before(p->expires_at_ms()))) return errc::not_found;
  detail::retain(p);
  return session(p);
}

result<bool> local_store::exists(std::string_view id) {
  if (!valid_id(id)) return errc::invalid_argument;
  const hashed_id key(id);
  const shard& sh = map_.shard_for(key);
  reclaim::read_guard g;
  auto* p = record_map::find(sh, key);
  return p != nullptr && p->live(now_ms_before(p->expires_at_ms()));
}

result<list_page> local_store::list(std::string_view prefix, size_t limit, std::string_view cursor) {
  if (limit == 0 || limit > 1000) return errc::invalid_argument;
  if (!cursor.empty() && !valid_id(cursor)) return errc::invalid_argument;
  // Global program records ("~...") sort after every session id; a prefix
  // of valid id characters never matches them, the empty one must skip them.
  return list_records(prefix, 0, limit, cursor);
}

result<list_page> local_store::list_records(std::string_view prefix, size_t strip, size_t limit,
                                            std::string_view cursor_in) {
  const std::string cursor_full = cursor_in.empty() ? std::string() : std::string(prefix.substr(0, strip)) + std::string(cursor_in);
  const std::string_view cursor = cursor_full;
  const bool sessions = strip == 0;
  const uint64_t now = now_ms();
  // Keep the limit+1 smallest ids past the cursor: a max-heap of session handles.
  auto cmp = [](const session& a, const session& b) { return a.id() < b.id(); };
  std::priority_queue<session, std::vector<session>, decltype(cmp)> heap(cmp);
  for (size_t i = 0; i < record_map::shard_count; ++i) {
    shard& sh = map_.at(i);
    std::shared_lock lk(sh.mu);
    for (auto* p : sh.set) {
      const std::string_view id = detail::packed_id(p);
      if (id.substr(0, prefix.size()) != prefix || id <= cursor) continue;
      if (sessions && is_global_record(id)) continue;
      if (heap.size() > limit && !(id < heap.top().id())) continue;
      if (!p->live(now)) continue;
      detail::retain(p);
      heap.emplace(p);
      if (heap.size() > limit + 1) heap.pop();
    }
  }
  list_page page;
  const bool more = heap.size() > limit;
  if (more) heap.pop();
  std::vector<session> sorted;
  while (!heap.empty()) {
    sorted.push_back(heap.top());
    heap.pop();
  }
  std::reverse(sorted.begin(), sorted.end());
  for (const auto& s : sorted)
    page.sessions.push_back({std::string(s.id().substr(strip)), options_.node_id, s.expires_at_ms(), s.version()});
  if (more) page.next_cursor = page.sessions.back().id;
  return page;
}

size_t local_store::snapshot_parts() { return record_map::shard_count; }

result<std::vector<std::string>> local_store::snapshot_part(std::string_view prefix, size_t part) {
  if (part >= record_map::shard_count) return errc::invalid_argument;
  const uint64_t now = now_ms();
  std::vector<std::string> ids;
  {
    shard& sh = map_.at(part);
    std::shared_lock lk(sh.mu);
    for (auto* p : sh.set) {
      const std::string_view id = detail::packed_id(p);
      if (id.substr(0, prefix.size()) != prefix || is_global_record(id) || !p->live(now)) continue;
      ids.emplace_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string local_store::owner_of(std::string_view) { return options_.node_id; }

}  // namespace sessionmesh::store
