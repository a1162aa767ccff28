// epoch_gate: wait_past() returns only after every pass taken before it was
// released, never waits for passes taken after, and survives many threads
// entering and leaving while it runs (this suite also runs under TSan).
#include <ostream>
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "store/epoch_gate.hpp"

using sessionmesh::store::epoch_gate;

TEST_CASE("epoch_gate: with no call under way, wait_past returns at once") {
  epoch_gate g;
  g.wait_past();
  { auto p = g.enter(); }
  g.wait_past();
  g.wait_past();
}

TEST_CASE("epoch_gate: wait_past does not return before an earlier pass is released") {
  epoch_gate g;
  std::atomic<bool> released{false}, returned_early{false};
  std::thread waiter;
  {
    auto p = g.enter();
    waiter = std::thread([&] {
      g.wait_past();
      if (!released.load()) returned_early = true;
    });
    // A call that enters after the wait began (or before: either way it
    // is released before ours) must not keep it waiting forever.
    { auto later = g.enter(); }
    released = true;
  }
  waiter.join();
  CHECK_FALSE(returned_early.load());
}

TEST_CASE("epoch_gate: many threads entering and leaving while waits run") {
  epoch_gate g;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> inside{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      while (!stop.load()) {
        auto p = g.enter();
        inside.fetch_add(1);
        inside.fetch_sub(1);
      }
    });
  for (int i = 0; i < 2000; ++i) g.wait_past();
  stop = true;
  for (auto& t : ts) t.join();
  CHECK(inside.load() == 0);
  g.wait_past();
}
