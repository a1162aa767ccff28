// store::shared_clock: the same steps as crdt::hybrid_clock (one seeded
// sequence run through both), and unique, per-thread increasing stamps when
// several threads tick and fold in remote clocks at once.
#include <ostream>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "crdt/hlc.hpp"
#include "store/shared_clock.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;

TEST_CASE("shared_clock steps exactly as hybrid_clock does") {
  std::mt19937_64 rng(testing::test_seed("shared_clock"));
  for (int run = 0; run < 100; ++run) {
    crdt::hybrid_clock ref(9, 500);
    store::shared_clock clk(9, 500);
    uint64_t pt = 1'700'000'000'000ull + rng() % 1000;
    for (int i = 0; i < 500; ++i) {
      if (rng() % 5 == 0) pt -= rng() % 50;
      else pt += rng() % 3;
      switch (rng() % 3) {
        case 0: {
          auto a = ref.now(pt);
          auto b = clk.now(pt);
          REQUIRE(a.has_value());
          REQUIRE(b.has_value());
          REQUIRE(a->hlc == b->hlc);
          REQUIRE(b->node == 9);
          break;
        }
        case 1: {
          const uint64_t remote = crdt::hlc_make(pt + (rng() % 1200) - 600, rng() % 5);
          auto a = ref.update(remote, pt);
          auto b = clk.update(remote, pt);
          REQUIRE(a.has_value() == b.has_value());
          if (!b) REQUIRE(b.error() == errc::clock_skew);
          break;
        }
        default: {
          const uint64_t seen = crdt::hlc_make(pt + rng() % 100, rng() % 5);
          ref.observe_persisted(seen);
          clk.observe_persisted(seen);
        }
      }
      REQUIRE(ref.last() == clk.last());
    }
  }
  store::shared_clock clk(1, 500);
  CHECK(clk.now(crdt::hlc_physical_max + 1).error() == errc::invalid_argument);
}

TEST_CASE("shared_clock: stamps taken on four threads at once are unique and increase on each thread") {
  constexpr int threads = 4, per_thread = 50'000;
  store::shared_clock clk(3, 500);
  std::atomic<uint64_t> physical{1'700'000'000'000ull};
  std::vector<std::vector<uint64_t>> taken(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) + 1);
      auto& mine = taken[static_cast<size_t>(t)];
      mine.reserve(per_thread);
      for (int i = 0; i < per_thread; ++i) {
        const uint64_t pt = physical.fetch_add(rng() % 3 == 0 ? 1 : 0) - rng() % 4;  // sometimes behind
        if (rng() % 16 == 0) {
          (void)clk.update(crdt::hlc_make(pt + rng() % 20, rng() % 100), pt);
          continue;
        }
        auto s = clk.now(pt);
        REQUIRE(s.has_value());
        if (!mine.empty()) REQUIRE(s->hlc > mine.back());
        mine.push_back(s->hlc);
      }
    });
  }
  for (auto& th : ts) th.join();
  std::vector<uint64_t> all;
  for (auto& v : taken) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  CHECK(clk.last() >= all.back());
}
