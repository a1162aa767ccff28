// placement: rendezvous of partitions over the owners (see the header).
#include "gossip/placement.hpp"

#include <xxhash.h>

#include <algorithm>

#include "gossip/gossiper.hpp"

namespace sessionmesh::gossip {

uint32_t partition_of(std::string_view record_id) {
  return partition_of_hash(XXH3_64bits(record_id.data(), record_id.size()));
}

placement::placement(std::vector<std::string> nodes, unsigned r) : nodes_(std::move(nodes)), r_(r) {
  held_.assign(nodes_.size(), mask{});
  if (full()) {
    for (auto& m : held_) m.set();
  }
  if (full() || nodes_.empty()) return;
  const size_t keep = std::min<size_t>(r_, nodes_.size());
  sets_.resize(partition_count);
  // Bounded loads: no node takes more than one above its even share, so
  // every node holds within a few partitions of 256 R / N (plain
  // rendezvous over 256 partitions leaves nodes 15% apart); a join or
  // leave still moves little more than R / N of them.
  const size_t cap = (partition_count * keep + nodes_.size() - 1) / nodes_.size() + 1;
  std::vector<size_t> load(nodes_.size(), 0);
  std::vector<std::pair<uint64_t, uint16_t>> scored(nodes_.size());
  std::string buf;
  for (uint32_t p = 0; p < partition_count; ++p) {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const char pb[4] = {static_cast<char>(p), static_cast<char>(p >> 8), static_cast<char>(p >> 16),
                          static_cast<char>(p >> 24)};
      buf.assign(pb, sizeof pb);
      buf.append(nodes_[i]);
      scored[i] = {XXH3_64bits(buf.data(), buf.size()), static_cast<uint16_t>(i)};
    }
    // Highest score first; ties to the smaller id (nodes_ is sorted).
    std::sort(scored.begin(), scored.end(),
              [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    auto& set = sets_[p];
    auto take = [&](uint16_t i) {
      set.push_back(i);
      held_[i].set(p);
      ++load[i];
    };
    for (const auto& [_, i] : scored)
      if (set.size() < keep && load[i] < cap) take(i);
    // Near the end every node with room may be taken: the best ones then.
    for (const auto& [_, i] : scored)
      if (set.size() < keep && !held_[i].test(p)) take(i);
  }
}

int placement::index_of(std::string_view node) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node);
  return it != nodes_.end() && *it == node ? static_cast<int>(it - nodes_.begin()) : -1;
}

std::vector<std::string> placement::replicas(uint32_t p) const {
  if (full() || nodes_.empty()) return nodes_;
  std::vector<std::string> out;
  for (uint16_t i : sets_[p % partition_count]) out.push_back(nodes_[i]);
  return out;
}

const placement::mask& placement::held_by(std::string_view node) const {
  static const mask none;
  const int i = index_of(node);
  return i < 0 ? none : held_[static_cast<size_t>(i)];
}

size_t placement::replica_count(uint32_t p) const {
  if (full() || nodes_.empty()) return nodes_.size();
  return sets_[p % partition_count].size();
}

std::string placement::first(uint32_t p) const {
  if (nodes_.empty()) return {};
  if (full()) return nodes_.front();
  return nodes_[sets_[p % partition_count].front()];
}

std::string placement::owner_of(std::string_view record_id) const {
  if (full()) return rendezvous_owner(record_id, nodes_);
  return first(partition_of(record_id));
}

}  // namespace sessionmesh::gossip
