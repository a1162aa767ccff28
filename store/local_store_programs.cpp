// local_store: global programs (session_store.hpp), kept as records of the
// session map under "~gp:" ids: the value in programs["data"], the ttl the
// node's global_program_ttl, expiry from the last put (reads never touch).
#include <algorithm>

#include "crdt/codec.hpp"
#include "store/local_store.hpp"
#include "store/validate.hpp"

namespace sessionmesh::store {

using crdt::session_record;

namespace {

bool valid_program_id(std::string_view id) {
  return valid_id(id) && id.size() <= session_store::global_program_id_max;
}

global_program to_program(std::string_view id, const session& s) {
  global_program g;
  g.id = std::string(id);
  if (auto v = s.find(section::programs, "data")) g.value = std::string(*v);
  g.stored_at_ms = s.last_accessed_at_ms();
  g.expires_at_ms = s.expires_at_ms();
  return g;
}

}  // namespace

result<global_program> local_store::put_global_program(std::string_view id, std::string json,
                                                       const write_limits& lim, write_ctx& ctx) {
  if (closed_) return errc::unavailable;
  if (!valid_program_id(id)) return errc::invalid_argument;
  auto c = canonical_json(json, limits());
  if (!c) return c.error();
  const std::string rid = global_record_id(id);
  shard& sh = map_.shard_for(rid);
  write_token tok;
  result<session> r = errc::internal;
  {
    std::unique_lock lk(sh.mu);
    const uint64_t now = now_ms();
    detail::packed_record* p = record_map::find(sh, rid);
    if (p == nullptr || !p->live(now)) {
      create_request req;
      req.id = rid;
      req.ttl_s = global_program_ttl_s_.load();
      req.programs.push_back({"data", std::move(c).value()});
      req.limits = lim;
      bool created = false;
      r = create_locked(sh, req, now, &tok, &created, true);
    } else {
      const auto cur = detail::decode_packed(p);
      auto s = tick(now);
      if (!s) return s.error();
      session_record delta;
      delta.id = rid;
      delta.touched = *s;
      delta.ttl_ts = *s;
      delta.ttl_s = global_program_ttl_s_.load();
      delta.map(section::programs)["data"] = crdt::entry{*s, std::move(c).value()};
      r = apply_locked(sh, &cur, delta, change_type::put, &tok);
    }
  }
  r = commit(std::move(r), tok, ctx);
  if (!r) return r.error();
  return to_program(id, *r);
}

result<global_program> local_store::get_global_program(std::string_view id) {
  if (!valid_program_id(id)) return errc::invalid_argument;
  const std::string rid = global_record_id(id);
  shard& sh = map_.shard_for(rid);
  std::shared_lock lk(sh.mu);
  detail::packed_record* p = record_map::find(sh, rid);
  if (p == nullptr || !p->live(now_ms())) return errc::not_found;
  detail::retain(p);
  return to_program(id, session(p));
}

result<void> local_store::delete_global_program(std::string_view id, write_ctx& ctx) {
  if (!valid_program_id(id)) return errc::invalid_argument;
  if (closed_) return errc::unavailable;
  const std::string rid = global_record_id(id);
  shard& sh = map_.shard_for(rid);
  write_token tok;
  result<session> r = errc::internal;
  {
    std::unique_lock lk(sh.mu);
    const detail::packed_record* p = record_map::find(sh, rid);
    if (p == nullptr) return {};
    auto cur = crdt::decode(p->bytes(), {}, false);
    SM_ASSERT(cur.has_value());
    if (!crdt::exists(*cur)) return {};
    auto s = tick(now_ms());
    if (!s) return s.error();
    session_record delta;
    delta.id = rid;
    delta.tombstone = *s;
    r = apply_locked(sh, &*cur, delta, change_type::del, &tok);
    if (r) ++gp_deleted_;
  }
  r = commit(std::move(r), tok, ctx);
  if (!r) return r.error();
  return {};
}

result<std::vector<global_program>> local_store::list_global_programs(std::string_view prefix, size_t limit,
                                                                      std::string_view cursor) {
  if (limit == 0 || limit > 1000) return errc::invalid_argument;
  if (!cursor.empty() && !valid_program_id(cursor)) return errc::invalid_argument;
  auto page = list_records(global_record_id(prefix), 4, limit, cursor);
  if (!page) return page.error();
  std::vector<global_program> out;
  out.reserve(page->sessions.size());
  for (auto& s : page->sessions) {
    global_program g;
    g.id = std::move(s.id);
    g.expires_at_ms = s.expires_at_ms;
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace sessionmesh::store
