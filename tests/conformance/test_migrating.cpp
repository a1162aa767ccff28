// The migrating store (online adapter switch) passes the contract suite in
// each phase, and in the dual phase every acknowledged write is on the
// target with the same CRDT record.
#include "tests/conformance/suite.hpp"
#include "tests/conformance/suite_programs.hpp"
#include "tests/conformance/suite_quota.hpp"

#include "store/local_store.hpp"
#include "store/migrating_store.hpp"

namespace {

using namespace sessionmesh;

// Targets outlive the migrating stores (their subscriptions reach in).
std::vector<std::unique_ptr<store::local_store>>& targets() {
  static std::vector<std::unique_ptr<store::local_store>> t;
  return t;
}

std::unique_ptr<store::migrating_store> migrating(store_options o, store::migrating_store::phase p) {
  auto src = store::local_store::open(o, store::posix_fs());
  REQUIRE(src.has_value());
  auto tgt = store::local_store::open(o, store::posix_fs());
  REQUIRE(tgt.has_value());
  targets().push_back(std::move(tgt).value());
  auto ms = std::make_unique<store::migrating_store>(std::move(src).value());
  ms->attach_target(targets().back().get(), targets().back().get());
  ms->set_phase(p);
  return ms;
}

struct migrating_dual {
  static std::unique_ptr<session_store> open(store_options o) {
    return migrating(o, store::migrating_store::phase::dual);
  }
};
struct migrating_switched {
  static std::unique_ptr<session_store> open(store_options o) {
    return migrating(o, store::migrating_store::phase::target);
  }
};

}  // namespace

TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance, migrating_dual, migrating_switched);
TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance_quota, migrating_dual, migrating_switched);
TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance_quota_concurrent, migrating_dual, migrating_switched);

TEST_CASE("migrating store: dual writes reach the target; copy merges the rest; refusals surface") {
  using store::migrating_store;
  conformance::fake_clock clock;
  store_options o;
  o.node_id = "node-a";
  o.clock = clock.fn();
  o.reaper_interval_ms = 0;
  auto src = store::local_store::open(o, store::posix_fs());
  REQUIRE(src.has_value());
  auto* source = src->get();
  // Written before the migration starts: only the background copy moves it.
  REQUIRE(source->create(create_request{"before", 60, {}, {{"v", "1"}}, {}, {}}).has_value());
  auto tgt = store::local_store::open(o, store::posix_fs());
  REQUIRE(tgt.has_value());
  auto& target = **tgt;
  migrating_store ms(std::move(src).value());
  int delivered = 0;  // each change once: the source's until the switch, then the target's
  auto sub = ms.subscribe([&](const change&) { ++delivered; });

  // Phase source: nothing reaches the target.
  REQUIRE(ms.create(create_request{"s0", 60, {}, {}, {}, {}}).has_value());
  ms.attach_target(&target, &target);
  CHECK_FALSE(target.peek("s0").has_value());

  // Dual: each write is on the target, byte-identical, before it returns.
  ms.set_phase(migrating_store::phase::dual);
  REQUIRE(ms.create(create_request{"s1", 60, {}, {{"a", "1"}}, {}, {}}).has_value());
  patch_request p;
  p.variables = {{"b", std::string("\"x\"")}};
  REQUIRE(ms.patch("s1", p).has_value());
  REQUIRE(ms.set_worker("s1", "w1").has_value());
  REQUIRE(ms.create(create_request{"gone", 60, {}, {}, {}, {}}).has_value());
  REQUIRE(ms.remove("gone").has_value());
  CHECK(target.raw_records({"s1"}) == ms.source().raw_records({"s1"}));
  CHECK(target.raw_records({"gone"}) == ms.source().raw_records({"gone"}));
  CHECK_FALSE(target.peek("gone").has_value());
  CHECK(delivered == 6);  // s1 create, patch, worker; gone create, delete... and s0
  CHECK_FALSE(target.peek("before").has_value());
  auto c = ms.copy("before");
  REQUIRE(c.has_value());
  CHECK(*c);                        // the target changed
  CHECK_FALSE(*ms.copy("before"));  // and a second copy changes nothing
  CHECK(target.raw_records({"before"}) == ms.source().raw_records({"before"}));
  CHECK(ms.adapter_name() == "local");

  // Switched: reads and writes go to the target only.
  ms.set_phase(migrating_store::phase::target);
  const int before_switch = delivered;
  REQUIRE(ms.create(create_request{"after", 60, {}, {}, {}, {}}).has_value());
  CHECK(target.peek("after").has_value());
  CHECK(delivered == before_switch + 1);
  CHECK_FALSE(ms.source().peek("after").has_value());
  CHECK(ms.get("before").has_value());

  // A target that refuses the record (its clock far behind the stamps)
  // fails the copy instead of hiding it.
  store_options slow = o;
  slow.node_id = "node-slow";
  auto behind = std::make_shared<std::atomic<uint64_t>>(clock.ms->load() - 60000);
  slow.clock = [behind] { return behind->load(); };
  auto src2 = store::local_store::open(o, store::posix_fs());
  auto tgt2 = store::local_store::open(slow, store::posix_fs());
  REQUIRE(src2.has_value());
  REQUIRE(tgt2.has_value());
  migrating_store ms2(std::move(src2).value());
  REQUIRE(ms2.create(create_request{"x", 60, {}, {}, {}, {}}).has_value());
  ms2.attach_target(tgt2->get(), tgt2->get());
  ms2.set_phase(migrating_store::phase::dual);
  auto refused = ms2.copy("x");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == errc::clock_skew);
  auto w = ms2.patch("x", p);  // a dual write the target refuses is not acknowledged
  CHECK_FALSE(w.has_value());
  ms2.set_phase(migrating_store::phase::source);
  ms2.detach_target();
  sub.reset();
}
TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance_programs, migrating_dual, migrating_switched);
