// gossiper: membership (SWIM probes, suspicion, dissemination, push-pull).
#include <algorithm>
#include <cmath>

#include "gossip/gossiper.hpp"

namespace sessionmesh::gossip {

namespace {
unsigned log_scale(size_t n) {
  return std::max(1u, static_cast<unsigned>(std::ceil(std::log10(double(n) + 1))));
}
}  // namespace

member_update gossiper::update_of(const member& m) const {
  return {m.node_id, m.gossip_addr, m.http_addr, m.incarnation, m.status};
}

void gossiper::enqueue_update(const member& m) {
  const unsigned times = cfg_.retransmit_mult * log_scale(members_.size() + 1);
  std::erase_if(updates_, [&](const auto& p) { return p.first.node_id == m.node_id; });
  updates_.emplace_back(update_of(m), times);
  while (updates_.size() > 256) updates_.pop_front();
}

std::vector<member_update> gossiper::piggyback() {
  std::vector<member_update> out;
  for (auto it = updates_.begin(); it != updates_.end() && out.size() < 8;) {
    out.push_back(it->first);
    if (--it->second == 0)
      it = updates_.erase(it);
    else
      ++it;
  }
  return out;
}

void gossiper::set_status(member& m, member_status s, uint64_t now) {
  if (m.status == s) return;
  // Back from suspect or dead (a healed partition, a restart): compare
  // stores with it now rather than at a random later exchange.
  if (s == member_status::alive && (m.status == member_status::suspect || m.status == member_status::dead)) {
    ae_next_peer_ = m.node_id;
    next_ae_ms_ = std::min(next_ae_ms_, now);
  }
  m.status = s;
  ++members_version_;
  m.since_ms = now;
  if (s != member_status::alive) m.in_sync = false;
  changes_.emplace_back(m.node_id, s);
  if (s == member_status::suspect) ++stats_.suspicions;
  if (s == member_status::dead) ++stats_.deaths;
}

void gossiper::apply_update(const member_update& u, uint64_t now) {
  if (u.node_id == self_.node_id) {
    // Someone thinks we are suspect or dead: refute with a higher incarnation.
    if ((u.status == member_status::suspect || u.status == member_status::dead) &&
        u.incarnation >= self_.incarnation && self_.status == member_status::alive) {
      self_.incarnation = u.incarnation + 1;
      ++stats_.refutations;
      enqueue_update(self_);
    }
    return;
  }
  auto it = members_.find(u.node_id);
  if (it == members_.end()) {
    // A dead or left node we never knew (or already forgot) is not news.
    if (u.status == member_status::dead || u.status == member_status::left) return;
    if (members_.size() >= cfg_.max_members) {
      ++stats_.members_refused;
      return;
    }
    member m;
    m.node_id = u.node_id;
    m.gossip_addr = u.gossip_addr;
    m.http_addr = u.http_addr;
    m.incarnation = u.incarnation;
    m.status = u.status;
    m.since_ms = now;
    m.last_heard_ms = now;
    auto& nm = members_.emplace(u.node_id, std::move(m)).first->second;
    ++members_version_;
    changes_.emplace_back(nm.node_id, nm.status);
    enqueue_update(nm);
    return;
  }
  member& m = it->second;
  bool changed = false;
  switch (u.status) {
    case member_status::alive:
      if (u.incarnation > m.incarnation ||
          (m.status == member_status::alive && u.incarnation == m.incarnation &&
           (m.gossip_addr != u.gossip_addr || m.http_addr != u.http_addr))) {
        changed = u.incarnation > m.incarnation || m.status != member_status::alive;
        // A new incarnation may be a new life, numbering its writes from 1
        // again: what we knew of its stream waits for its next mark.
        if (u.incarnation > m.incarnation) {
          forget_stream(m.node_id);
          m.marks_sent = false;  // and, if so, it knows nothing of ours
        }
        m.incarnation = u.incarnation;
        if (!u.gossip_addr.empty()) m.gossip_addr = u.gossip_addr;
        if (!u.http_addr.empty()) m.http_addr = u.http_addr;
        set_status(m, member_status::alive, now);
        m.last_heard_ms = now;
      }
      break;
    case member_status::suspect:
      if (u.incarnation >= m.incarnation && m.status == member_status::alive) {
        m.incarnation = u.incarnation;
        set_status(m, member_status::suspect, now);
        changed = true;
      }
      break;
    case member_status::dead:
    case member_status::left:
      if (u.incarnation >= m.incarnation && m.status != member_status::dead &&
          m.status != member_status::left) {
        m.incarnation = u.incarnation;
        set_status(m, u.status, now);
        changed = true;
      }
      break;
  }
  if (changed) enqueue_update(m);
}

std::vector<std::string> gossiper::alive_peers() const {
  std::vector<std::string> out;
  for (const auto& [id, m] : members_)
    if (m.status == member_status::alive || m.status == member_status::suspect) out.push_back(id);
  return out;
}

void gossiper::send(const std::string& node, message m) {
  auto it = members_.find(node);
  envelope e;
  e.to_node = node;
  if (it != members_.end()) e.to_addr = it->second.gossip_addr;
  e.msg = std::move(m);
  outbox_.push_back(std::move(e));
}

void gossiper::probe(uint64_t now) {
  next_probe_ms_ = now + cfg_.probe_interval_ms;
  if (probe_.active) return;
  if (probe_pos_ >= probe_order_.size()) {
    probe_order_ = alive_peers();
    std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
    probe_pos_ = 0;
  }
  while (probe_pos_ < probe_order_.size()) {
    const std::string target = probe_order_[probe_pos_++];
    auto it = members_.find(target);
    if (it == members_.end() || it->second.status == member_status::dead ||
        it->second.status == member_status::left)
      continue;
    probe_ = {target, ++seq_, now, false, true};
    ++stats_.probes;
    send(target, ping{probe_.seq, piggyback(), now});
    return;
  }
}

void gossiper::check_probe(uint64_t now) {
  if (!probe_.active) return;
  if (!probe_.indirect && now >= probe_.sent_ms + cfg_.probe_timeout_ms) {
    probe_.indirect = true;
    auto peers = alive_peers();
    std::erase(peers, probe_.target);
    std::shuffle(peers.begin(), peers.end(), rng_);
    for (size_t i = 0; i < peers.size() && i < cfg_.indirect_probes; ++i)
      send(peers[i], ping_req{probe_.seq, probe_.target, piggyback()});
  }
  if (now >= probe_.sent_ms + cfg_.probe_interval_ms) {
    probe_.active = false;
    ++stats_.probe_failures;
    auto it = members_.find(probe_.target);
    if (it != members_.end() && it->second.status == member_status::alive) {
      set_status(it->second, member_status::suspect, now);
      enqueue_update(it->second);
    }
  }
}

void gossiper::check_suspects(uint64_t now) {
  const uint64_t timeout = cfg_.suspicion_mult * log_scale(members_.size() + 1) * cfg_.probe_interval_ms;
  for (auto& [id, m] : members_) {
    if (m.status == member_status::suspect && now >= m.since_ms + timeout) {
      set_status(m, member_status::dead, now);
      enqueue_update(m);
    }
  }
}

// Push-pull with one dead (not left) member each interval, so the two sides
// of a healed partition learn of each other and refute (Serf's reconnect).
void gossiper::reconnect_dead(uint64_t now) {
  next_reconnect_ms_ = now + cfg_.reconnect_interval_ms;
  std::vector<std::string> dead;
  for (const auto& [id, m] : members_)
    if (m.status == member_status::dead) dead.push_back(id);
  if (!dead.empty()) send(dead[rng_() % dead.size()], sync{table()});
}

void gossiper::reap_dead(uint64_t now) {
  for (auto it = members_.begin(); it != members_.end();) {
    const member& m = it->second;
    if ((m.status == member_status::dead || m.status == member_status::left) &&
        now > m.since_ms + cfg_.dead_reap_ms) {
      queues_.erase(it->first);
      ack_caps_.erase(it->first);
      unknown_synced_.erase(it->first);
      std::erase_if(updates_, [&](const auto& p) { return p.first.node_id == it->first; });
      ++stats_.members_reaped;
      it = members_.erase(it);
      ++members_version_;
    } else {
      ++it;
    }
  }
}

std::vector<member_update> gossiper::table() const {
  std::vector<member_update> out;
  out.push_back(update_of(self_));
  for (const auto& [_, m] : members_) out.push_back(update_of(m));
  return out;
}

void gossiper::send_sync(uint64_t now) {
  next_sync_ms_ = now + cfg_.sync_interval_ms;
  auto peers = alive_peers();
  if (!peers.empty()) {
    send(peers[rng_() % peers.size()], sync{table()});
  }
  // Until we know an alive peer, keep knocking on every seed.
  if (peers.empty()) {
    for (const auto& addr : cfg_.seeds) {
      if (addr == self_.gossip_addr) continue;
      outbox_.push_back(envelope{"", addr, sync{table()}});
    }
    next_sync_ms_ = now + std::min<uint64_t>(cfg_.sync_interval_ms, 1000);
  }
}

// NTP's estimate from one round trip: the peer read its clock about half
// the round trip before the ack arrived. Our side is the write clock: the
// HLC (which may run ahead of the physical clock after a jump back) or the
// physical clock, whichever is later, since the next stamp takes that.
void gossiper::sample_clock(member& m, uint64_t their_clock, uint64_t sent, uint64_t now) {
  const uint64_t rtt = now >= sent ? now - sent : 0;
  const uint64_t mine = std::max(store_.clock_ms(), now);
  m.clock_lead_ms = static_cast<int64_t>(mine) - static_cast<int64_t>(their_clock + rtt / 2);
  m.clock_sampled_ms = now;
}

void gossiper::evaluate_clock(uint64_t now) {
  std::vector<int64_t> leads;
  size_t ahead = 0, behind = 0, peers = 0;
  const auto limit = static_cast<int64_t>(cfg_.max_clock_offset_ms);
  for (const auto& [_, m] : members_) {
    if (m.status == member_status::left) continue;
    ++peers;
    if (m.status == member_status::dead) continue;
    if (m.clock_sampled_ms == 0 || now > m.clock_sampled_ms + cfg_.clock_sample_max_age_ms) continue;
    const int64_t lead = m.clock_lead_ms;
    leads.push_back(lead);
    if (lead > limit) ++ahead;
    if (lead < -limit) ++behind;
  }
  const bool was = clock_ahead_;
  // More than half of the known peers (dead ones included), not of those
  // measured so far: one sample of a peer that is itself far off, early on
  // or while the others are out of reach, must not decide.
  clock_ahead_ = 2 * ahead > peers;
  clock_behind_ = 2 * behind > peers;
  if (clock_ahead_ && !was) ++stats_.clock_ahead_episodes;
  if (leads.empty()) {
    clock_lead_ms_ = 0;
  } else {
    std::nth_element(leads.begin(), leads.begin() + static_cast<std::ptrdiff_t>(leads.size() / 2),
                     leads.end());
    clock_lead_ms_ = leads[leads.size() / 2];
  }
}

}  // namespace sessionmesh::gossip
