// The adapter contract, part 2: namespace limits, the quota under
// concurrent creates, expired-but-unreaped sessions in the quota, and global
// programs. Instantiated next to suite.hpp for every adapter.
#pragma once

#include <thread>

#include "tests/conformance/suite.hpp"

TEST_CASE_TEMPLATE_DEFINE("adapter conformance: namespaces and global programs", F,
                          sessionmesh_conformance_programs) {
  using namespace sessionmesh;
  using namespace sessionmesh::conformance;
  conformance::harness<F> h([](store_options& o) {
    o.max_sessions = 50;
    o.max_global_programs = 3;
    o.global_program_ttl_s = 60;
  });
  session_store& st = *h.st;

  SUBCASE("a namespace's max_sessions holds, apart from other namespaces") {
    create_request a;
    a.id = "A::s1";
    a.limits.max_sessions = 1;
    a.ttl_s = 0;
    REQUIRE(st.create(a).has_value());
    create_request a2 = a;
    a2.id = "A::s2";
    CHECK(st.create(a2).error() == errc::session_quota_exceeded);
    CHECK(st.set_worker("A::s2", "w", a.limits).error() == errc::session_quota_exceeded);
    create_request b = a;
    b.id = "B::s1";
    CHECK(st.create(b).has_value());  // another namespace has its own count
    create_request plain;
    plain.id = "s1";
    plain.limits.max_sessions = 1;
    CHECK(st.create(plain).has_value());  // the default namespace
    // Expired but not reaped still counts (Snakepit); the reaper frees it.
    h.clock.advance(2000);
    CHECK(st.create(a2).error() == errc::session_quota_exceeded);
    CHECK(st.cleanup_expired() == 2);
    CHECK(st.create(a2).has_value());
  }

  SUBCASE("per-write program limit: adding past it is refused, replacing is not") {
    create_request r;
    r.id = "P::s";
    REQUIRE(st.create(r).has_value());
    patch_request p1;
    p1.limits.max_programs = 1;
    p1.programs = {set("prog1", "{}")};
    REQUIRE(st.patch("P::s", p1).has_value());
    patch_request p2 = p1;
    p2.programs = {set("prog2", "{}")};
    CHECK(st.patch("P::s", p2).error() == errc::too_many_programs);
    patch_request p3 = p1;
    p3.programs = {set("prog1", R"({"version":2})")};
    CHECK(st.patch("P::s", p3).has_value());
  }

  SUBCASE("concurrent creates never pass the quota together") {
    std::atomic<int> ok{0}, refused{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < 40; ++i) {
          create_request r;
          r.id = "C::t" + std::to_string(t) + "-" + std::to_string(i);
          r.limits.max_sessions = 7;
          auto c = st.create(r);
          if (c) ++ok;
          else if (c.error() == errc::session_quota_exceeded) ++refused;
        }
      });
    for (auto& th : ts) th.join();
    CHECK(ok == 7);
    CHECK(refused == 160 - 7);
    auto page = st.list("C::", 1000, "");
    CHECK(page->sessions.size() == 7);
  }

  SUBCASE("global programs: put, get, replace, quota, delete, expiry; never sessions") {
    REQUIRE(st.put_global_program("g1", R"({"type":"QAChain"})", {}).has_value());
    auto g = st.get_global_program("g1");
    REQUIRE(g.has_value());
    CHECK(g->value == R"({"type":"QAChain"})");
    CHECK(g->expires_at_ms == g->stored_at_ms + 60000);
    CHECK(st.stats().current_sessions == 0);
    CHECK(st.list("", 100, "")->sessions.empty());
    CHECK_FALSE(st.exists("g1").value());
    CHECK(st.get("~gp:g1").error() == errc::invalid_argument);

    write_limits one;
    one.max_global_programs = 1;
    REQUIRE(st.put_global_program("N::p1", "{}", one).has_value());
    CHECK(st.put_global_program("N::p2", "{}", one).error() == errc::session_quota_exceeded);
    CHECK(st.put_global_program("N::p1", R"({"v":2})", one).has_value());  // replacing is allowed
    CHECK(st.get_global_program("N::p1")->value == R"({"v":2})");
    REQUIRE(st.put_global_program("g2", "1", {}).has_value());
    CHECK(st.put_global_program("g3", "1", {}).error() == errc::session_quota_exceeded);  // node max 3
    auto listed = st.list_global_programs("", 100, "");
    REQUIRE(listed.has_value());
    REQUIRE(listed->size() == 3);
    CHECK((*listed)[0].id == "N::p1");
    CHECK((*listed)[1].id == "g1");
    CHECK(st.list_global_programs("", 1, "N::p1")->front().id == "g1");

    REQUIRE(st.delete_global_program("N::p1").has_value());
    REQUIRE(st.delete_global_program("N::p1").has_value());  // idempotent
    CHECK(st.get_global_program("N::p1").error() == errc::not_found);
    CHECK(st.put_global_program("N::p2", "{}", one).has_value());

    h.clock.advance(30000);
    CHECK(st.get_global_program("g1").has_value());  // reads do not extend it
    h.clock.advance(30001);
    CHECK(st.get_global_program("g1").error() == errc::not_found);
    CHECK(st.cleanup_expired() == 0);  // sessions only
    const auto s = st.stats();
    CHECK(s.global_programs_expired == 3);
    CHECK(s.global_programs_deleted == 1);
    CHECK(s.global_programs_stored == 4);
    CHECK(s.current_global_programs == 0);
    CHECK(s.sessions_expired == 0);
    CHECK(st.get_global_program("bad id").error() == errc::invalid_argument);
  }
}
