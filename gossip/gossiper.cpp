// gossiper: dispatch, delta broadcast and ownership (anti-entropy: anti_entropy.cpp).
#include "gossip/gossiper.hpp"

#include <xxhash.h>

#include <algorithm>
#include <unordered_map>

namespace sessionmesh::gossip {

gossiper::gossiper(config cfg, store_port& store) : cfg_(std::move(cfg)), store_(store), rng_(cfg_.seed) {
  batch_ = batch_life(cfg_.incarnation);
  self_.node_id = cfg_.node_id;
  self_.gossip_addr = cfg_.gossip_addr;
  self_.http_addr = cfg_.http_addr;
  self_.incarnation = cfg_.incarnation;
  self_.status = member_status::alive;
}

void gossiper::start(uint64_t now) {
  refresh_placement(now);
  next_probe_ms_ = now + cfg_.probe_interval_ms;
  next_ae_ms_ = now + cfg_.ae_interval_ms;
  enqueue_update(self_);
  send_sync(now);
}

uint64_t gossiper::next_deadline() const {
  uint64_t d = std::min({next_probe_ms_, next_sync_ms_, next_ae_ms_});
  if (probe_.active)
    d = std::min(d, probe_.sent_ms + (probe_.indirect ? cfg_.probe_interval_ms : cfg_.probe_timeout_ms));
  return d;
}

void gossiper::on_tick(uint64_t now) {
  refresh_placement(now);
  if (self_.status == member_status::left) {
    // Left under placement: what this node holds goes to the replicas.
    if (!placement_.full() && now >= next_ae_ms_) start_exchange(now);
    flush_deltas(now);
    return;
  }
  check_probe(now);
  check_suspects(now);
  evaluate_clock(now);
  if (now >= next_probe_ms_) probe(now);
  // Alone (every peer dead or unknown): knock on the seeds every second.
  if (next_sync_ms_ > now + 1000 && alive_peers().empty()) next_sync_ms_ = now;
  if (now >= next_sync_ms_) send_sync(now);
  if (now >= next_reconnect_ms_) {
    reconnect_dead(now);
    reap_dead(now);
  }
  // A death found this tick changes the owners now, so the driver sees the
  // change in the same step as its cause (`moved` events name the reason).
  refresh_placement(now);
  if (now >= next_ae_ms_) start_exchange(now);
  flush_deltas(now);
  if (now >= next_mark_ms_) send_marks(now);
}

void gossiper::on_message(const std::string& from, const message& msg, uint64_t now,
                          const std::string& from_addr) {
  if (auto it = members_.find(from); it != members_.end()) {
    it->second.last_heard_ms = now;
    // Hearing from a member we thought dead does not revive it (SWIM): it
    // must refute with a higher incarnation, which its sync carries.
  } else if (from != self_.node_id && !from_addr.empty() && !std::holds_alternative<sync>(msg) &&
             !std::holds_alternative<sync_reply>(msg) && unknown_synced_.insert(from).second) {
    // Someone we do not know talks to us: learn the cluster from it.
    outbox_.push_back(envelope{from, from_addr, sync{table()}});
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ping>) {
          for (const auto& u : m.updates) apply_update(u, now);
          send(from, ack{m.seq, piggyback(), now});
        } else if constexpr (std::is_same_v<T, ack>) {
          for (const auto& u : m.updates) apply_update(u, now);
          if (probe_.active && m.seq == probe_.seq) {
            probe_.active = false;
            if (auto it = members_.find(from); it != members_.end() && from == probe_.target && m.clock_ms)
              sample_clock(it->second, m.clock_ms, probe_.sent_ms, now);
          } else if (auto r = relays_.find(m.seq); r != relays_.end()) {
            send(r->second.first, ack{r->second.second, {}});
            relays_.erase(r);
          }
        } else if constexpr (std::is_same_v<T, ping_req>) {
          for (const auto& u : m.updates) apply_update(u, now);
          const uint64_t s = ++seq_;
          relays_[s] = {from, m.seq};
          while (relays_.size() > 1024) relays_.erase(relays_.begin());
          send(m.target, ping{s, piggyback(), now});
        } else if constexpr (std::is_same_v<T, sync>) {
          for (const auto& u : m.members) apply_update(u, now);
          send(from, sync_reply{table()});
        } else if constexpr (std::is_same_v<T, sync_reply>) {
          for (const auto& u : m.members) apply_update(u, now);
        } else if constexpr (std::is_same_v<T, deltas>) {
          size_t refused = 0;
          for (const auto& r : m.records) {
            if (auto a = store_.apply(r, from)) {
              ++stats_.deltas_applied;
              note_lsn(*a);
            } else {
              ++refused;
            }
          }
          stats_.deltas_refused += refused;
          const bool ranged = m.first != 0 || (!m.records.empty() && m.through >= m.records.size());
          if (!refused && ranged) on_stream_applied(from, m.batch, m.first_seq(), m.through);
          // An ack says "applied every write through `through`" (acks=N
          // counts on it): after a refusal, acks stop below that batch
          // until anti-entropy finds the two stores equal again.
          if (refused) {
            const uint64_t below = ranged ? m.first_seq() - 1 : 0;
            auto [it, fresh] = ack_caps_.try_emplace(from, below);
            if (!fresh) it->second = std::min(it->second, below);
          }
          uint64_t through = m.through;
          if (auto it = ack_caps_.find(from); it != ack_caps_.end()) through = std::min(through, it->second);
          // Acknowledged once durable here, never before: everything applied
          // so far (a record that changed nothing may ride on an earlier
          // apply that is not durable yet).
          if (applied_lsn_ > durable_lsn_) {
            held_acks_.push_back({applied_lsn_, from, deltas_ack{m.batch, through}});
            if (held_acks_.size() > held_acks_max) held_acks_.pop_front();
          } else {
            send(from, deltas_ack{m.batch, through});
          }
        } else if constexpr (std::is_same_v<T, deltas_ack>) {
          on_batch_acked(from, m);
        } else if constexpr (std::is_same_v<T, ae_l2>) {
          on_ae_l2(from, m);
        } else if constexpr (std::is_same_v<T, ae_l3>) {
          if (m.nodes.empty()) {
            ack_caps_.erase(from);
            if (auto it = members_.find(from); it != members_.end()) {
              // Equal to what we had when this exchange began.
              if (m.exchange == exchange_) advance_acked(it->second, ae_seq_);
              it->second.in_sync = true;
              it->second.last_sync_ms = now;
            }
            ++stats_.ae_equal;
          }
          on_ae_l3(from, m);
        } else if constexpr (std::is_same_v<T, ae_leaves>) {
          on_ae_leaves(from, m, now);
        } else if constexpr (std::is_same_v<T, ae_records>) {
          on_ae_records(from, m, now);
        } else if constexpr (std::is_same_v<T, ae_sketch>) {
          on_ae_sketch(from, m, now);
        } else if constexpr (std::is_same_v<T, ae_diff>) {
          on_ae_diff(from, m, now);
        } else if constexpr (std::is_same_v<T, stream_mark>) {
          on_stream_mark(from, m);
        } else if constexpr (std::is_same_v<T, ae_part>) {
          on_ae_part(from, m);
        } else if constexpr (std::is_same_v<T, ae_part_equal>) {
          on_ae_part_equal(from, m, now);
        }
      },
      msg);
  refresh_placement(now);
}

// --- broadcast

uint64_t gossiper::local_delta(std::string encoded, uint32_t partition) {
  SM_ASSERT(!encoded.empty());
  const uint64_t seq = ++write_seq_;
  const bool placed = !placement_.full() && partition < partition_count;
  if (!placement_.full()) {
    write_parts_.emplace_back(placed ? partition : partition_count, placement_version_);
    while (write_parts_.size() > write_parts_max) {
      write_parts_.pop_front();
      ++write_parts_first_;
    }
  }
  for (const auto& id : alive_peers()) {
    auto& q = queues_[id].q;
    if (placed && !placement_.held_by(id).test(partition)) {
      // Not for it: the run of such writes grows (its batches say so).
      if (!q.empty() && q.back().delta.empty() && q.back().last + 1 == seq)
        q.back().last = seq;
      else
        q.push_back({seq, seq, {}});
      continue;
    }
    if (q.size() >= cfg_.delta_queue_max) {
      q.pop_front();
      ++stats_.deltas_dropped;  // anti-entropy repairs what the queue could not hold
    }
    q.push_back({seq, seq, encoded});
  }
  return seq;
}

void gossiper::on_durable(uint64_t lsn) {
  durable_lsn_ = std::max(durable_lsn_, lsn);
  // Held in arrival order; log positions grow with it.
  while (!held_acks_.empty() && held_acks_.front().lsn <= durable_lsn_) {
    send(held_acks_.front().to, held_acks_.front().ack);
    held_acks_.pop_front();
  }
}

void gossiper::flush_deltas(uint64_t now) {
  for (auto& [id, pq] : queues_) {
    auto it = members_.find(id);
    if (it == members_.end() || it->second.status == member_status::dead ||
        it->second.status == member_status::left) {
      stats_.deltas_dropped += pq.q.size();
      pq.q.clear();
      pq.inflight.clear();
      pq.acked_ranges.clear();
      continue;
    }
    // Only writes that are not for this peer: they wait for a write that
    // is, or for the mark interval (they move its count of our stream on).
    if (!pq.q.empty() && pq.q.size() == 1 && pq.q.front().delta.empty()) {
      if (pq.skips_due_ms == 0) pq.skips_due_ms = now + cfg_.mark_interval_ms;
      if (now < pq.skips_due_ms) continue;
    }
    pq.skips_due_ms = 0;
    while (!pq.q.empty()) {
      deltas d;
      d.batch = ++batch_;
      size_t bytes = 0;
      uint64_t first = 0;
      // A batch holds consecutive writes only: its receiver and its ack
      // name it by first..through, and a write this peer missed (it was
      // dead for a moment) must not hide inside that range.
      while (!pq.q.empty() && d.records.size() < cfg_.delta_batch_max && bytes < (4u << 20) &&
             (first == 0 || pq.q.front().first == d.through + 1)) {
        auto& e = pq.q.front();
        if (first == 0) first = e.first;
        d.through = e.last;
        if (!e.delta.empty()) {
          bytes += e.delta.size();
          d.records.push_back(std::move(e.delta));
        }
        pq.q.pop_front();
      }
      if (first != d.through + 1 - d.records.size()) d.first = first;
      stats_.deltas_sent += d.records.size();
      pq.inflight.emplace(d.batch, std::make_pair(first, d.through));
      while (pq.inflight.size() > inflight_max) pq.inflight.erase(pq.inflight.begin());
      send(id, std::move(d));
    }
  }
}

void gossiper::on_batch_acked(const std::string& from, const deltas_ack& m) {
  auto mit = members_.find(from);
  auto qit = queues_.find(from);
  if (mit == members_.end() || qit == queues_.end()) return;
  auto& pq = qit->second;
  auto b = pq.inflight.find(m.batch);
  if (b == pq.inflight.end()) return;  // unknown or already counted
  const auto [first, through] = b->second;
  pq.inflight.erase(b);
  if (m.through < through) return;  // refused some: a gap until anti-entropy
  if (first > mit->second.acked_through + 1) {
    auto [r, fresh] = pq.acked_ranges.try_emplace(first, through);
    if (!fresh) r->second = std::max(r->second, through);
    while (pq.acked_ranges.size() > inflight_max) pq.acked_ranges.erase(std::prev(pq.acked_ranges.end()));
    return;
  }
  advance_acked(mit->second, through);
}

void gossiper::advance_acked(member& m, uint64_t through) {
  m.acked_through = std::max(m.acked_through, through);
  auto qit = queues_.find(m.node_id);
  if (qit == queues_.end()) return;
  auto& ranges = qit->second.acked_ranges;
  while (!ranges.empty() && ranges.begin()->first <= m.acked_through + 1) {
    m.acked_through = std::max(m.acked_through, ranges.begin()->second);
    ranges.erase(ranges.begin());
  }
}

size_t gossiper::pending_deltas() const {
  size_t n = 0;
  for (const auto& [_, pq] : queues_) n += pq.q.size();
  return n;
}

size_t gossiper::acked(uint64_t seq) const {
  // Under placement: the replicas of the write's partition when it was
  // sent (a table that is no longer kept: the current one).
  const gossip::placement* at = nullptr;
  uint32_t part = partition_count;
  if (!placement_.full() && seq >= write_parts_first_ && seq - write_parts_first_ < write_parts_.size()) {
    const auto& [p, version] = write_parts_[seq - write_parts_first_];
    part = p;
    at = version == placement_version_ ? &placement_ : nullptr;
    for (const auto& [v, pl] : past_placements_)
      if (v == version) at = &pl;
    if (!at) at = &placement_;
  }
  size_t n = 0;
  for (const auto& [_, m] : members_)
    if (m.status == member_status::alive && m.acked_through >= seq && (!at || part >= partition_count || at->holds(part, m.node_id)))
      ++n;
  return n;
}

void gossiper::leave(uint64_t now) {
  self_.incarnation += 1;
  self_.status = member_status::left;
  ++members_version_;
  self_.since_ms = now;
  enqueue_update(self_);
  for (const auto& id : alive_peers()) send(id, sync{table()});
  refresh_placement(now);
}

// --- ownership

std::string rendezvous_owner(std::string_view id, const std::vector<std::string>& candidates) {
  std::string buf;
  const std::string* best = nullptr;
  uint64_t best_score = 0;
  for (const auto& node : candidates) {
    buf.assign(id);
    buf.push_back('\0');
    buf.append(node);
    const uint64_t s = XXH3_64bits(buf.data(), buf.size());
    if (!best || s > best_score || (s == best_score && node < *best)) {
      best = &node;
      best_score = s;
    }
  }
  return best ? *best : std::string();
}

std::string gossiper::owner_of(std::string_view id) const {
  if (placement_.nodes().empty()) return self_.node_id;
  return placement_.owner_of(id);
}

}  // namespace sessionmesh::gossip
