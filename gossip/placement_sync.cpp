// gossiper: placement upkeep and partition-scoped anti-entropy (ae_part).
// The table is rebuilt whenever the owners change; an exchange compares
// the level-2 hashes of the partitions two nodes share, plus those this
// node holds without replicating them and the peer replicates (handoff);
// differing ones go down the usual leaf path (ae_l3, anti_entropy.cpp).
#include <algorithm>

#include "gossip/gossiper.hpp"

namespace sessionmesh::gossip {

namespace {
bool live(const member& m) { return m.status == member_status::alive || m.status == member_status::suspect; }
}  // namespace

void gossiper::refresh_placement(uint64_t now) {
  if (placed_at_version_ == members_version_) return;
  placed_at_version_ = members_version_;
  std::vector<std::string> owners;
  if (live(self_)) owners.push_back(self_.node_id);
  for (const auto& [id, m] : members_)
    if (live(m)) owners.push_back(id);
  std::sort(owners.begin(), owners.end());
  if (placement_version_ != 0 && owners == placement_.nodes()) return;
  if (placement_version_ != 0 && !placement_.full()) {
    past_placements_.emplace_back(placement_version_, std::move(placement_));
    while (past_placements_.size() > past_placements_max) past_placements_.pop_front();
  }
  const gossip::placement before = placement_version_ ? placement_ : gossip::placement();
  placement_ = gossip::placement(std::move(owners), cfg_.replicas);
  if (!placement_.full()) {
    for (uint32_t p = 0; p < partition_count; ++p) {
      // A partition held from the start is whole: what this node missed
      // while it was down, its streams do not count (their gaps).
      const bool mine = placement_.holds(p, self_.node_id);
      if (mine && placement_version_ != 0 && !before.holds(p, self_.node_id) && !incomplete_.test(p)) {
        incomplete_.set(p);
        gained_from_[p] = before.replicas(p);
      }
      if (!mine) incomplete_.reset(p);
    }
    ++streams_version_;
  }
  ++placement_version_;
  placement_seq_ = write_seq_;
  placement_ms_ = now;
}

std::vector<uint32_t> gossiper::shared_with(const std::string& peer) const {
  const auto both = placement_.held_by(self_.node_id) & placement_.held_by(peer);
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < partition_count; ++p)
    if (both.test(p)) out.push_back(p);
  return out;
}

bool gossiper::may_count_equal(const member& m, const std::vector<uint32_t>& parts, uint64_t now) const {
  const auto shared = shared_with(m.node_id);
  if (!std::includes(parts.begin(), parts.end(), shared.begin(), shared.end())) return false;
  // Writes made before the placement last changed went to the replicas of
  // then: the partitions shared now do not speak for them.
  return m.acked_through >= placement_seq_ || now >= placement_ms_ + placement_forgive_ms;
}

void gossiper::note_complete(uint32_t p, const std::string& from) {
  if (!incomplete_.test(p)) return;
  const auto& was = gained_from_[p];
  if (std::find(was.begin(), was.end(), from) == was.end()) return;
  incomplete_.reset(p);
  ++streams_version_;
}

void gossiper::start_part_exchange(uint64_t now) {
  const auto level2 = store_.merkle_level(2);
  auto alive = [&](const std::string& id) {
    auto it = members_.find(id);
    return it != members_.end() && it->second.status == member_status::alive;
  };
  // Held here, replicated elsewhere: every other exchange hands some off.
  std::vector<uint32_t> foreign;
  for (uint32_t p = 0; p < partition_count; ++p)
    if (level2[p] != 0 && !placement_.holds(p, self_.node_id)) foreign.push_back(p);
  std::string peer;
  // Handing off is all that is left to a node that replicates nothing (it left).
  if (!foreign.empty() && (++handoff_pos_ % 2 == 1 || placement_.held_by(self_.node_id).none())) {
    for (size_t k = 0; k < foreign.size() && peer.empty(); ++k) {
      const uint32_t p = foreign[(handoff_pos_ / 2 + k) % foreign.size()];
      for (const auto& r : placement_.replicas(p))
        if (r != self_.node_id && alive(r)) {
          peer = r;
          break;
        }
    }
  }
  if (peer.empty() && alive(ae_next_peer_) && !shared_with(ae_next_peer_).empty()) peer = ae_next_peer_;
  ae_next_peer_.clear();
  // Round robin over the alive peers in a shuffled order: a partition
  // lives on two or three nodes only, and each pair must meet often (a
  // random pick left a pair apart for 20 s in 1 of ~500 simulated runs).
  for (size_t tries = 0; peer.empty() && tries < 2; ++tries) {
    if (ae_pos_ >= ae_order_.size()) {
      ae_order_.clear();
      for (const auto& [id, m] : members_)
        if (m.status == member_status::alive) ae_order_.push_back(id);
      std::shuffle(ae_order_.begin(), ae_order_.end(), rng_);
      ae_pos_ = 0;
    }
    while (peer.empty() && ae_pos_ < ae_order_.size()) {
      const std::string& id = ae_order_[ae_pos_++];
      if (alive(id) && (placement_.held_by(self_.node_id) & placement_.held_by(id)).any()) peer = id;
    }
  }
  if (peer.empty()) return;
  std::vector<uint32_t> parts = shared_with(peer);
  for (uint32_t p : foreign)
    if (placement_.holds(p, peer)) parts.push_back(p);
  std::sort(parts.begin(), parts.end());
  if (parts.empty()) return;
  ++stats_.ae_exchanges;
  ae_seq_ = write_seq_;
  exchange_ = ((exchange_ & ~ae_flags) + 1) | ae_streams;
  if (merges_durable()) exchange_ |= ae_durable;
  part_sent_.clear();
  part_version_ = placement_version_;
  ae_part m{exchange_, parts, {}};
  for (uint32_t p : parts) {
    m.hashes.push_back(level2[p]);
    part_sent_[p] = level2[p];
  }
  send(peer, std::move(m));
}

void gossiper::on_ae_part(const std::string& from, const ae_part& m) {
  auto mit = members_.find(from);
  if (mit != members_.end() && (m.exchange & ae_streams)) mit->second.reads_marks = true;
  const auto mine = store_.merkle_level(2);
  const auto leaves = store_.merkle_level(3);
  ae_l3 differ{m.exchange, {}, {}};
  ae_part_equal equal{m.exchange, {}};
  for (size_t i = 0; i < m.parts.size(); ++i) {
    const uint32_t p = m.parts[i];
    if (mine[p] == m.hashes[i]) {
      note_complete(p, from);
      // Said equal only of a partition this node keeps: two nodes whose
      // views disagree could each take the other for its replica and
      // both forget it.
      if (placement_.holds(p, self_.node_id)) equal.parts.push_back(p);
    } else if (differ.nodes.size() * 16 < cfg_.ae_max_leaves) {
      differ.nodes.push_back(p);
      for (uint32_t k = 0; k < 16; ++k) differ.leaf_hashes.push_back(leaves[p * 16 + k]);
    }
  }
  // All equal, and the initiator's merges durable: it holds every write of
  // ours meant for it (as a root found equal does without placement).
  if (mit != members_.end() && equal.parts.size() == m.parts.size() && differ.nodes.empty() && (m.exchange & ae_durable) &&
      may_count_equal(mit->second, equal.parts, mit->second.last_heard_ms)) {
    ack_caps_.erase(from);
    advance_acked(mit->second, write_seq_);
  }
  // "Equal" lets the initiator forget what it hands off: only when every
  // merge here is durable.
  if (!equal.parts.empty() && merges_durable()) send(from, std::move(equal));
  if (!differ.nodes.empty()) send(from, std::move(differ));
}

void gossiper::on_ae_part_equal(const std::string& from, const ae_part_equal& m, uint64_t now) {
  if ((m.exchange & ~ae_flags) != (exchange_ & ~ae_flags)) return;  // not the exchange under way
  auto mit = members_.find(from);
  if (mit == members_.end()) return;
  size_t counted = 0;
  bool forgot = false;
  for (uint32_t p : m.parts) {
    auto s = part_sent_.find(p);
    if (s == part_sent_.end()) continue;
    ++counted;
    note_complete(p, from);
    if (placement_.holds(p, self_.node_id) || !placement_.holds(p, from)) continue;
    if (auto n = store_.forget_partition(p, s->second)) {
      ++stats_.partitions_handed_off;
      stats_.records_handed_off += *n;
      handoffs_.push_back({p, from, *n});
      forgot = true;
    }
  }
  if (forgot) next_ae_ms_ = std::min(next_ae_ms_, now + 50);  // more may be waiting to go
  if (counted == part_sent_.size() && part_version_ == placement_version_ &&
      may_count_equal(mit->second, m.parts, now)) {
    ack_caps_.erase(from);
    advance_acked(mit->second, ae_seq_);
    mit->second.in_sync = true;
    mit->second.last_sync_ms = now;
    ++stats_.ae_equal;
  }
}

}  // namespace sessionmesh::gossip
