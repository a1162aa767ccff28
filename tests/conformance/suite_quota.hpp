// The adapter contract, part 3: the session quota (strict mode refuses past
// max_sessions, warns at 80% and 100% once). Instantiated next to suite.hpp.
#pragma once

#include "tests/conformance/suite.hpp"

TEST_CASE_TEMPLATE_DEFINE("adapter conformance: quota", F, sessionmesh_conformance_quota) {
  using namespace sessionmesh;
  std::vector<std::string> warnings;
  conformance::harness<F> h([&](store_options& o) {
    o.max_sessions = 5;
    o.strict_quota = true;
    o.on_warning = [&](std::string_view name, std::string_view) { warnings.emplace_back(name); };
  });
  for (int i = 0; i < 5; ++i) {
    create_request req;
    req.id = "q" + std::to_string(i);
    REQUIRE(h.st->create(req).has_value());
  }
  create_request over;
  over.id = "q5";
  CHECK(h.st->create(over).error() == errc::session_quota_exceeded);
  CHECK(h.st->set_worker("q5", "w1").error() == errc::session_quota_exceeded);  // the upsert creates: refused
  CHECK_FALSE(h.st->exists("q5").value());
  CHECK(h.st->set_worker("q1", "w1").has_value());  // an existing one is not a create
  create_request existing;
  existing.id = "q0";
  CHECK(h.st->create(existing).has_value());  // idempotent create still answers
  // 80% and 100% once each, and (strict) one loud warning per refusal.
  REQUIRE(warnings.size() == 4);
  CHECK(warnings[2] == "session_quota_exceeded");
  REQUIRE(h.st->remove("q0").has_value());
  CHECK(h.st->create(over).has_value());
}

// Creates on several threads at once: exactly as many pass as the node's
// quota and each namespace's limit allow (a reservation is counted like a
// live session until its create is counted), and every refusal is the
// quota's.
TEST_CASE_TEMPLATE_DEFINE("adapter conformance: quota under concurrent creates", F,
                          sessionmesh_conformance_quota_concurrent) {
  using namespace sessionmesh;
  constexpr int threads = 4, per_thread = 40, node_max = 50, ns_max = 7;
  conformance::harness<F> h([&](store_options& o) { o.max_sessions = node_max; });
  std::atomic<int> ok{0}, refused{0}, other{0}, ns_ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        create_request req;
        // A quarter go to namespace "ns" under its own limit of ns_max.
        const bool in_ns = i % 4 == 0;
        req.id = (in_ns ? "ns::c" : "c") + std::to_string(t) + "-" + std::to_string(i);
        if (in_ns) req.limits.max_sessions = ns_max;
        auto r = h.st->create(std::move(req));
        if (r) {
          ++ok;
          if (in_ns) ++ns_ok;
        } else if (r.error() == errc::session_quota_exceeded) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  CHECK(other.load() == 0);
  CHECK(ok.load() == node_max);
  CHECK(refused.load() == threads * per_thread - node_max);
  CHECK(ns_ok.load() <= ns_max);
  CHECK(h.st->stats().current_sessions == uint64_t(node_max));
  // Every place is given back: one delete frees exactly one create.
  auto page = h.st->list("", 1000, "");
  REQUIRE(page.has_value());
  REQUIRE(page->sessions.size() == size_t(node_max));
  REQUIRE(h.st->remove(page->sessions.front().id).has_value());
  create_request again;
  again.id = "again";
  CHECK(h.st->create(again).has_value());
  create_request past;
  past.id = "past";
  CHECK(h.st->create(past).error() == errc::session_quota_exceeded);
}
