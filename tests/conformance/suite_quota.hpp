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
