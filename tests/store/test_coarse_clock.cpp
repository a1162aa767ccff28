// coarse_clock: the coarse clock is never ahead of the precise one; a
// decision far from its edge takes the coarse time, one near it the
// precise clock; and a store on the system clock records every read of a
// ttl 0 session once the precise clock has passed its last access, as it
// did before reads used the coarse clock.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>

#include "sessionmesh/session_store.hpp"
#include "store/coarse_clock.hpp"
#include "store/file_io.hpp"
#include "store/local_store.hpp"

using namespace sessionmesh;

namespace {

uint64_t precise_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

TEST_CASE("coarse_clock: never ahead of the precise clock") {
  uint64_t max_lag = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t c = store::coarse_system_ms();
    const uint64_t p = precise_ms();
    REQUIRE(c <= p);
    max_lag = std::max(max_lag, p - c);
  }
  const uint64_t slack = store::coarse_clock_slack_ms();
  std::printf("coarse clock: slack %llu ms, largest lag seen %llu ms\n", static_cast<unsigned long long>(slack),
              static_cast<unsigned long long>(max_lag));
  CHECK(slack >= 2);  // at least one tick of 1 ms and the floors
}

TEST_CASE("coarse_clock: the precise clock decides only near the edge") {
  int precise_calls = 0;
  auto precise = [&] {
    ++precise_calls;
    return precise_ms();
  };
  const uint64_t slack = 10;
  const uint64_t before = store::coarse_system_ms();
  // Far from the edge: the coarse time, no precise read.
  const uint64_t far = store::read_clock_ms(slack, before + 60'000, precise);
  CHECK(precise_calls == 0);
  CHECK(far >= before);
  CHECK(far <= store::coarse_system_ms());
  // Within slack of the edge (or past it): the precise clock.
  (void)store::read_clock_ms(slack, before + slack, precise);
  CHECK(precise_calls == 1);
  (void)store::read_clock_ms(slack, before, precise);
  CHECK(precise_calls == 2);
  // slack 0 (an injected clock): always the precise one.
  (void)store::read_clock_ms(0, before + 60'000, precise);
  CHECK(precise_calls == 3);
}

TEST_CASE("local_store: on the system clock every read of a ttl 0 session records its touch") {
  store_options o;
  o.background_threads = false;
  auto st = store::local_store::open(o, store::posix_fs());
  REQUIRE(st.has_value());
  auto& s = **st;
  int checked = 0;
  for (int round = 0; round < 200 && checked < 20; ++round) {
    // ttl 0 lives to the end of its second: start early in one.
    while (precise_ms() % 1000 > 800) {
    }
    create_request r;
    r.id = "t0-" + std::to_string(round);
    r.ttl_s = 0;
    auto c = s.create(std::move(r));
    REQUIRE(c.has_value());
    const uint64_t last = c->value.last_accessed_at_ms();
    while (precise_ms() <= last) {  // at most a ms or two; the coarse clock may still show `last`
    }
    auto g = s.get("t0-" + std::to_string(round));
    // A thread descheduled past the end of the second finds it expired:
    // that round says nothing; try another.
    if (!g && precise_ms() >= (last / 1000 + 1) * 1000) continue;
    REQUIRE(g.has_value());
    CHECK(g->last_accessed_at_ms() > last);
    ++checked;
  }
  CHECK(checked == 20);
  // A long TTL: a read right after the write records nothing.
  create_request r;
  r.id = "long";
  r.ttl_s = 3600;
  auto c = s.create(std::move(r));
  REQUIRE(c.has_value());
  auto g = s.get("long");
  REQUIRE(g.has_value());
  CHECK(g->last_accessed_at_ms() == c->value.last_accessed_at_ms());
}
