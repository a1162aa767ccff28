// local_store: opening, recovery, maintenance (reaper, snapshots), stats, close.
#include <array>
#include <chrono>
#include <mutex>

#include "crdt/codec.hpp"
#include "store/coarse_clock.hpp"
#include "store/local_store.hpp"
#include "store/recovery.hpp"
#include "sessionmesh/telemetry.hpp"
#include "store/thread_name.hpp"

namespace sessionmesh::store {

using crdt::session_record;

namespace {

uint64_t system_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

uint64_t node_tag(const std::string& node_id) { return XXH3_64bits(node_id.data(), node_id.size()); }

}  // namespace

local_store::local_store(const store_options& options, file_system& fs, uint64_t incarnation)
    : options_(options),
      fs_(fs),
      feed_(options.feed_capacity, options.feed_bytes, incarnation, options.node_id),
      clock_(node_tag(options.node_id), options.max_clock_offset_ms),
      rng_(incarnation),
      default_ttl_s_(options.default_ttl_s),
      max_sessions_(options.max_sessions),
      strict_quota_(options.strict_quota),
      global_program_ttl_s_(options.global_program_ttl_s),
      max_global_programs_(options.max_global_programs),
      value_bytes_(options.limits.value_bytes),
      entries_per_map_(options.limits.entries_per_map),
      programs_(options.limits.programs),
      session_bytes_(options.limits.session_bytes) {
  if (!options_.clock) {
    options_.clock = system_ms;
    read_slack_ms_ = coarse_clock_slack_ms();  // an injected clock is read as is
  }
  reap_ms_ = options.reaper_interval_ms;
}

store_limits local_store::limits() const {
  store_limits l = options_.limits;
  l.value_bytes = value_bytes_.load(std::memory_order_relaxed);
  l.entries_per_map = entries_per_map_.load(std::memory_order_relaxed);
  l.programs = programs_.load(std::memory_order_relaxed);
  l.session_bytes = session_bytes_.load(std::memory_order_relaxed);
  return l;
}

void local_store::reconfigure(const runtime_settings& s) {
  default_ttl_s_ = s.default_ttl_s;
  max_sessions_ = s.max_sessions;
  strict_quota_ = s.strict_quota;
  global_program_ttl_s_ = s.global_program_ttl_s;
  max_global_programs_ = s.max_global_programs;
  value_bytes_ = s.limits.value_bytes;
  entries_per_map_ = s.limits.entries_per_map;
  programs_ = s.limits.programs;
  session_bytes_ = s.limits.session_bytes;
  warned80_ = false;
  warned100_ = false;
  if (s.fsync && wal_) wal_->set_mode(*s.fsync);
  if (s.reaper_interval_ms) {
    std::lock_guard lk(maint_mu_);
    reap_ms_ = *s.reaper_interval_ms;
    maint_cv_.notify_all();
  }
}

result<std::unique_ptr<local_store>> local_store::open(const store_options& options, file_system& fs) {
  if (options.node_id.empty()) {
    return {errc::invalid_argument, "node id must not be empty"};
  }
  std::random_device rd;
  const uint64_t incarnation = (uint64_t{rd()} << 32) ^ rd() ^ system_ms();
  std::unique_ptr<local_store> st(new local_store(options, fs, incarnation));
  record_arena::set_huge_pages(options.huge_pages);
  if (options.data_dir) {
    const std::string& dir = *options.data_dir;
    const record_arena::plain_pages_while_loading plain;
    auto rep = recover(
        fs, dir, [&](std::string_view payload) { return st->apply_recovered(payload); },
        [&](const std::vector<std::string_view>& records) { return st->apply_snapshot(records); });
    if (!rep) return failed<std::unique_ptr<local_store>>(rep);
    st->wal_ = std::make_unique<wal>(fs, dir, options.fsync, options.batch_interval_ms,
                                     options.wal_segment_bytes);
    if (auto r = st->wal_->start(rep->next_segment); !r) {
      return {r.error(), dir + ": cannot open WAL segment for writing"};
    }
  }
  (void)st->cleanup_expired();
  st->cleanup_runs_ = 0;
  if (options.background_threads && (options.reaper_interval_ms > 0 || options.data_dir))
    st->maint_ = std::thread([s = st.get()] { s->maintenance_loop(); });
  return st;
}

bool local_store::apply_recovered(std::string_view payload) {
  auto facts = crdt::inspect(payload);
  if (!facts) return false;
  clock_.observe_persisted(facts->max_stamp.hlc);
  const crdt::packed_header& h = facts->header;
  shard& sh = map_.shard_for(h.id);
  std::unique_lock lk(sh.mu);
  const detail::packed_record* held = record_map::find(sh, h.id);
  if (held == nullptr && h.tombstone.is_bottom()) {
    // The common case (a snapshot holds each id once): merged into nothing,
    // a record with no tombstone is itself (normalize has nothing to drop),
    // and it is canonical (inspect: our own encoder's bytes): it is packed
    // as read, not decoded, merged and encoded again.
    insert_new_locked(sh, detail::make_packed(payload, h, 1, &sh.pool));
    return true;
  }
  auto delta = crdt::decode(payload, {}, false);  // inspect checked it
  if (!delta) return false;
  session_record next;
  bool was = false, was_tomb = false;
  if (held != nullptr) {
    auto cur = crdt::decode(held->bytes(), {}, false);
    SM_ASSERT(cur.has_value());
    was = crdt::exists(*cur);
    was_tomb = !was;
    next = crdt::merge(std::move(cur).value(), *delta);
  } else {
    next = crdt::merge(session_record{delta->id}, *delta);
  }
  const bool is = crdt::exists(next);
  count_live(delta->id, was, is);
  tombstones_ += static_cast<int>(!is) - static_cast<int>(was_tomb);
  const std::string enc = crdt::encode(next);
  swap_locked(sh, delta->id, detail::make_packed(enc, 1, &sh.pool));
  return true;
}

void local_store::insert_new_locked(shard& sh, detail::packed_record* p) {
  const std::string_view id = detail::packed_id(p);
  const bool is = p->exists();
  count_live(id, false, is);
  tombstones_ += static_cast<int>(!is);
  swap_locked(sh, id, p);
}

bool local_store::apply_snapshot(const std::vector<std::string_view>& records) {
  constexpr size_t parallel_min = 4096;  // below this a thread costs more than it saves
  std::vector<detail::packed_record*> packed(records.size(), nullptr);
  // Each half is checked and packed on its thread. No record is hashed
  // here: the Merkle index is built on first use (build_index).
  struct part {
    uint64_t max_hlc = 0;
    bool ok = true;
    std::array<size_t, record_map::shard_count> per_shard{};  // packed records, to reserve for
  };
  auto check = [&](size_t b, size_t e, part& out) {
    record_arena::cache arena;  // this thread's: its leftover blocks go back to the arena at the end
    for (size_t i = b; i < e; ++i) {
      auto f = crdt::inspect(records[i]);
      if (!f) {
        out.ok = false;
        return;
      }
      out.max_hlc = std::max(out.max_hlc, f->max_stamp.hlc);
      if (!f->header.tombstone.is_bottom()) continue;
      packed[i] = detail::make_packed(records[i], f->header, 1, &arena);
      ++out.per_shard[record_map::shard_index(id_hash64(detail::packed_id(packed[i])))];
    }
  };
  part first, second;
  const size_t half = records.size() / 2;
  const bool two = options_.background_threads && records.size() >= parallel_min;
  if (two) {
    std::thread t([&] {
      name_this_thread("sm-recovery");
      check(half, records.size(), second);
    });
    check(0, half, first);
    t.join();
  } else {
    check(0, records.size(), first);
  }
  bool ok = first.ok && second.ok;
  if (ok) clock_.observe_persisted(std::max(first.max_hlc, second.max_hlc));
  for (size_t s = 0; ok && s < record_map::shard_count; ++s) {  // no rehash while inserting
    shard& sh = map_.at(s);
    std::unique_lock lk(sh.mu);
    sh.set.reserve(sh.set.size() + first.per_shard[s] + second.per_shard[s]);
  }
  for (size_t i = 0; i < records.size(); ++i) {
    detail::packed_record* p = packed[i];
    if (!ok) {
      if (p != nullptr) detail::release(p);
      continue;
    }
    if (p == nullptr) {  // a tombstone: merged
      ok = apply_recovered(records[i]);
      continue;
    }
    shard& sh = map_.shard_for(detail::packed_id(p));
    std::unique_lock lk(sh.mu);
    if (record_map::find(sh, detail::packed_id(p)) == nullptr) {
      insert_new_locked(sh, p);
      continue;
    }
    lk.unlock();  // an id seen before (not from this store's snapshots): merged
    detail::release(p);
    ok = apply_recovered(records[i]);
  }
  return ok;
}

local_store::~local_store() { close(); }

void local_store::close() {
  if (closed_.exchange(true)) return;
  {
    std::lock_guard lk(maint_mu_);
    stop_ = true;
  }
  maint_cv_.notify_all();
  if (maint_.joinable()) maint_.join();
  if (wal_) wal_->close();
}

uint64_t local_store::cleanup_expired() {
  const uint64_t now = now_ms();
  uint64_t n = 0;
  for (size_t i = 0; i < record_map::shard_count; ++i) {
    shard& sh = map_.at(i);
    std::unique_lock lk(sh.mu);
    std::vector<detail::packed_record*> gone;
    for (auto* p : sh.set) {
      if (p->exists()) {
        if (now >= p->expires_at_ms()) gone.push_back(p);
      } else if (detail::header_of(p).tombstone.physical_ms() + options_.tombstone_grace_ms <= now &&
                 crdt::max_stamp(detail::decode_packed(p)).physical_ms() + options_.tombstone_grace_ms <= now) {
        // A tombstone past the grace, or registers that never had a
        // session: a change that arrived before the session's create (a
        // delta overtaking another, a repair of part of it) waits for it
        // as long as a tombstone would, not dropped at the next pass.
        gone.push_back(p);
      }
    }
    for (auto* p : gone) {
      if (!p->exists()) {
        std::string id(detail::packed_id(p));
        swap_locked(sh, id, nullptr);
        --tombstones_;
        continue;
      }
      const bool global = is_global_record(detail::packed_id(p));
      count_expired(detail::packed_id(p));
      expire_locked(sh, p);
      if (global) ++gp_expired_;
      else ++n;
    }
  }
  expired_ += n;
  ++cleanup_runs_;
  if (n > 0 && options_.telemetry_hub)
    options_.telemetry_hub->emit(named_event{"sessions_pruned", "expired sessions removed", n});
  const auto cur = static_cast<uint64_t>(std::max<int64_t>(0, current_.load()));
  if (cur * 100 < max_sessions_.load() * 80) warned80_ = false;
  if (cur < max_sessions_.load()) warned100_ = false;
  return n;
}

void local_store::quota_check_warn(uint64_t current) {
  const uint64_t max = max_sessions_.load();
  if (max == 0) return;
  auto warn = [&](std::string_view name, const std::string& msg) {
    if (options_.on_warning) options_.on_warning(name, msg);
    if (options_.telemetry_hub) options_.telemetry_hub->emit(named_event{name, msg, current});
  };
  if (current >= max && !warned100_.exchange(true)) {
    warn("session_quota_full", "sessions reached max_sessions (" + std::to_string(max) + ")");
  } else if (current * 100 >= max * 80 && !warned80_.exchange(true)) {
    warn("session_accumulation_warning", "sessions reached 80% of max_sessions (" + std::to_string(current) +
                                             " of " + std::to_string(max) + ")");
  }
}

store_stats local_store::stats() {
  store_stats s;
  s.sessions_created = created_;
  s.sessions_deleted = deleted_;
  s.sessions_expired = expired_;
  s.cleanup_runs = cleanup_runs_;
  s.current_sessions = static_cast<uint64_t>(std::max<int64_t>(0, current_.load()));
  s.global_programs_stored = gp_stored_;
  s.global_programs_deleted = gp_deleted_;
  s.global_programs_expired = gp_expired_;
  s.current_global_programs = static_cast<uint64_t>(std::max<int64_t>(0, gp_live_.load()));
  s.tombstones = static_cast<uint64_t>(std::max<int64_t>(0, tombstones_.load()));
  s.memory_usage_bytes =
      static_cast<uint64_t>(std::max<int64_t>(0, record_bytes_.load())) + map_.table_bytes();
  if (wal_) {
    const auto w = wal_->counters();
    s.wal_appends = w.appends;
    s.wal_bytes = w.bytes;
    s.wal_fsyncs = w.fsyncs;
    s.wal_fsync_us_total = w.fsync_us_total;
    s.wal_fsync_us_last = w.fsync_us_last;
    s.wal_fsync_us_max = w.fsync_us_max;
    s.wal_failed = wal_->failed();
  }
  s.watchers = feed_.subscribers();
  return s;
}

wal_counters local_store::wal_stats() const { return wal_ ? wal_->counters() : wal_counters{}; }

result<uint64_t> local_store::snapshot_now() {
  if (!wal_ || !options_.data_dir) return errc::invalid_argument;
  std::lock_guard snap(snapshot_mu_);
  // Every record logged to segments <= covered was applied to the map under
  // its shard lock before the rotation, so the walk below sees it.
  wal_bytes_at_snapshot_ = wal_->counters().bytes;
  auto covered = wal_->rotate();
  if (!covered) return covered.error();
  return write_snapshot(fs_, *options_.data_dir, *covered, [&](const auto& emit) {
    for (size_t i = 0; i < record_map::shard_count; ++i) {
      std::vector<session> held;
      {
        shard& sh = map_.at(i);
        std::shared_lock lk(sh.mu);
        held.reserve(sh.set.size());
        for (auto* p : sh.set) {
          detail::retain(p);
          held.emplace_back(p);
        }
      }
      for (const auto& s : held) emit(s.encoded());
    }
  });
}

void local_store::maintenance_loop() {
  name_this_thread("sm-maintenance");
  std::unique_lock lk(maint_mu_);
  uint64_t reap_ms = reap_ms_;
  auto next_reap = std::chrono::steady_clock::now() + std::chrono::milliseconds(reap_ms);
  while (!stop_) {
    maint_cv_.wait_for(lk, std::chrono::milliseconds(reap_ms > 0 ? std::min<uint64_t>(reap_ms, 1000) : 1000));
    if (stop_) break;
    if (reap_ms_ != reap_ms) {  // reconfigured: the new interval counts from now
      reap_ms = reap_ms_;
      next_reap = std::chrono::steady_clock::now() + std::chrono::milliseconds(reap_ms);
    }
    lk.unlock();
    map_.reclaim_all();  // what writes dropped, once no reader holds it: an idle store keeps nothing
    if (reap_ms > 0 && std::chrono::steady_clock::now() >= next_reap) {
      (void)cleanup_expired();
      next_reap = std::chrono::steady_clock::now() + std::chrono::milliseconds(reap_ms);
    }
    if (wal_ && (wal_->counters().bytes - wal_bytes_at_snapshot_ >= options_.snapshot_wal_bytes ||
                 snapshot_wanted_.exchange(false)))
      (void)snapshot_now();
    lk.lock();
  }
}

}  // namespace sessionmesh::store
