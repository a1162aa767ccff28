// The adapter contract suite: every adapter must pass it. Written against
// session_store.hpp only. An adapter's test file defines fixture types with
//   static std::unique_ptr<session_store> open(store_options o);
// (o.clock is the suite's injected clock) and invokes the suite:
//   TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance, my_fixture);
#pragma once

#include <ostream>
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "sessionmesh/sessionmesh.hpp"

namespace sessionmesh::conformance {

struct fake_clock {
  std::shared_ptr<std::atomic<uint64_t>> ms = std::make_shared<std::atomic<uint64_t>>(1'764'225'600'000ull);
  std::function<uint64_t()> fn() const {
    auto p = ms;
    return [p] { return p->load(); };
  }
  void advance(uint64_t d) { *ms += d; }
};

template <class F>
struct harness {
  fake_clock clock;
  store_options opts;
  std::unique_ptr<session_store> st;
  explicit harness(std::function<void(store_options&)> tweak = {}) {
    opts.node_id = "node-a";
    opts.clock = clock.fn();
    opts.reaper_interval_ms = 0;
    opts.feed_capacity = 64;
    opts.max_sessions = 0;  // no quota, but in the quota cases
    if (tweak) tweak(opts);
    st = F::open(opts);
    REQUIRE(st != nullptr);
  }
};

inline entry_update set(std::string n, std::string v) { return {std::move(n), std::move(v)}; }
inline entry_update del(std::string n) { return {std::move(n), std::nullopt}; }

}  // namespace sessionmesh::conformance

// Over 80 lines on purpose: the contract as doctest SUBCASEs, each run on a
// fresh store of every adapter (a SUBCASE is the unit, not this function).
TEST_CASE_TEMPLATE_DEFINE("adapter conformance", F, sessionmesh_conformance) {
  using namespace sessionmesh;
  using namespace sessionmesh::conformance;
  conformance::harness<F> h;
  session_store& st = *h.st;

  SUBCASE("create makes a session, is idempotent and validates") {
    create_request req;
    req.id = "sess-1";
    req.ttl_s = 60;
    req.variables = {set("temperature", "0.7"), set("obj", "{ \"a\" : [1, 2] }")};
    req.metadata = {set("user", "\"ann\"")};
    auto r = st.create(req);
    REQUIRE(r.has_value());
    CHECK(r->created);
    const session& s = r->value;
    CHECK(s.id() == "sess-1");
    CHECK(s.ttl_s() == 60);
    CHECK(s.created_at_ms() == h.clock.ms->load());
    CHECK(s.expires_at_ms() == h.clock.ms->load() + 60000);
    CHECK(*s.find(section::variables, "temperature") == "0.7");
    CHECK(*s.find(section::variables, "obj") == "{\"a\":[1,2]}");
    CHECK(*s.find(section::metadata, "user") == "\"ann\"");
    CHECK_FALSE(s.find(section::programs, "x").has_value());
    CHECK_FALSE(s.version().empty());

    h.clock.advance(10);
    create_request again;
    again.id = "sess-1";
    again.variables = {set("temperature", "9")};
    auto r2 = st.create(again);
    REQUIRE(r2.has_value());
    CHECK_FALSE(r2->created);
    CHECK(r2->value.version() == s.version());
    CHECK(*r2->value.find(section::variables, "temperature") == "0.7");

    auto gen = st.create(create_request{});
    REQUIRE(gen.has_value());
    CHECK(gen->created);
    CHECK_FALSE(gen->value.id().empty());

    for (std::string bad : {std::string("has space"), std::string("slash/x"), std::string(257, 'a'),
                            std::string("é")}) {
      create_request b;
      b.id = bad;
      CHECK(st.create(b).error() == errc::invalid_argument);
    }
    create_request ok256;
    ok256.id = std::string(256, 'a');
    CHECK(st.create(ok256).has_value());
    create_request badjson;
    badjson.id = "j";
    badjson.variables = {set("v", "{nope")};
    CHECK(st.create(badjson).error() == errc::invalid_argument);
    create_request deep;
    deep.id = "deep";
    deep.variables = {set("v", std::string(100, '[') + std::string(100, ']'))};
    CHECK(st.create(deep).error() == errc::invalid_argument);
    create_request big;
    big.id = "big";
    big.variables = {set("v", "\"" + std::string(h.opts.limits.value_bytes, 'x') + "\"")};
    CHECK(st.create(big).error() == errc::too_large);
    // ttl 0 (Snakepit's ttl: 0): live to the end of the second of its last access.
    h.clock.advance(1000 - *h.clock.ms % 1000 + 100);  // 100 ms into a second
    create_request zero;
    zero.id = "zero";
    zero.ttl_s = 0;
    auto z = st.create(zero);
    REQUIRE(z.has_value());
    CHECK(z->value.expires_at_ms() == (z->value.last_accessed_at_ms() / 1000 + 1) * 1000);
    CHECK(st.exists("zero").value());
    h.clock.advance(900);
    CHECK_FALSE(st.exists("zero").value());
    CHECK(st.cleanup_expired() == 1);
  }

  SUBCASE("get reads and touches lazily; exists never touches") {
    create_request req;
    req.id = "g";
    req.ttl_s = 100;
    REQUIRE(st.create(req).has_value());
    const uint64_t t0 = h.clock.ms->load();
    CHECK(st.get("missing").error() == errc::not_found);
    CHECK(st.get("bad id").error() == errc::invalid_argument);
    h.clock.advance(5000);  // < ttl/10: no touch recorded
    auto g1 = st.get("g");
    REQUIRE(g1.has_value());
    CHECK(g1->last_accessed_at_ms() == t0);
    h.clock.advance(6000);  // 11 s > ttl/10: touch recorded
    auto g2 = st.get("g");
    REQUIRE(g2.has_value());
    CHECK(g2->last_accessed_at_ms() == t0 + 11000);
    CHECK(g2->expires_at_ms() == t0 + 11000 + 100000);
    CHECK(g2->version() == g1->version());  // touches leave version alone
    h.clock.advance(50000);
    CHECK(*st.exists("g") == true);
    CHECK(st.get("g")->last_accessed_at_ms() == t0 + 61000);
    h.clock.advance(99999);
    CHECK(*st.exists("g") == true);
    h.clock.advance(1);
    CHECK(*st.exists("g") == false);  // exists did not extend it
    CHECK(*st.exists("nope") == false);
    CHECK(st.exists("bad id").error() == errc::invalid_argument);
  }

  SUBCASE("read lends what get returns, with the same errors and touch") {
    create_request req;
    req.id = "r";
    req.ttl_s = 100;
    req.variables = {set("v", "[1,2]")};
    REQUIRE(st.create(req).has_value());
    const uint64_t t0 = h.clock.ms->load();
    int calls = 0;
    auto count = [&](const session_view&) { ++calls; };
    CHECK(st.read("missing", count).error() == errc::not_found);
    CHECK(st.read("bad id", count).error() == errc::invalid_argument);
    CHECK(st.read("", count).error() == errc::invalid_argument);
    CHECK(calls == 0);  // fn runs only on success
    h.clock.advance(5000);  // < ttl/10: no touch recorded
    std::string version, value;
    uint64_t accessed = 0;
    REQUIRE(st.read("r", [&](const session_view& v) {
                ++calls;
                CHECK(v.id() == "r");
                version = v.version();
                value = std::string(*v.find(section::variables, "v"));
                accessed = v.last_accessed_at_ms();
              }).has_value());
    CHECK(calls == 1);
    CHECK(value == "[1,2]");
    CHECK(accessed == t0);
    CHECK(version == st.peek("r")->version());
    h.clock.advance(6000);  // 11 s > ttl/10: the read records the touch, as get does
    REQUIRE(st.read("r", [&](const session_view& v) { accessed = v.last_accessed_at_ms(); }).has_value());
    CHECK(accessed == t0 + 11000);
    CHECK(st.peek("r")->last_accessed_at_ms() == t0 + 11000);
    CHECK(st.peek("r")->version() == version);
    REQUIRE(st.remove("r").has_value());
    CHECK(st.read("r", count).error() == errc::not_found);
    CHECK(calls == 1);
  }

  SUBCASE("patch merges, removes with null, checks If-Match and limits") {
    create_request req;
    req.id = "p";
    req.variables = {set("a", "1"), set("b", "2")};
    REQUIRE(st.create(req).has_value());
    const std::string v0 = st.get("p")->version();
    patch_request pr;
    pr.variables = {set("a", "10"), del("b"), set("c", "[true]")};
    pr.metadata = {set("m", "null")};
    pr.ttl_s = 120;
    pr.last_worker_id = "worker-7";
    pr.if_match = v0;
    auto r = st.patch("p", pr);
    REQUIRE(r.has_value());
    CHECK(*r->find(section::variables, "a") == "10");
    CHECK_FALSE(r->find(section::variables, "b").has_value());
    CHECK(*r->find(section::variables, "c") == "[true]");
    CHECK(*r->find(section::metadata, "m") == "null");
    CHECK(r->ttl_s() == 120);
    CHECK(r->last_worker_id() == "worker-7");
    CHECK(r->version() != v0);
    CHECK(r->count(section::variables) == 2);

    patch_request stale;
    stale.variables = {set("a", "11")};
    stale.if_match = v0;
    CHECK(st.patch("p", stale).error() == errc::version_mismatch);
    stale.if_match = "\"" + r->version() + "\"";
    CHECK(st.patch("p", stale).has_value());

    CHECK(st.patch("missing", patch_request{}).error() == errc::not_found);
    patch_request zerottl;
    zerottl.ttl_s = 0;
    REQUIRE(st.patch("p", zerottl).has_value());
    patch_request back;
    back.ttl_s = 3600;
    REQUIRE(st.patch("p", back).has_value());

    patch_request progs;
    for (size_t i = 0; i < h.opts.limits.programs; ++i) progs.programs.push_back(set("p" + std::to_string(i), "{}"));
    REQUIRE(st.patch("p", progs).has_value());
    patch_request one_more;
    one_more.programs = {set("extra", "{}")};
    CHECK(st.patch("p", one_more).error() == errc::too_many_programs);
    patch_request replace;
    replace.programs = {set("p0", "{\"v\":2}")};
    CHECK(st.patch("p", replace).has_value());  // replacing is always allowed

    patch_request many;
    for (size_t i = 0; i <= h.opts.limits.entries_per_map; ++i) many.metadata.push_back(set("k" + std::to_string(i), "1"));
    CHECK(st.patch("p", many).error() == errc::too_large);
  }

  SUBCASE("remove is idempotent and a re-create starts fresh") {
    create_request req;
    req.id = "d";
    req.variables = {set("x", "1")};
    REQUIRE(st.create(req).has_value());
    CHECK(st.remove("d").has_value());
    CHECK(st.remove("d").has_value());
    CHECK(st.remove("never").has_value());
    CHECK(st.get("d").error() == errc::not_found);
    CHECK(*st.exists("d") == false);
    CHECK(st.patch("d", patch_request{}).error() == errc::not_found);
    CHECK(st.touch("d").error() == errc::not_found);
    create_request again;
    again.id = "d";
    auto r = st.create(again);
    REQUIRE(r.has_value());
    CHECK(r->created);
    CHECK_FALSE(r->value.find(section::variables, "x").has_value());
  }

  SUBCASE("touch extends expiry; set_worker records affinity and creates") {
    create_request req;
    req.id = "t";
    req.ttl_s = 10;
    REQUIRE(st.create(req).has_value());
    h.clock.advance(9000);
    auto t = st.touch("t");
    REQUIRE(t.has_value());
    CHECK(t->expires_at_ms() == h.clock.ms->load() + 10000);
    h.clock.advance(9000);
    CHECK(st.get("t").has_value());
    CHECK(st.touch("nope").error() == errc::not_found);

    auto w = st.set_worker("fresh", "worker-1");
    REQUIRE(w.has_value());
    CHECK(w->last_worker_id() == "worker-1");
    CHECK(w->ttl_s() == h.opts.default_ttl_s);
    auto w2 = st.set_worker("fresh", "worker-2");
    CHECK(w2->last_worker_id() == "worker-2");
    CHECK(st.set_worker("fresh", "").error() == errc::invalid_argument);
    CHECK(st.set_worker("bad id", "w").error() == errc::invalid_argument);
  }

  SUBCASE("TTL expiry hides, reaps, counts and publishes") {
    const std::string cur0 = st.current_cursor();
    create_request req;
    req.id = "e";
    req.ttl_s = 5;
    REQUIRE(st.create(req).has_value());
    h.clock.advance(4999);
    CHECK(st.get("e").has_value());
    h.clock.advance(5000);
    CHECK(st.get("e").error() == errc::not_found);
    CHECK(st.list("", 10, "")->sessions.empty());
    CHECK(st.cleanup_expired() == 1);
    CHECK(st.cleanup_expired() == 0);
    auto s = st.stats();
    CHECK(s.sessions_expired == 1);
    CHECK(s.current_sessions == 0);
    CHECK(s.cleanup_runs >= 2);
    auto b = st.read_changes(cur0, 100);
    REQUIRE(b.has_value());
    REQUIRE(b->changes.size() == 3);  // create, the touch recorded by the get, expire
    CHECK(b->changes[0].type == change_type::put);
    CHECK(b->changes[1].type == change_type::put);
    CHECK(b->changes[2].type == change_type::expire);
    CHECK(b->changes[2].id == "e");
  }

  SUBCASE("list walks pages by cursor without skipping or repeating") {
    std::set<std::string> want;
    for (int i = 0; i < 57; ++i) {
      create_request req;
      req.id = "L" + std::to_string(1000 + i);
      REQUIRE(st.create(req).has_value());
      want.insert(req.id);
    }
    create_request other;
    other.id = "other";
    REQUIRE(st.create(other).has_value());
    std::vector<std::string> seen;
    std::string cursor;
    for (int page = 0; page < 20; ++page) {
      auto p = st.list("L", 10, cursor);
      REQUIRE(p.has_value());
      for (const auto& s : p->sessions) {
        seen.push_back(s.id);
        CHECK(s.owner == st.node_id());
        CHECK_FALSE(s.version.empty());
      }
      if (!p->next_cursor) break;
      cursor = *p->next_cursor;
    }
    CHECK(seen.size() == 57);
    CHECK(std::set<std::string>(seen.begin(), seen.end()) == want);
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    CHECK(st.list("", 0, "").error() == errc::invalid_argument);
    CHECK(st.list("", 1001, "").error() == errc::invalid_argument);
    CHECK(st.list("", 10, "bad cursor").error() == errc::invalid_argument);
    CHECK(st.list("zzz", 10, "")->sessions.empty());
  }

  SUBCASE("stats count creates, deletes and current sessions") {
    for (int i = 0; i < 3; ++i) {
      create_request req;
      req.id = "s" + std::to_string(i);
      REQUIRE(st.create(req).has_value());
    }
    REQUIRE(st.remove("s0").has_value());
    auto s = st.stats();
    CHECK(s.sessions_created == 3);
    CHECK(s.sessions_deleted == 1);
    CHECK(s.current_sessions == 2);
    CHECK(s.memory_usage_bytes > 0);
  }

  SUBCASE("the change feed resumes from a cursor in order and says when it cannot") {
    const std::string c0 = st.current_cursor();
    std::vector<std::string> pushed;
    auto sub = st.subscribe([&](const change& c) { pushed.push_back(c.id); });
    create_request req;
    req.id = "f1";
    REQUIRE(st.create(req).has_value());
    patch_request pr;
    pr.variables = {set("v", "1")};
    REQUIRE(st.patch("f1", pr).has_value());
    REQUIRE(st.remove("f1").has_value());
    auto b = st.read_changes(c0, 100);
    REQUIRE(b.has_value());
    REQUIRE(b->changes.size() == 3);
    CHECK(b->changes[0].type == change_type::put);
    CHECK(b->changes[1].type == change_type::put);
    CHECK(b->changes[2].type == change_type::del);
    CHECK(b->changes[1].value.find(section::variables, "v").has_value());
    CHECK(b->changes[0].origin == st.node_id());
    CHECK(b->next_cursor == st.current_cursor());
    CHECK(pushed.size() == 3);
    auto mid = st.read_changes(b->changes[0].cursor, 100);
    REQUIRE(mid->changes.size() == 2);
    CHECK(mid->changes[0].seq == b->changes[1].seq);
    CHECK(st.read_changes(st.current_cursor(), 10)->changes.empty());
    CHECK(st.read_changes("garbage", 10).error() == errc::cursor_expired);
    CHECK(st.read_changes("0000000000000000-1", 10).error() == errc::cursor_expired);
    sub.reset();
    for (int i = 0; i < 200; ++i) {
      create_request r2;
      r2.id = "ring" + std::to_string(i);
      REQUIRE(st.create(r2).has_value());
    }
    CHECK(pushed.size() == 3);
    CHECK(st.read_changes(c0, 10).error() == errc::cursor_expired);  // fell off the ring
  }

  SUBCASE("concurrent writers from several threads lose nothing") {
    create_request req;
    req.id = "shared";
    REQUIRE(st.create(req).has_value());
    const int threads = 4, per = 200;
    std::vector<std::thread> ts;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < per; ++i) {
          patch_request pr;
          pr.variables = {set("t" + std::to_string(t) + "-" + std::to_string(i % 50), std::to_string(i))};
          if (!st.patch("shared", pr)) ++failures;
          create_request own;
          own.id = "own-" + std::to_string(t) + "-" + std::to_string(i);
          if (!st.create(own)) ++failures;
          if (!st.get("shared")) ++failures;
        }
      });
    }
    for (auto& th : ts) th.join();
    CHECK(failures == 0);
    auto s = st.get("shared");
    CHECK(s->count(section::variables) == threads * 50);
    for (int t = 0; t < threads; ++t)
      CHECK(*s->find(section::variables, "t" + std::to_string(t) + "-49") == std::to_string(per - 1));
    CHECK(st.stats().current_sessions == 1 + threads * per);
  }
}
