// local_store: the seams the replicated adapter and the cluster layer use —
// map swaps that keep the Merkle index in step, deterministic expiry,
// merging remote records, leaf enumeration for anti-entropy, moved events.
#include <algorithm>
#include <optional>

#include "crdt/codec.hpp"
#include "store/local_store.hpp"
#include "store/validate.hpp"

namespace sessionmesh::store {

using crdt::session_record;

void local_store::swap_locked(shard& sh, std::string_view id, detail::packed_record* p) {
  const hashed_id key(id);
  // One add, and none when the size stays (an overwrite of a value by one
  // as long): the counter's line is shared by every writer on every core.
  int64_t bytes = p ? static_cast<int64_t>(detail::packed_footprint(p)) : 0;
  auto* old = record_map::find(sh, key);
  if (old != nullptr) bytes -= static_cast<int64_t>(detail::packed_footprint(old));
  if (bytes != 0) record_bytes_ += bytes;
  if (sh.indexed)
    merkle_.update(key.hash, old ? detail::digest_of(old) : 0, p ? detail::digest_of(p) : 0);
  if (p)
    record_map::put(sh, key, p);
  else
    record_map::erase(sh, id);
}

// TTL expiry as a deterministic tombstone: stamped (expires_at, 0) by node
// tag 0, so every node that expires the session writes the very same
// record and their Merkle trees agree; any write after expiry wins over it.
void local_store::expire_locked(shard& sh, detail::packed_record* p) {
  session_record cur = detail::decode_packed(p);
  session_record delta;
  delta.id = cur.id;
  delta.tombstone = {crdt::hlc_make(crdt::expires_at_ms(cur), 0), 0};
  write_token tok;
  (void)apply_locked(sh, &cur, delta, change_type::expire, &tok);
}

void local_store::for_each_live(const std::function<void(std::string_view)>& fn) {
  const uint64_t now = now_ms();
  for (size_t i = 0; i < record_map::shard_count; ++i) {
    shard& sh = map_.at(i);
    std::shared_lock lk(sh.mu);
    for (auto* p : sh.set)
      if (p->live(now)) fn(detail::packed_id(p));
  }
}

void local_store::publish_moved(std::vector<session_move> moves, std::string reason) {
  std::erase_if(moves, [](const session_move& m) { return is_global_record(m.id); });
  if (moves.empty()) return;
  change c;
  c.type = change_type::moved;
  c.origin = options_.node_id;
  c.moves = std::move(moves);
  c.reason = std::move(reason);
  feed_.publish(std::move(c));
}

std::optional<size_t> local_store::forget_partition(uint32_t p, uint64_t expected) {
  SM_ASSERT(p < 256);
  build_index();  // before the shard's lock: it takes every shard's
  shard& sh = map_.at(p >> 2);  // a partition's 8 bits begin with its shard's 6
  std::vector<std::string> gone;
  {
    std::unique_lock lk(sh.mu);
    if (merkle_.node(2, p) != expected) return std::nullopt;
    for (auto* r : sh.set)
      if ((id_hash64(detail::packed_id(r)) >> 56) == p) gone.emplace_back(detail::packed_id(r));
    for (const auto& id : gone) {
      auto* r = record_map::find(sh, id);
      const bool was = r->exists();
      count_live(id, was, false);
      if (!was) --tombstones_;
      swap_locked(sh, id, nullptr);
    }
    SM_ASSERT(merkle_.node(2, p) == 0);
  }
  if (!gone.empty() && wal_) {
    snapshot_wanted_ = true;
    maint_cv_.notify_all();
  }
  return gone.size();
}

void local_store::build_index() {
  if (index_built_.load(std::memory_order_acquire)) return;
  std::lock_guard build(index_mu_);
  if (index_built_.load(std::memory_order_relaxed)) return;
  // Each shard's records go into the batch under its lock, and the shard
  // is marked indexed then: its later writes update the index themselves.
  // The index is a sum, so adding the batch after them gives the same.
  merkle_index::batch b;
  for (size_t i = 0; i < record_map::shard_count; ++i) {
    shard& sh = map_.at(i);
    std::unique_lock lk(sh.mu);
    SM_ASSERT(!sh.indexed);
    for (auto* p : sh.set) b.add(id_hash64(detail::packed_id(p)), detail::digest_of(p));
    sh.indexed = true;
  }
  merkle_.merge(b);
  index_built_.store(true, std::memory_order_release);
}

void local_store::set_replication_sink(replication_sink sink) {
  sink_ = std::move(sink);
}

result<bool> local_store::apply_remote(std::string_view encoded, std::string_view origin) {
  auto a = apply_remote_deferred(encoded, origin);
  if (!a) return a.error();
  if (auto c = sync_lsn(a->lsn); !c) return c.error();
  return a->changed;
}

void local_store::when_lsn_durable(uint64_t lsn, std::function<void(result<void>)> done) {
  if (!wal_ || lsn == 0) return done(result<void>{});
  wal_->when_durable(lsn, std::move(done));
}

result<void> local_store::sync_lsn(uint64_t lsn) {
  if (!wal_ || lsn == 0) return {};
  return wal_->commit(lsn);
}

result<local_store::applied> local_store::apply_remote_deferred(std::string_view encoded, std::string_view origin) {
  if (closed_) return errc::unavailable;
  crdt::codec_limits lim;
  auto d = crdt::decode(encoded, lim);
  if (!d) return d.error();
  if (!valid_id(d->id) && !(is_global_record(d->id) && valid_id(std::string_view(d->id).substr(4))))
    return errc::invalid_argument;
  const uint64_t now = now_ms();
  if (auto u = clock_.update(crdt::max_stamp(*d).hlc, now); !u) {
    ++clock_refusals_;
    return u.error();
  }
  shard& sh = map_.shard_for(d->id);
  uint64_t lsn = 0;
  {
    std::unique_lock lk(sh.mu);
    auto* p = record_map::find(sh, d->id);
    std::optional<session_record> cur;
    if (p) cur = detail::decode_packed(p);
    session_record next = cur ? crdt::merge(*cur, *d) : crdt::merge(session_record{d->id}, *d);
    if (cur && next == *cur) return applied{};
    const bool was = cur && crdt::exists(*cur);
    const bool is = crdt::exists(next);
    if (wal_) {
      auto l = wal_->append(encoded);
      if (!l) return l.error();
      lsn = *l;
    }
    count_live(d->id, was, is);
    if (const int t = static_cast<int>(!is) - static_cast<int>(cur && !was); t != 0) tombstones_ += t;
    const std::string enc = crdt::encode(next);
    auto* np = detail::make_packed(enc, 1, &sh.pool);
    detail::retain(np);
    session out(np);
    swap_locked(sh, d->id, np);
    if (is || was) {
      if (is) {
        const crdt::stamp v = crdt::content_version(next);
        publish(change_type::put, d->id, &v, out, origin, &sh.pool);
      } else {
        const auto type = next.tombstone.node == 0 ? change_type::expire : change_type::del;
        if (type == change_type::expire) {
          ++(is_global_record(d->id) ? gp_expired_ : expired_);
          count_expired(d->id);
        }
        publish(type, d->id, &next.tombstone, {}, origin, &sh.pool);
      }
    }
  }
  // Only fsync=always has anything to wait for.
  return applied{true, wal_ && wal_->mode() == fsync_mode::always ? lsn : 0};
}

std::vector<local_store::leaf_entry> local_store::leaf_entries(uint32_t leaf) {
  std::vector<leaf_entry> out;
  shard& sh = map_.at(leaf >> (merkle_index::leaf_bits - 6));
  std::shared_lock lk(sh.mu);
  for (auto* p : sh.set) {
    const std::string_view id = detail::packed_id(p);
    const uint64_t h = id_hash64(id);
    if (merkle_index::leaf_of(h) != leaf) continue;
    out.push_back({std::string(id), h, detail::digest_of(p)});
  }
  // In id-hash order, not the table's (which follows heap addresses): the
  // same store gives the same messages, run after run (tests/sim replays).
  std::sort(out.begin(), out.end(), [](const leaf_entry& a, const leaf_entry& b) { return a.id_hash < b.id_hash; });
  return out;
}

std::vector<std::pair<uint64_t, std::string>> local_store::records_by_hash(const std::vector<uint64_t>& hashes) {
  std::vector<std::pair<uint64_t, std::string>> out;
  std::vector<uint64_t> sorted(hashes);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  // Sorted hashes group by shard (a shard is a range of the top bits).
  for (size_t i = 0; i < sorted.size();) {
    const size_t s = record_map::shard_index(sorted[i]);
    size_t j = i;
    while (j < sorted.size() && record_map::shard_index(sorted[j]) == s) ++j;
    shard& sh = map_.at(s);
    std::shared_lock lk(sh.mu);
    for (auto* p : sh.set) {
      const uint64_t h = id_hash64(detail::packed_id(p));
      if (std::binary_search(sorted.begin() + static_cast<std::ptrdiff_t>(i), sorted.begin() + static_cast<std::ptrdiff_t>(j), h))
        out.emplace_back(h, std::string(p->bytes()));
    }
    i = j;
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });  // as leaf_entries
  return out;
}

std::vector<std::string> local_store::raw_records(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    shard& sh = map_.shard_for(id);
    std::shared_lock lk(sh.mu);
    if (auto* p = record_map::find(sh, id)) out.emplace_back(p->bytes());
  }
  return out;
}

}  // namespace sessionmesh::store
