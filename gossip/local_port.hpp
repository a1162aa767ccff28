// local_port: store_port over the local adapter (store::local_store).
// Thread: as the local store (any thread).
#pragma once

#include "gossip/gossiper.hpp"
#include "store/local_store.hpp"

namespace sessionmesh::gossip {

class local_port final : public store_port {
 public:
  explicit local_port(store::local_store& st) : st_(st) {}
  uint64_t merkle_root() override { return st_.merkle().root(); }
  std::vector<uint64_t> merkle_level(int level) override { return st_.merkle().level(level); }
  std::vector<leaf_item> leaf(uint32_t leaf) override {
    std::vector<leaf_item> out;
    for (auto& e : st_.leaf_entries(leaf)) out.push_back({std::move(e.id), e.id_hash, e.digest});
    return out;
  }
  std::vector<std::string> records(const std::vector<std::string>& ids) override { return st_.raw_records(ids); }
  std::vector<std::pair<uint64_t, std::string>> records_with_hash(const std::vector<uint64_t>& hashes) override {
    return st_.records_by_hash(hashes);
  }
  store::sketch sketch(int bits) override { return st_.merkle().fold_sketch(bits); }
  std::optional<uint64_t> apply(std::string_view encoded, std::string_view from) override {
    auto a = st_.apply_remote_deferred(encoded, from);
    if (!a) return std::nullopt;
    return a->lsn;
  }
  uint64_t clock_ms() override { return st_.clock_ms(); }
  void for_each_live(const std::function<void(std::string_view id)>& fn) override { st_.for_each_live(fn); }
  std::optional<size_t> forget_partition(uint32_t p, uint64_t expected) override {
    return st_.forget_partition(p, expected);
  }

 private:
  store::local_store& st_;
};

}  // namespace sessionmesh::gossip
