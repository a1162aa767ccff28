#include <ostream>
#include <doctest/doctest.h>

#include <random>

#include "crdt/hlc.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;
using namespace sessionmesh::crdt;

TEST_CASE("HLC is monotonic, bounded by max_offset, and refuses far-future remotes") {
  std::mt19937_64 rng(testing::test_seed("hlc"));
  const int n = testing::test_cases(10000);
  for (int run = 0; run < n / 100; ++run) {
    hybrid_clock clk(7, 500);
    uint64_t pt = 1'700'000'000'000ull + rng() % 1000;
    uint64_t max_pt = pt;
    uint64_t prev = 0;
    for (int i = 0; i < 100; ++i) {
      // Physical time mostly moves forward, sometimes jumps back.
      if (rng() % 5 == 0) pt -= rng() % 50;
      else pt += rng() % 3;
      max_pt = std::max(max_pt, pt);
      if (rng() % 2 == 0) {
        auto s = clk.now(pt);
        REQUIRE(s.has_value());
        CHECK(s->hlc > prev);
        CHECK(s->node == 7);
        prev = s->hlc;
      } else {
        const uint64_t remote_pt = pt + (rng() % 1200) - 600;
        const uint64_t remote = hlc_make(remote_pt, rng() % 5);
        const uint64_t before = clk.last();
        auto r = clk.update(remote, pt);
        if (remote_pt > pt + 500) {
          CHECK(r.error() == errc::clock_skew);
          CHECK(clk.last() == before);  // refused, not adopted
        } else {
          REQUIRE(r.has_value());
          CHECK(clk.last() > prev);
          CHECK(clk.last() > remote);
          prev = clk.last();
        }
      }
      CHECK(hlc_physical_ms(clk.last()) <= max_pt + 500);
    }
  }
}

TEST_CASE("HLC logical counter carries into the physical part and stays monotonic") {
  hybrid_clock clk(1, 500);
  uint64_t prev = 0;
  for (int i = 0; i < 3 * 65536; ++i) {
    auto s = clk.now(1000);
    REQUIRE(s.has_value());
    REQUIRE(s->hlc > prev);
    prev = s->hlc;
  }
  CHECK(hlc_physical_ms(clk.last()) == 1002);
  auto next = clk.now(5000);
  CHECK(next->hlc == hlc_make(5000, 0));
}
