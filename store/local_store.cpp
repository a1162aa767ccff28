// The local adapter's write paths (create, patch, remove, worker, touch),
// and get/read, whose lazy touch is one of them.
// Over 400 lines (454) on purpose for now: they share the shard-locked
// helpers of this file's anonymous namespace (entry checks, limits, the
// apply step and the spliced write); the next split moves the limit checks
// to their own file with a private header. Reads that record nothing:
// local_store_reads.cpp; I/O: local_store_io.cpp.
#include "store/local_store.hpp"

#include <algorithm>
#include <optional>

#include "crdt/codec.hpp"
#include "crdt/patch.hpp"
#include "store/validate.hpp"

namespace sessionmesh::store {

using crdt::session_record;
using crdt::stamp;

namespace {

// Success, built once (a default error_code calls system_category()).
const std::error_code no_error;

// A thread's splice buffer (writer_scratch::merged) is kept up to this
// size (a record spliced beyond it gets its buffer freed after the write).
constexpr size_t scratch_keep_bytes = 64 * 1024;

// A recorded touch is due once it would move last_accessed by more than
// ttl/10: from touch_edge on, which is never past the expiry (ttl 0: the
// next ms; the expiry is the end of that second).
uint64_t touch_edge(const detail::packed_record* p) { return p->last_accessed_ms + uint64_t{p->ttl_s} * 100 + 1; }
bool touch_due(const detail::packed_record* p, uint64_t now) { return now >= touch_edge(p); }

// Moves the updates' names and values into the delta (the requests are
// the writer's own and are not read again).
void put_entries(writer_delta& delta, section s, std::vector<entry_update>& ups, const stamp& ts,
                 const detail::packed_record* current) {
  for (auto& u : ups) {
    // Removing an entry this node never saw is a no-op (add wins).
    if (!u.value && (current == nullptr || !detail::packed_find(current, s, u.name))) continue;
    delta.put(s, u.name, u.value, ts);
  }
}

// Limits a merged state must respect: entries per map, programs, bytes.
// Only growth is refused, so replicas past a limit stay writable.
result<void> check_limits(const crdt::live_counts& after, const crdt::live_counts& before, const store_limits& lim) {
  if (lim.session_bytes && after.bytes > lim.session_bytes && after.bytes > before.bytes) return errc::too_large;
  for (int i = 0; i < section_count; ++i) {
    const auto s = static_cast<section>(i);
    const size_t a = after.entries[static_cast<size_t>(i)];
    if (a <= before.entries[static_cast<size_t>(i)]) continue;
    if (s == section::programs && a > lim.programs) return errc::too_many_programs;
    if (a > lim.entries_per_map) return errc::too_large;
  }
  return {};
}

}  // namespace

uint64_t local_store::now_ms() const { return options_.clock(); }

uint64_t local_store::clock_ms() { return crdt::hlc_physical_ms(clock_.last()); }

result<stamp> local_store::tick(uint64_t now) { return clock_.now(now); }

result<void> local_store::check_entries(std::vector<entry_update>& updates, bool allow_removal) {
  for (auto& u : updates) {
    if (!valid_name(u.name, options_.limits.name_bytes)) return errc::invalid_argument;
    if (!u.value) {
      if (!allow_removal) return errc::invalid_argument;
      continue;
    }
    if (plain_json_string(*u.value) && u.value->size() <= value_bytes_.load(std::memory_order_relaxed))
      continue;  // already compact
    auto c = canonical_json(*u.value, limits());
    if (!c) return c.error();
    u.value = std::move(c).value();
  }
  return {};
}

result<session> local_store::apply_locked(shard& sh, const session_record* current,
                                          const session_record& delta, change_type type, write_token* tok) {
  session_record next = current ? crdt::merge(*current, delta) : crdt::merge(session_record{delta.id}, delta);
  return apply_locked(sh, current, std::move(next), delta, type, tok);
}

result<session> local_store::apply_locked(shard& sh, const session_record* current, session_record next,
                                          const session_record& delta, change_type type, write_token* tok) {
  const bool was = current && crdt::exists(*current);
  const bool is = crdt::exists(next);
  const crdt::stamp version = type == change_type::del ? next.tombstone : crdt::content_version(next);
  return install_locked(sh, delta, type, crdt::encode(next), {current != nullptr, was, is}, version, tok);
}

result<session> local_store::write_packed_locked(shard& sh, const detail::packed_record* p,
                                                 const session_record& delta, const store_limits* lim,
                                                 write_token* tok) {
  sh.pool.prefetch(sizeof(detail::packed_record) + p->size);  // the new record is about as large
  std::string& merged = writer_scratch::mine().merged;
  if (auto m = crdt::merge_encoded(p->bytes(), delta, merged)) {
    if (lim != nullptr)
      if (auto c = check_limits(m->after, m->before, *lim); !c) return c.error();
    // The short way leaves created and the tombstone as they were.
    auto r = install_locked(sh, delta, change_type::put, merged, {true, p->exists(), p->exists()},
                            m->content_version, tok, &m->header);
    if (merged.capacity() > scratch_keep_bytes) std::string().swap(merged);
    return r;
  }
  session_record cur = detail::decode_packed(p);
  session_record next = crdt::merge(cur, delta);
  if (lim != nullptr)
    if (auto c = check_limits(crdt::live_counts_of(next), crdt::live_counts_of(cur), *lim); !c) return c.error();
  return apply_locked(sh, &cur, std::move(next), delta, change_type::put, tok);
}

result<session> local_store::install_locked(shard& sh, const session_record& delta, change_type type,
                                            std::string_view encoded, existence e, const crdt::stamp& version,
                                            write_token* tok, const crdt::packed_header* header) {
  if (wal_) {
    auto l = wal_->append(crdt::encode(delta));
    if (!l) return l.error();
    tok->lsn = *l;
  }
  const bool was_tomb = e.had && !e.was;
  const bool is_tomb = !e.is;
  count_live(delta.id, e.was, e.is);
  if (is_tomb != was_tomb) tombstones_ += is_tomb ? 1 : -1;  // no locked add of 0 on a shared line

  // References: the map's, the caller's and, for a put or expire, the feed's.
  const bool feed_holds = type != change_type::del;
  auto* p = detail::make_packed(encoded, header ? *header : crdt::trusted_header(encoded), feed_holds ? 3 : 2,
                                &sh.pool);
  session out(p);
  swap_locked(sh, delta.id, p);

  publish(type, delta.id, &version, feed_holds ? session(p) : session{}, {}, &sh.pool);
  if (sink_ && type != change_type::expire) tok->seq = sink_(delta.id, crdt::encode(delta));
  return out;
}

result<session> local_store::commit(result<session> r, const write_token& tok, write_ctx& ctx) {
  if (!r) return r;
  if (ctx.defer) {
    // Only fsync=always has anything to wait for (batch and off acknowledge
    // once the record is in the OS).
    if (wal_ && wal_->mode() == fsync_mode::always) ctx.token.lsn = std::max(ctx.token.lsn, tok.lsn);
    ctx.token.seq = std::max(ctx.token.seq, tok.seq);
    ctx.token.by = this;
    return r;
  }
  if (tok.lsn == 0 || !wal_) return r;
  if (auto c = wal_->commit(tok.lsn); !c) return c.error();
  return r;
}

void local_store::await_write(const write_token& t, unsigned acks, uint32_t timeout_ms, write_completion done) {
  if (acks > 1) return session_store::await_write(t, acks, timeout_ms, std::move(done));
  if (!wal_ || t.lsn == 0) return done(result<void>{});
  wal_->when_durable(t.lsn, std::move(done));
}

result<session> local_store::create_locked(shard& sh, create_request& req, uint64_t now, write_token* tok,
                                           bool* created, bool global) {
  auto* p = record_map::find(sh, req.id);
  std::optional<session_record> cur;
  if (p != nullptr) {
    if (p->live(now)) {
      detail::retain(p);
      *created = false;
      return session(p);
    }
    cur = detail::decode_packed(p);
  }
  // A place under the quotas, held until the create is counted.
  const uint64_t ns_max = global ? req.limits.max_global_programs : req.limits.max_sessions;
  const uint64_t node_max = global ? max_global_programs_.load() : max_sessions_.load();
  quota_hold hold;
  if (const uint64_t full = reserve_create(req.id, global, ns_max, node_max, hold); full != 0) {
    if (!global && strict_quota_.load() && options_.on_warning)
      options_.on_warning("session_quota_exceeded", "refused to create session " + req.id + ": max_sessions (" +
                                                        std::to_string(full) + ") reached");
    return errc::session_quota_exceeded;
  }

  writer_delta delta(req.id);
  if (cur && crdt::exists(*cur)) {
    // An expired session is replaced: a tombstone first hides its old registers.
    auto t = tick(now);
    if (!t) return t.error();
    delta->tombstone = *t;
  }
  auto s = tick(now);
  if (!s) return s.error();
  delta->created = *s;
  delta->touched = *s;
  delta->ttl_ts = *s;
  delta->ttl_s = req.ttl_s.value_or(default_ttl_s_.load());
  if (req.last_worker_id) {
    delta->worker_ts = *s;
    delta->worker = *req.last_worker_id;
  }
  put_entries(delta, section::metadata, req.metadata, *s, nullptr);
  put_entries(delta, section::variables, req.variables, *s, nullptr);
  put_entries(delta, section::programs, req.programs, *s, nullptr);
  if (cur && crdt::exists(*cur)) {
    publish(change_type::expire, req.id, nullptr, {}, {}, &sh.pool);
    ++(global ? gp_expired_ : expired_);
  }
  auto r = apply_locked(sh, cur ? &*cur : nullptr, *delta, change_type::put, tok);
  if (r) {
    *created = true;
    if (global) {
      ++gp_stored_;
    } else {
      ++created_;
      quota_check_warn(static_cast<uint64_t>(std::max<int64_t>(0, current_.load())));
    }
  }
  return r;
}

result<create_result> local_store::create(create_request req, write_ctx& ctx) {
  if (closed_) return errc::unavailable;
  if (req.id.empty()) {
    std::lock_guard lk(rng_mu_);
    char buf[40];
    std::snprintf(buf, sizeof buf, "sess-%016llx%08llx", static_cast<unsigned long long>(rng_()),
                  static_cast<unsigned long long>(rng_() & 0xffffffffu));
    req.id = buf;
  }
  if (!valid_id(req.id)) return errc::invalid_argument;
  if (req.last_worker_id && !valid_name(*req.last_worker_id, options_.limits.name_bytes))
    return errc::invalid_argument;
  for (auto* ups : {&req.metadata, &req.variables, &req.programs})
    if (auto c = check_entries(*ups, false); !c) return c.error();
  const store_limits cur_lim = limits();
  const size_t max_programs = req.limits.max_programs ? std::min<size_t>(req.limits.max_programs, cur_lim.programs)
                                                      : cur_lim.programs;
  if (req.programs.size() > max_programs) return errc::too_many_programs;
  size_t bytes = req.last_worker_id ? req.last_worker_id->size() : 0;
  for (auto* ups : {&req.metadata, &req.variables, &req.programs}) {
    if (ups->size() > cur_lim.entries_per_map) return errc::too_large;
    for (const auto& u : *ups) bytes += u.name.size() + (u.value ? u.value->size() : 0);
  }
  if (cur_lim.session_bytes && bytes > cur_lim.session_bytes) return errc::too_large;

  shard& sh = map_.shard_for(req.id);
  write_token tok;
  bool created = false;
  result<session> r = errc::internal;
  {
    std::unique_lock lk(sh.mu);
    r = create_locked(sh, req, now_ms(), &tok, &created);
  }
  r = commit(std::move(r), tok, ctx);
  if (!r) return r.error();
  return create_result{std::move(r).value(), created};
}

// The hot read: one hash, no lock, no allocation. The id's characters
// are checked only when nothing is found: an id the map holds was checked
// when it was written (a program record's "~gp:" id is no session's).
// Returns a bare error_code (two words, in registers; none on success).
template <class F>
std::error_code local_store::read_live(std::string_view id, F&& found) {
  if (id.empty() || id.size() > id_bytes_max) return errc::invalid_argument;
  const hashed_id key(id);
  const shard& sh = map_.shard_for(key);
  {
    reclaim::read_guard g;  // no lock: a record found stays valid while g is held
    const auto* p = record_map::find(sh, key);
    if (p == nullptr || is_global_record(id)) return valid_id(id) ? errc::not_found : errc::invalid_argument;
    // The touch's edge is never past the expiry: one edge decides both.
    const uint64_t now = now_ms_before(touch_edge(p));
    if (!p->live(now)) return errc::not_found;
    if (!touch_due(p, now) || closed_) {
      found(session_view(p));
      return no_error;
    }
  }
  write_ctx lazy{true, {}};
  auto r = touch_impl(id, true, lazy);
  if (!r) return r.error();
  found(*r);
  return no_error;
}

result<session> local_store::get(std::string_view id) {
  detail::packed_record* p = nullptr;
  const std::error_code ec = read_live(id, [&](const session_view& v) {
    p = const_cast<detail::packed_record*>(v.raw());
    detail::retain(p);  // inside the read guard (or while the touch's session holds it)
  });
  if (ec) return ec;
  return session(p);  // adopts the reference taken above
}

result<void> local_store::read(std::string_view id, session_reader fn) { return read_live(id, fn); }

result<session> local_store::touch_impl(std::string_view id, bool only_if_due, write_ctx& ctx) {
  if (closed_) return errc::unavailable;
  const hashed_id key(id);
  shard& sh = map_.shard_for(key);
  write_token tok;
  result<session> r = errc::internal;
  {
    std::unique_lock lk(sh.mu);
    const uint64_t now = now_ms();
    auto* p = record_map::find(sh, key);
    if (p == nullptr || !p->live(now)) return errc::not_found;
    if (only_if_due && !touch_due(p, now)) {
      detail::retain(p);
      return session(p);
    }
    auto s = tick(now);
    if (!s) return s.error();
    writer_delta delta(detail::packed_id(p));
    delta->touched = *s;
    r = write_packed_locked(sh, p, *delta, nullptr, &tok);
  }
  return commit(std::move(r), tok, ctx);
}

result<session> local_store::touch(std::string_view id, write_ctx& ctx) {
  if (!valid_id(id)) return errc::invalid_argument;
  return touch_impl(id, false, ctx);
}

result<session> local_store::patch(std::string_view id, patch_request req, write_ctx& ctx) {
  if (closed_) return errc::unavailable;
  if (!valid_id(id)) return errc::invalid_argument;
  const hashed_id key(id);
  shard& sh = map_.shard_for(key);
  // The slot's line travels while the values are checked; the record's
  // lines while the lock is taken (patch_request's misses otherwise come
  // one after another, after the lock).
  record_map::prefetch_slot(sh, key);
  if (req.last_worker_id && !valid_name(*req.last_worker_id, options_.limits.name_bytes))
    return errc::invalid_argument;
  for (auto* ups : {&req.metadata, &req.variables, &req.programs})
    if (auto c = check_entries(*ups, true); !c) return c.error();
  record_map::prefetch_record(sh, key);
  write_token tok;
  result<session> r = errc::internal;
  {
    std::unique_lock lk(sh.mu);
    const uint64_t now = now_ms();
    auto* p = record_map::find(sh, key);
    if (p == nullptr || !p->live(now)) return errc::not_found;
    if (req.if_match && !if_match_satisfied(*req.if_match, detail::packed_version(p)))
      return errc::version_mismatch;
    auto s = tick(now);
    if (!s) return s.error();
    writer_delta delta(detail::packed_id(p));
    delta->touched = *s;
    if (req.ttl_s) {
      delta->ttl_ts = *s;
      delta->ttl_s = *req.ttl_s;
    }
    if (req.last_worker_id) {
      delta->worker_ts = *s;
      delta->worker = *req.last_worker_id;
    }
    put_entries(delta, section::metadata, req.metadata, *s, p);
    put_entries(delta, section::variables, req.variables, *s, p);
    put_entries(delta, section::programs, req.programs, *s, p);
    store_limits lim = limits();
    if (req.limits.max_programs) lim.programs = std::min<size_t>(lim.programs, req.limits.max_programs);
    r = write_packed_locked(sh, p, *delta, &lim, &tok);
  }
  return commit(std::move(r), tok, ctx);
}

result<void> local_store::remove(std::string_view id, write_ctx& ctx) { return remove_impl(id, nullptr, ctx); }

result<void> local_store::remove_if_match(std::string_view id, std::string_view if_match, write_ctx& ctx) {
  return remove_impl(id, &if_match, ctx);
}

result<void> local_store::remove_impl(std::string_view id, const std::string_view* if_match, write_ctx& ctx) {
  if (closed_) return errc::unavailable;
  if (!valid_id(id)) return errc::invalid_argument;
  shard& sh = map_.shard_for(id);
  write_token tok;
  result<session> r = errc::internal;
  {
    std::unique_lock lk(sh.mu);
    const uint64_t now = now_ms();
    auto* p = record_map::find(sh, id);
    // Replicated, an unconditional delete always writes a fresh tombstone,
    // even of a session this node has not seen or holds deleted: a create
    // still on its way from a peer is older and must not come back after
    // the delete was acknowledged (the soak found it). Alone, there is
    // nothing in flight: deleting what is absent writes nothing.
    const bool always = sink_ && !if_match;
    if (p == nullptr && !always) return if_match ? result<void>(errc::version_mismatch) : result<void>{};
    session_record cur = p ? detail::decode_packed(p) : session_record{std::string(id)};
    if (!crdt::exists(cur) && !always) return if_match ? result<void>(errc::version_mismatch) : result<void>{};
    if (if_match && (!p->live(now) ||
                     !if_match_satisfied(*if_match, detail::format_version(crdt::content_version(cur)))))
      return errc::version_mismatch;
    auto s = tick(now);
    if (!s) return s.error();
    session_record delta;
    delta.id = cur.id;
    delta.tombstone = *s;
    const bool was_live = crdt::exists(cur);
    r = apply_locked(sh, p ? &cur : nullptr, delta, change_type::del, &tok);
    if (r && was_live) ++deleted_;
  }
  r = commit(std::move(r), tok, ctx);
  if (!r) return r.error();
  return {};
}

result<session> local_store::set_worker(std::string_view id, std::string_view worker_id, const write_limits& lim,
                                        write_ctx& ctx) {
  if (closed_) return errc::unavailable;
  if (!valid_id(id) || !valid_name(worker_id, options_.limits.name_bytes)) return errc::invalid_argument;
  shard& sh = map_.shard_for(id);
  write_token tok;
  result<session> r = errc::internal;
  {
    std::unique_lock lk(sh.mu);
    const uint64_t now = now_ms();
    auto* p = record_map::find(sh, id);
    if (p == nullptr || !p->live(now)) {
      create_request req;
      req.id = std::string(id);
      req.last_worker_id = std::string(worker_id);
      req.limits = lim;
      bool created = false;
      r = create_locked(sh, req, now, &tok, &created);
    } else {
      session_record cur = detail::decode_packed(p);
      auto s = tick(now);
      if (!s) return s.error();
      session_record delta;
      delta.id = cur.id;
      delta.touched = *s;
      delta.worker_ts = *s;
      delta.worker = std::string(worker_id);
      r = apply_locked(sh, &cur, delta, change_type::put, &tok);
    }
  }
  return commit(std::move(r), tok, ctx);
}

}  // namespace sessionmesh::store
