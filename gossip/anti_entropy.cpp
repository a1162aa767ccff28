// gossiper: anti-entropy. An exchange starts with the root and level-2
// hashes (ae_l2); the responder answers with a diff sketch (ae_sketch) when
// the initiator offered it and the level-2 difference is not saturated, or
// else with leaf hashes (ae_l3), and each path ends in ae_records. See the
// header for the rules; every step is capped at ae_max_records.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "crdt/codec.hpp"
#include "gossip/gossiper.hpp"

namespace sessionmesh::gossip {

void gossiper::start_exchange(uint64_t now) {
  next_ae_ms_ = now + cfg_.ae_interval_ms;
  if (!placement_.full()) return start_part_exchange(now);
  std::vector<std::string> peers;
  for (const auto& [id, m] : members_)
    if (m.status == member_status::alive) peers.push_back(id);
  if (peers.empty()) return;
  std::string peer = peers[rng_() % peers.size()];
  if (auto it = members_.find(ae_next_peer_); it != members_.end() && it->second.status == member_status::alive)
    peer = ae_next_peer_;
  ae_next_peer_.clear();
  ++stats_.ae_exchanges;
  ae_seq_ = write_seq_;
  exchange_ = ((exchange_ & ~ae_flags) + 1) | ae_streams;
  if (merges_durable()) exchange_ |= ae_durable;
  // After a sketch from this peer failed to decode, one exchange by leaves.
  if (auto& m = members_.at(peer); !std::exchange(m.sketch_failed, false)) exchange_ |= ae_sketch_offer;
  send(peer, ae_l2{exchange_, store_.merkle_root(), store_.merkle_level(2)});
}

void gossiper::on_ae_l2(const std::string& from, const ae_l2& m) {
  ae_l3 reply{m.exchange, {}, {}};
  if (auto it = members_.find(from); it != members_.end()) {
    it->second.merkle_root = m.root;
    if (m.exchange & ae_streams) it->second.reads_marks = true;
  }
  if (m.root == store_.merkle_root()) {
    ack_caps_.erase(from);
    // Equal stores: the peer holds every local write so far (acks=N counts
    // it even for writes that reached it by anti-entropy, not as deltas),
    // if its root counted durable merges only.
    if (auto it = members_.find(from); it != members_.end() && (m.exchange & ae_durable))
      advance_acked(it->second, write_seq_);
    // Equal, but merges here are not all durable yet: no "equal" answer (the
    // initiator would count us); the leaves of node 0 instead, which it
    // finds equal and ends the exchange on.
    if (!merges_durable()) {
      const auto leaves = store_.merkle_level(3);
      reply.nodes.push_back(0);
      reply.leaf_hashes.assign(leaves.begin(), leaves.begin() + 16);
      send(from, std::move(reply));
      return;
    }
  }
  if (m.root != store_.merkle_root() && m.hashes.size() == 256 && (m.exchange & ae_sketch_offer)) {
    if (const int bits = sketch_bits(m.hashes)) {
      send(from, ae_sketch{m.exchange, store_.merkle_root(), static_cast<uint32_t>(bits),
                           store_.sketch(bits).to_bytes()});
      return;
    }
  }
  if (m.root != store_.merkle_root() && m.hashes.size() == 256) {
    const auto mine = store_.merkle_level(2);
    const auto leaves = store_.merkle_level(3);
    for (uint32_t i = 0; i < 256 && reply.nodes.size() * 16 < cfg_.ae_max_leaves; ++i) {
      if (mine[i] == m.hashes[i]) continue;
      reply.nodes.push_back(i);
      for (uint32_t k = 0; k < 16; ++k) reply.leaf_hashes.push_back(leaves[i * 16 + k]);
    }
    if (reply.nodes.empty())
      reply.nodes.push_back(0), reply.leaf_hashes.assign(leaves.begin(), leaves.begin() + 16);
  }
  send(from, std::move(reply));
}

void gossiper::on_ae_l3(const std::string& from, const ae_l3& m) {
  if (m.nodes.empty() || m.leaf_hashes.size() != m.nodes.size() * 16) return;
  const auto leaves = store_.merkle_level(3);
  ae_leaves out{m.exchange, {}};
  for (size_t n = 0; n < m.nodes.size(); ++n) {
    if (m.nodes[n] >= 256) return;
    for (uint32_t k = 0; k < 16; ++k) {
      const uint32_t leaf = m.nodes[n] * 16 + k;
      if (leaves[leaf] == m.leaf_hashes[n * 16 + k]) continue;
      leaf_entries le;
      le.leaf = leaf;
      for (const auto& item : store_.leaf(leaf)) {
        le.id_hashes.push_back(item.id_hash);
        le.digests.push_back(item.digest);
      }
      out.leaves.push_back(std::move(le));
      if (out.leaves.size() >= cfg_.ae_max_leaves) break;
    }
  }
  if (!out.leaves.empty()) send(from, std::move(out));
}

void gossiper::on_ae_leaves(const std::string& from, const ae_leaves& m, uint64_t now) {
  next_ae_ms_ = std::min(next_ae_ms_, now + 50);
  ae_records out{m.exchange, {}, {}};
  std::vector<std::string> send_ids;
  for (const auto& le : m.leaves) {
    if (le.leaf >= 4096 || le.id_hashes.size() != le.digests.size()) return;
    std::unordered_map<uint64_t, uint64_t> theirs;
    for (size_t i = 0; i < le.id_hashes.size(); ++i) theirs[le.id_hashes[i]] = le.digests[i];
    std::unordered_map<uint64_t, uint64_t> mine_digest;
    for (const auto& item : store_.leaf(le.leaf)) {
      mine_digest[item.id_hash] = item.digest;
      auto it = theirs.find(item.id_hash);
      if ((it == theirs.end() || it->second != item.digest) && send_ids.size() < cfg_.ae_max_records)
        send_ids.push_back(item.id);
    }
    for (const auto& [h, d] : theirs) {
      auto it = mine_digest.find(h);
      if ((it == mine_digest.end() || it->second != d) && out.want.size() < cfg_.ae_max_records)
        out.want.push_back(h);
    }
  }
  out.records = store_.records(send_ids);
  stats_.records_sent += out.records.size();
  if (!out.records.empty() || !out.want.empty()) send(from, std::move(out));
}

std::vector<std::string> gossiper::records_by_hash(const std::vector<uint64_t>& hashes) {
  std::vector<std::string> out;
  for (auto& [h, r] : store_.records_with_hash(hashes)) out.push_back(std::move(r));
  return out;
}

void gossiper::apply_repairs(const std::string& from, const std::vector<std::string>& records, uint64_t now) {
  for (const auto& r : records)
    if (auto a = store_.apply(r, from)) {
      ++stats_.records_repaired;
      note_lsn(*a);
    }
  // Differences found: look again soon instead of a full interval later.
  next_ae_ms_ = std::min(next_ae_ms_, now + 50);
}

void gossiper::on_ae_records(const std::string& from, const ae_records& m, uint64_t now) {
  apply_repairs(from, m.records, now);
  if (!m.want.empty()) {
    std::vector<uint64_t> want(m.want.begin(), m.want.begin() + std::min(m.want.size(), cfg_.ae_max_records));
    ae_records back{m.exchange, records_by_hash(want), {}};
    stats_.records_sent += back.records.size();
    if (!back.records.empty()) send(from, std::move(back));
  }
}

// The level-2 difference estimates how many records differ (each lands in
// one of 256 nodes: d = -256 ln(1 - differing/256)); a changed record is
// two sketch entries. Cells: 1.5x the entries, three sub-tables, rounded
// up to a power of two per sub-table; saturated or too big: leaves.
int gossiper::sketch_bits(const std::vector<uint64_t>& theirs) const {
  const auto mine = store_.merkle_level(2);
  size_t differing = 0;
  for (size_t i = 0; i < 256; ++i) differing += mine[i] != theirs[i];
  if (differing >= 256) return 0;
  const double records = -256.0 * std::log(1.0 - static_cast<double>(differing) / 256.0);
  const double cells = 1.5 * 2.0 * records + 24.0;
  for (int b = store::sketch::min_bits; b <= store::sketch::max_bits; ++b)
    if (double(store::sketch::k) * double(1u << b) >= cells) return b;
  return 0;
}

void gossiper::on_ae_sketch(const std::string& from, const ae_sketch& m, uint64_t now) {
  if (m.exchange != exchange_) return;  // an answer to an exchange we no longer run
  next_ae_ms_ = std::min(next_ae_ms_, now + 50);
  if (auto it = members_.find(from); it != members_.end()) it->second.merkle_root = m.root;
  auto theirs = store::sketch::from_bytes(static_cast<int>(m.bits), m.cells);
  if (!theirs) return;
  store::sketch diff = store_.sketch(static_cast<int>(m.bits));
  diff.subtract(*theirs);
  const auto d = diff.decode(4 * cfg_.ae_max_records);
  ++stats_.ae_sketches;
  if (!d.complete) {
    ++stats_.ae_sketch_failures;
    if (auto it = members_.find(from); it != members_.end()) it->second.sketch_failed = true;
  }
  // Peeled entries: an id on one side only, or on both in two versions.
  std::unordered_map<uint64_t, int> sides;  // 1 mine, 2 theirs, 3 both
  for (const auto& e : d.mine) sides[e.id_hash] |= 1;
  for (const auto& e : d.theirs) sides[e.id_hash] |= 2;
  std::vector<uint64_t> only_mine, both;
  ae_diff out{m.exchange, {}, {}, {}, {}};
  for (const auto& [h, s] : sides) {
    if (s == 1 && only_mine.size() < cfg_.ae_max_records) only_mine.push_back(h);
    if (s == 2 && out.want.size() < cfg_.ae_max_records) out.want.push_back(h);
    if (s == 3 && both.size() < cfg_.ae_max_records) both.push_back(h);
  }
  // Sorted: the same exchange gives the same messages (tests/sim replays).
  std::sort(only_mine.begin(), only_mine.end());
  std::sort(out.want.begin(), out.want.end());
  std::sort(both.begin(), both.end());
  out.records = records_by_hash(only_mine);
  stats_.records_sent += out.records.size();
  for (auto& [h, rec] : store_.records_with_hash(both)) {
    auto facts = crdt::inspect(rec);
    if (!facts) continue;
    out.both_ids.push_back(h);
    out.both_hlc.push_back(facts->max_stamp.hlc);
  }
  // A version here whose record is gone (purged since): the peer's is wanted.
  if (out.both_ids.size() < both.size()) {
    std::set<uint64_t> have(out.both_ids.begin(), out.both_ids.end());
    for (uint64_t h : both)
      if (!have.count(h) && out.want.size() < cfg_.ae_max_records) out.want.push_back(h);
  }
  if (!out.records.empty() || !out.want.empty() || !out.both_ids.empty()) send(from, std::move(out));
}

void gossiper::on_ae_diff(const std::string& from, const ae_diff& m, uint64_t now) {
  apply_repairs(from, m.records, now);
  ae_records back{m.exchange, {}, {}};
  const std::vector<uint64_t> wanted(m.want.begin(), m.want.begin() + std::min(m.want.size(), cfg_.ae_max_records));
  // Ids both hold: the newer side's version crosses (both on a tie).
  std::unordered_map<uint64_t, uint64_t> their_hlc;
  for (size_t i = 0; i < m.both_ids.size() && i < cfg_.ae_max_records; ++i) their_hlc[m.both_ids[i]] = m.both_hlc[i];
  std::vector<uint64_t> both;
  for (const auto& [h, _] : their_hlc) both.push_back(h);
  std::sort(both.begin(), both.end());
  std::set<uint64_t> found;
  for (auto& [h, rec] : store_.records_with_hash(both)) {
    found.insert(h);
    auto facts = crdt::inspect(rec);
    const uint64_t mine = facts ? facts->max_stamp.hlc : 0;
    const uint64_t theirs = their_hlc[h];
    if (mine >= theirs) {
      back.records.push_back(std::move(rec));
    }
    if (theirs >= mine) back.want.push_back(h);
  }
  for (uint64_t h : both)
    if (!found.count(h)) back.want.push_back(h);
  for (auto& r : records_by_hash(wanted)) back.records.push_back(std::move(r));
  stats_.records_sent += back.records.size();
  if (!back.records.empty() || !back.want.empty()) send(from, std::move(back));
}

}  // namespace sessionmesh::gossip
