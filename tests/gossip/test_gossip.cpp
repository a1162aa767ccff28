// The gossiper driven in one thread with virtual time and an in-test
// network (every message goes through the wire encoding): join, delta
// replication, partition and heal through anti-entropy, death and
// ownership moves. The full simulator (tests/sim) grows from this.
#include <ostream>
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <random>
#include <set>

#include "tests/gossip/net.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;
using namespace sessionmesh::gossip;
using namespace sessionmesh::gossip::testnet;


TEST_CASE("gossip: join, replicate, partition, heal, die, move ownership") {
  cluster c(3, testing::test_seed("gossip cluster"));
  c.step(3000);
  for (auto& [id, n] : c.nodes) {
    CHECK_MESSAGE(n.g().members().size() == 2, id);
    for (auto& [mid, m] : n.g().members()) CHECK(m.status == member_status::alive);
  }
  // A write on n0 reaches the others through delta broadcast.
  auto& n0 = c.nodes.at("n0");
  REQUIRE(n0.st->create(create_request{"s1", 60, {}, {{"v", "1"}}, {}, {}}).has_value());
  c.step(20);
  for (auto& [id, n] : c.nodes) CHECK_MESSAGE(n.st->peek("s1").has_value(), id);
  CHECK(c.converged());

  // Cut n0 <-> n1 both ways, write different variables and the same one.
  c.cut = {{"n0", "n1"}, {"n1", "n0"}, {"n0", "n2"}, {"n2", "n0"}};
  patch_request p0;
  p0.variables = {{"a", "\"from-n0\""}, {"same", "0"}};
  REQUIRE(n0.st->patch("s1", p0).has_value());
  c.step(5);
  patch_request p1;
  p1.variables = {{"b", "\"from-n1\""}, {"same", "1"}};
  REQUIRE(c.nodes.at("n1").st->patch("s1", p1).has_value());
  REQUIRE(c.nodes.at("n1").st->remove("gone").has_value());
  CHECK_FALSE(c.converged());
  c.cut.clear();
  // Heal: suspicion may have marked n0 suspect/dead meanwhile; refutation
  // and anti-entropy bring everything back.
  uint64_t waited = 0;
  while (!c.converged() && waited < 30000) {
    c.step(100);
    waited += 100;
  }
  CHECK(c.converged());
  std::printf("healed in %llu ms of simulated time\n", static_cast<unsigned long long>(waited));
  for (auto& [id, n] : c.nodes) {
    auto s = n.st->peek("s1");
    REQUIRE(s.has_value());
    CHECK(*s->find(section::variables, "a") == "\"from-n0\"");
    CHECK(*s->find(section::variables, "b") == "\"from-n1\"");
    CHECK(*s->find(section::variables, "same") == "1");  // the later write wins
  }
  // Kill n2: the others see it dead and ownership moves off it.
  std::vector<std::string> owned_by_n2;
  for (int i = 0; i < 200; ++i) {
    const std::string id = "o" + std::to_string(i);
    if (n0.g().owner_of(id) == "n2") owned_by_n2.push_back(id);
  }
  REQUIRE_FALSE(owned_by_n2.empty());
  c.nodes.at("n2").up = false;
  uint64_t t = 0;
  while (n0.g().members().at("n2").status != member_status::dead && t < 20000) {
    c.step(100);
    t += 100;
  }
  CHECK(n0.g().members().at("n2").status == member_status::dead);
  std::printf("n2 declared dead %llu ms after it stopped\n", static_cast<unsigned long long>(t));
  for (const auto& id : owned_by_n2) {
    CHECK(n0.g().owner_of(id) != "n2");
    CHECK(n0.g().owner_of(id) == c.nodes.at("n1").g().owner_of(id));
  }
}

TEST_CASE("gossip: wire messages round-trip and garbage is refused") {
  std::mt19937_64 rng(testing::test_seed("gossip wire"));
  std::vector<message> ms = {ping{7, {{"a", "a:1", "a:2", 3, member_status::suspect}}}, ack{8, {}},
                             ping_req{9, "b", {}}, gossip::sync{{{"c", "c:1", "", 1, member_status::alive}}},
                             deltas{1, 5, {"x", "y"}}, deltas_ack{1, 5}, ae_l2{1, 2, {3, 4}},
                             ae_leaves{1, {{7, {1, 2}, {3, 4}}}}, ae_records{2, {"r"}, {9}},
                             ae_sketch{ae_sketch_offer | 3, 5, 4, store::sketch(4).to_bytes()},
                             ae_diff{4, {"r"}, {1}, {2, 3}, {10, 11}}};
  // A sketch whose cells do not fill its size, or of a size out of range, is refused.
  for (auto bad : {ae_sketch{1, 2, 4, "short"}, ae_sketch{1, 2, 13, store::sketch(4).to_bytes()}}) {
    std::string w;
    encode(bad, w);
    CHECK_FALSE(decode(w).has_value());
  }
  for (const auto& m : ms) {
    std::string w;
    encode(m, w);
    auto back = decode(w);
    REQUIRE(back.has_value());
    CHECK(back->index() == m.index());
    std::string w2;
    encode(*back, w2);
    CHECK(w2 == w);
    for (int k = 0; k < 200; ++k) {
      std::string bad = w;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      (void)decode(bad);  // must not crash
      (void)decode(std::string_view(w).substr(0, rng() % w.size()));
    }
  }
}

TEST_CASE("gossip: a node whose clock runs beyond the max offset ahead of most peers knows it") {
  cluster c(3, testing::test_seed("gossip clock"));
  c.step(3000);
  for (auto& [id, n] : c.nodes) {
    CHECK_FALSE(n.g().clock_ahead());
    CHECK(std::abs(n.g().clock_lead_ms()) < 20);
  }
  c.offset["n2"] = 2000;  // n2's clock jumps 2 s ahead
  c.step(3000);
  auto& n2 = c.nodes.at("n2").g();
  CHECK(n2.clock_ahead());
  CHECK(n2.clock_lead_ms() >= 1900);
  CHECK(n2.stats().clock_ahead_episodes == 1);
  for (const char* id : {"n0", "n1"}) {
    CHECK_FALSE(c.nodes.at(id).g().clock_ahead());  // behind one peer of two: not a majority
    CHECK_FALSE(c.nodes.at(id).g().clock_behind());
  }
  // A write n2 stamped while ahead is refused by the others, and they do
  // not ack it (acks=N must not count a node that did not apply it).
  // The driver closed n2's clock gate (its replicated adapter refuses
  // local writes: tests/sim checks that end to end); the others' stay open.
  CHECK(c.nodes.at("n2").gate);
  CHECK_FALSE(c.nodes.at("n0").gate);
  // A write stamped just before the gate closed (straight to the local store):
  auto& st2 = *c.nodes.at("n2").st;
  REQUIRE(st2.create(create_request{"ahead", 60, {}, {}, {}, {}}).has_value());
  const uint64_t seq = n2.last_local_seq();
  c.step(200);
  CHECK_FALSE(c.nodes.at("n0").st->peek("ahead").has_value());
  CHECK(n2.acked(seq) == 0);
  // The clock is fixed: n2's HLC still runs ahead until real time passes
  // its last stamp, then it measures itself back in range, and the write
  // reaches everyone through anti-entropy.
  c.offset["n2"] = 0;
  c.step(1000);
  CHECK(n2.clock_ahead());
  c.step(4000);
  CHECK_FALSE(n2.clock_ahead());
  CHECK(c.nodes.at("n0").st->peek("ahead").has_value());
  CHECK(c.converged());

  // Two nodes: the one ahead knows it is ahead, the other that it is behind.
  cluster d(2, testing::test_seed("gossip clock pair"));
  d.offset["n1"] = -1500;
  d.step(3000);
  CHECK(d.nodes.at("n0").g().clock_ahead());
  CHECK(d.nodes.at("n1").g().clock_behind());
  CHECK_FALSE(d.nodes.at("n1").g().clock_ahead());
}

TEST_CASE("gossip: pings and acks without the clock field (older peers) still decode") {
  // [type, [seq, updates]]: the two-field form.
  const std::string old_ack = "\x92\x02\x92\x05\x90";
  auto m = decode(old_ack);
  REQUIRE(m.has_value());
  REQUIRE(std::holds_alternative<ack>(*m));
  CHECK(std::get<ack>(*m).seq == 5);
  CHECK(std::get<ack>(*m).clock_ms == 0);
}

TEST_CASE("gossip: dead members are forgotten after the reap time, everywhere, and stay forgotten") {
  cluster c(4, testing::test_seed("gossip reap"), 20000);
  c.step(3000);
  c.nodes.at("n3").up = false;
  c.step(5000);
  for (const char* id : {"n0", "n1", "n2"}) {
    REQUIRE(c.nodes.at(id).g().members().count("n3"));
    CHECK(c.nodes.at(id).g().members().at("n3").status == member_status::dead);
  }
  c.step(25000);  // past the reap time on every node; syncs carry no dead stranger back
  for (const char* id : {"n0", "n1", "n2"}) {
    CHECK_MESSAGE(c.nodes.at(id).g().members().count("n3") == 0, id);
    CHECK(c.nodes.at(id).g().stats().members_reaped == 1);
  }
  c.step(30000);
  for (const char* id : {"n0", "n1", "n2"}) CHECK(c.nodes.at(id).g().members().count("n3") == 0);
  CHECK(c.nodes.at("n0").g().owner_of("any") != "n3");
}

TEST_CASE("gossip: after a partition each differing record crosses about once, by sketch, towards the older side") {
  const uint64_t seed = testing::test_seed("gossip sketch heal");
  cluster c(2, seed);
  c.step(3000);
  auto& n0 = c.nodes.at("n0");
  auto& n1 = c.nodes.at("n1");
  auto id = [](int i) { return "s" + std::to_string(i); };
  for (int i = 0; i < 3000; ++i) REQUIRE(n0.st->create(create_request{id(i), 3600, {}, {{"v", "0"}}, {}, {}}).has_value());
  for (int t = 0; t < 400 && !c.converged(); ++t) c.step(50);
  REQUIRE(c.converged());
  c.cut = {{"n0", "n1"}, {"n1", "n0"}};
  auto set = [](sim_node& n, const std::string& sid, const char* name, const char* value) {
    patch_request p;
    p.variables = {{name, value}};
    REQUIRE(n.st->patch(sid, p).has_value());
  };
  // n0: 120 patched and 40 created; n1: 80 others patched and 30 created;
  // 20 patched on both sides (different variables: both must survive).
  for (int i = 0; i < 120; ++i) set(n0, id(i), "v", "\"n0\"");
  for (int i = 0; i < 40; ++i) REQUIRE(n0.st->create(create_request{"a" + std::to_string(i), 3600, {}, {}, {}, {}}).has_value());
  c.step(5);
  for (int i = 1000; i < 1080; ++i) set(n1, id(i), "v", "\"n1\"");
  for (int i = 0; i < 30; ++i) REQUIRE(n1.st->create(create_request{"b" + std::to_string(i), 3600, {}, {}, {}, {}}).has_value());
  for (int i = 2000; i < 2020; ++i) set(n0, id(i), "x", "0"), set(n1, id(i), "y", "1");
  const uint64_t sent0 = n0.g().stats().records_sent + n1.g().stats().records_sent;
  const uint64_t bytes0 = c.bytes;
  c.cut.clear();
  uint64_t waited = 0;
  while (!c.converged() && waited < 30000) {
    c.step(50);
    waited += 50;
  }
  REQUIRE(c.converged());
  const uint64_t sent = n0.g().stats().records_sent + n1.g().stats().records_sent - sent0;
  const uint64_t sketches = n0.g().stats().ae_sketches + n1.g().stats().ae_sketches;
  std::printf("sketch heal: %llu ms, %llu records sent for 290 differing, %llu bytes, %llu sketches decoded "
              "(seed %llu)\n",
              static_cast<unsigned long long>(waited), static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(c.bytes - bytes0), static_cast<unsigned long long>(sketches),
              static_cast<unsigned long long>(seed));
  CHECK(sketches >= 1);
  CHECK(n0.g().stats().ae_sketch_failures + n1.g().stats().ae_sketch_failures == 0);
  // Once each, plus up to two more for each of the 20 changed on both sides
  // (the newer side's version, then the merge back); exchanging leaves
  // would send both versions of every changed record (over 500).
  CHECK(sent <= 270 + 3 * 20);
  for (auto* n : {&n0, &n1}) {
    CHECK(*n->st->peek(id(5))->find(section::variables, "v") == "\"n0\"");
    CHECK(*n->st->peek(id(1005))->find(section::variables, "v") == "\"n1\"");
    CHECK(n->st->peek("a7").has_value());
    CHECK(n->st->peek("b7").has_value());
    auto both = n->st->peek(id(2007));
    REQUIRE(both.has_value());
    CHECK(both->find(section::variables, "x").has_value());
    CHECK(both->find(section::variables, "y").has_value());
  }
}

TEST_CASE("gossip: a difference too wide for a sketch heals by leaves") {
  cluster c(2, testing::test_seed("gossip leaves heal"));
  c.step(3000);
  auto& n0 = c.nodes.at("n0");
  c.cut = {{"n0", "n1"}, {"n1", "n0"}};
  // 3,000 new records: every level-2 node differs, so the responder answers with leaves.
  for (int i = 0; i < 3000; ++i)
    REQUIRE(n0.st->create(create_request{"w" + std::to_string(i), 3600, {}, {}, {}, {}}).has_value());
  c.cut.clear();
  uint64_t waited = 0;
  while (!c.converged() && waited < 60000) {
    c.step(50);
    waited += 50;
  }
  CHECK(c.converged());
  CHECK(c.nodes.at("n1").st->peek("w2999").has_value());
}
