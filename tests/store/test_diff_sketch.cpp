// diff_sketch: seeded random sets with known differences decode exactly;
// the live sketch's folds equal sketches built at that size; an overfull
// sketch says it is incomplete and peels only true entries; the wire form
// round-trips and refuses a wrong length.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>

#include "store/diff_sketch.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;
using namespace sessionmesh::store;

namespace {

using entry_set = std::set<std::pair<uint64_t, uint64_t>>;

entry_set as_set(const std::vector<sketch_entry>& v) {
  entry_set s;
  for (const auto& e : v) s.insert({e.id_hash, e.digest});
  return s;
}

// n shared entries, then `changed` of them in another version on b,
// `only_a` and `only_b` entries on one side.
struct pair_of_sets {
  live_sketch a, b;
  entry_set a_only, b_only;
  pair_of_sets(std::mt19937_64& rng, size_t n, size_t changed, size_t only_a, size_t only_b) {
    std::vector<std::pair<uint64_t, uint64_t>> shared;
    for (size_t i = 0; i < n; ++i) shared.push_back({rng(), rng() | 1});
    for (auto [h, d] : shared) a.update(h, 0, d), b.update(h, 0, d);
    for (size_t i = 0; i < changed; ++i) {
      auto [h, d] = shared[i];
      const uint64_t d2 = rng() | 1;
      b.update(h, d, d2);
      a_only.insert({h, d});
      b_only.insert({h, d2});
    }
    for (size_t i = 0; i < only_a; ++i) {
      const uint64_t h = rng(), d = rng() | 1;
      a.update(h, 0, d);
      a_only.insert({h, d});
    }
    for (size_t i = 0; i < only_b; ++i) {
      const uint64_t h = rng(), d = rng() | 1;
      b.update(h, 0, d);
      b_only.insert({h, d});
    }
  }
};

}  // namespace

TEST_CASE("diff_sketch: a difference within the sketch's size decodes exactly, in both directions") {
  const uint64_t seed = testing::test_seed("diff sketch decode");
  std::mt19937_64 rng(seed);
  int failures = 0, runs = 0;
  for (size_t diff : {1u, 2u, 10u, 100u, 700u, 2500u}) {
    for (int rep = 0; rep < 5; ++rep) {
      const size_t changed = diff / 2, only_a = diff / 4, only_b = diff - changed - only_a;
      pair_of_sets p(rng, 3000, changed, only_a, only_b);
      const size_t entries = p.a_only.size() + p.b_only.size();
      // As the gossiper sizes it: 1.5x the entries over three sub-tables.
      int bits = sketch::min_bits;
      while (bits < sketch::max_bits && 3.0 * double(1u << bits) < 1.5 * double(entries) + 24) ++bits;
      sketch d = p.a.fold(bits);
      d.subtract(p.b.fold(bits));
      const auto r = d.decode(100000);
      ++runs;
      if (!r.complete) {
        ++failures;
        continue;
      }
      CHECK_MESSAGE(as_set(r.mine) == p.a_only, "seed " << seed << " diff " << diff);
      CHECK_MESSAGE(as_set(r.theirs) == p.b_only, "seed " << seed << " diff " << diff);
    }
  }
  // IBLTs fail with small probability at 1.5x; not more than one run in ten.
  CHECK_MESSAGE(failures * 10 <= runs, failures << " of " << runs << " failed to decode, seed " << seed);
}

TEST_CASE("diff_sketch: a fold of the live sketch equals a sketch built at that size") {
  std::mt19937_64 rng(testing::test_seed("diff sketch fold"));
  live_sketch live;
  std::vector<sketch> direct;
  for (int b = sketch::min_bits; b <= sketch::max_bits; ++b) direct.emplace_back(b);
  for (int i = 0; i < 5000; ++i) {
    const uint64_t h = rng(), d = rng() | 1;
    live.update(h, 0, d);
    for (auto& s : direct) s.add(h, d);
    if (i % 3 == 0) {  // replaced, then removed: gone from both
      const uint64_t d2 = rng() | 1;
      live.update(h, d, d2);
      live.update(h, d2, 0);
      for (auto& s : direct) s.remove(h, d);
    }
  }
  for (auto& s : direct) CHECK(live.fold(s.bits()).to_bytes() == s.to_bytes());
}

TEST_CASE("diff_sketch: an overfull sketch says so and peels only true entries") {
  std::mt19937_64 rng(testing::test_seed("diff sketch overfull"));
  pair_of_sets p(rng, 1000, 400, 100, 100);  // 1,000 entries in 3 x 64 cells
  sketch d = p.a.fold(6);
  d.subtract(p.b.fold(6));
  const auto r = d.decode(100000);
  CHECK_FALSE(r.complete);
  for (const auto& e : as_set(r.mine)) CHECK(p.a_only.count(e));
  for (const auto& e : as_set(r.theirs)) CHECK(p.b_only.count(e));
  // A cap on the entries returned stops the peel early, incomplete.
  pair_of_sets q(rng, 100, 10, 0, 0);
  sketch e = q.a.fold(8);
  e.subtract(q.b.fold(8));
  const auto capped = e.decode(5);
  CHECK(capped.mine.size() + capped.theirs.size() == 5);
  CHECK_FALSE(capped.complete);
  // Equal sets: nothing, complete.
  sketch same = q.a.fold(5);
  same.subtract(q.a.fold(5));
  const auto none = same.decode(10);
  CHECK(none.complete);
  CHECK(none.mine.empty());
  CHECK(none.theirs.empty());
}

TEST_CASE("diff_sketch: the wire form round-trips and a wrong length or size is refused") {
  std::mt19937_64 rng(testing::test_seed("diff sketch wire"));
  sketch s(7);
  for (int i = 0; i < 300; ++i) s.add(rng(), rng() | 1);
  const std::string bytes = s.to_bytes();
  CHECK(bytes.size() == 3 * 128 * sketch::wire_cell);
  auto back = sketch::from_bytes(7, bytes);
  REQUIRE(back.has_value());
  CHECK(back->to_bytes() == bytes);
  CHECK_FALSE(sketch::from_bytes(7, bytes.substr(1)).has_value());
  CHECK_FALSE(sketch::from_bytes(8, bytes).has_value());
  CHECK_FALSE(sketch::from_bytes(sketch::max_bits + 1, bytes).has_value());
  CHECK_FALSE(sketch::from_bytes(sketch::min_bits - 1, bytes).has_value());
}

TEST_CASE("an entry's cells and check are fixed values, from one hash each (peers of any build agree)") {
  // Pinned: these are on the wire (a peer's sketch is subtracted cell by
  // cell), so they may never change between releases.
  const uint64_t ids[] = {1, 0x123456789abcdefull};
  const uint32_t want[2][4] = {{3337, 3350, 2622, 736188623u}, {1163, 1708, 2814, 893305324u}};
  for (int i = 0; i < 2; ++i) {
    const uint64_t id = ids[i], digest = id * 31 + 7;
    const sketch::place p = sketch::place_of(id, digest);
    for (int t = 0; t < sketch::k; ++t) {
      CHECK(sketch::index_of(id, digest, t) == want[i][t]);
      CHECK(p.index[static_cast<size_t>(t)] == want[i][t]);
    }
    CHECK(sketch::check_of(id, digest) == want[i][3]);
    CHECK(p.check == want[i][3]);
  }
}
