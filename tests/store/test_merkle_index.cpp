// merkle_index: every level, stored (leaves, level 2) or summed when read
// (level 1, the root), against sums recomputed from a model of the entries
// after seeded random adds, replacements and removals.
#include <doctest/doctest.h>

#include <map>
#include <random>

#include "store/merkle_index.hpp"
#include "tests/test_seed.hpp"

using sessionmesh::store::merkle_index;

TEST_CASE("merkle_index: each level is the sum of the entries beneath it") {
  const uint64_t seed = sessionmesh::testing::test_seed("merkle_index levels");
  std::mt19937_64 rng(seed);
  merkle_index m;
  std::map<uint64_t, uint64_t> model;  // id hash -> digest
  std::vector<uint64_t> ids(3000);
  for (auto& id : ids) id = rng();
  for (int i = 0; i < sessionmesh::testing::test_cases(40000); ++i) {
    const uint64_t id = ids[rng() % ids.size()];
    const auto it = model.find(id);
    const uint64_t old = it == model.end() ? 0 : it->second;
    const uint64_t now = rng() % 5 == 0 ? 0 : rng() | 1;
    m.update(id, old, now);
    if (now) model[id] = now; else model.erase(id);
  }
  std::vector<uint64_t> want(merkle_index::leaves, 0);
  for (auto [id, d] : model) want[merkle_index::leaf_of(id)] += merkle_index::entry_hash(id, d);
  for (int d = merkle_index::depth; d >= 0; --d) {
    const auto got = m.level(d);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      REQUIRE(got[i] == want[i]);
      REQUIRE(m.node(d, i) == want[i]);
    }
    std::vector<uint64_t> up(want.size() / 16, 0);
    for (size_t i = 0; i < want.size() && d > 0; ++i) up[i / 16] += want[i];
    want = std::move(up);
  }
  CHECK(m.root() == m.level(0)[0]);
  // Removing every entry leaves every level at zero.
  for (auto [id, d] : model) m.update(id, d, 0);
  CHECK(m.root() == 0);
  for (uint64_t v : m.level(1)) CHECK(v == 0);
}
