// Read-your-writes: the session token's text form, and what a node counts
// of another's write stream (gossiper::stream_state, applied_view) as
// batches arrive, are lost, and anti-entropy closes the gap.
#include <ostream>
#include <doctest/doctest.h>

#include "crdt/codec.hpp"
#include "gossip/session_token.hpp"
#include "tests/gossip/net.hpp"

using namespace sessionmesh;
using namespace sessionmesh::gossip;
using namespace sessionmesh::gossip::testnet;

TEST_CASE("session token: text form, merge and limits") {
  auto t = parse_token("");
  REQUIRE(t);
  CHECK(t->entries.empty());
  session_token a;
  merge_token(a, {0xabc, 5, 7});
  merge_token(a, {0xabc, 5, 3});  // an older write of the same stream: kept at 7
  merge_token(a, {0xabc, 6, 1});  // another life of the same node: its own entry
  merge_token(a, {0x1, 9, 2});
  REQUIRE(a.entries.size() == 3);
  const std::string text = format_token(a);
  CHECK(text == "0000000000000001.9.2,0000000000000abc.5.7,0000000000000abc.6.1");
  auto back = parse_token(text);
  REQUIRE(back);
  CHECK(back->entries == a.entries);
  // Past the limit the oldest life goes first.
  session_token big;
  for (uint64_t i = 0; i < token_max_entries + 3; ++i) merge_token(big, {100 + i, 1000 + i, 1});
  CHECK(big.entries.size() == token_max_entries);
  CHECK(big.entries.front().epoch == 1003);
  CHECK(parse_token(format_token(big)));
  for (const char* bad : {"x", "1.2", "1.2.3.4", "1..3", "g.1.1", "1.1.1,", ",1.1.1", "1.1.11111111111111111",
                          "1.1.1,,2.2.2"})
    CHECK_MESSAGE(!parse_token(bad), bad);
  std::string many;
  for (uint64_t i = 0; i <= token_max_entries; ++i) many += (i ? "," : "") + std::to_string(i + 1) + ".1.1";
  CHECK(!parse_token(many));
}

namespace {

// Every entry a node counts as applied names a write it holds.
void check_claims(cluster& c, const std::vector<std::tuple<std::string, token_entry, std::string>>& writes) {
  for (auto& [id, n] : c.nodes) {
    if (!n.up) continue;
    for (const auto& [origin, e, sid] : writes) {
      if (origin == id || !n.d->applied()->covers(e)) continue;
      auto s = n.st->peek(sid);
      CHECK_MESSAGE(s.has_value(), id << " counts " << origin << "'s write " << e.seq << " applied without " << sid);
    }
  }
}

}  // namespace

TEST_CASE("streams: a peer counts another's writes applied only through the first gap; anti-entropy closes it") {
  cluster c(3, 7);
  c.step(3000);  // joined, and each has sent the others an exchange (ae_streams): marks flow
  auto& n0 = c.nodes.at("n0");
  std::vector<std::tuple<std::string, token_entry, std::string>> writes;
  auto write = [&](const std::string& sid) {
    REQUIRE(n0.st->create(create_request{sid, 3600, {}, {{"v", "1"}}, {}, {}}).has_value());
    token_entry e{token_node("n0"), n0.g().epoch(), n0.d->last_seq()};
    writes.emplace_back("n0", e, sid);
    return e;
  };
  const auto first = write("a1");
  c.step(100);
  auto& n1 = c.nodes.at("n1");
  CHECK(n1.d->applied()->knows(first));
  CHECK(n1.d->applied()->covers(first));
  CHECK(n1.st->peek("a1").has_value());
  // A token naming a write of n0 that n1 never saw: no.
  CHECK(!n1.d->applied()->covers({first.node, first.epoch, first.seq + 1}));
  CHECK(!n1.d->applied()->covers({first.node, first.epoch + 1, 1}));
  CHECK(!n1.d->applied()->knows({first.node, first.epoch + 1, 1}));

  // n0's batch to n1 is lost: later batches arrive, above the gap.
  c.cut.insert({"n0", "n1"});
  const auto lost = write("lost");
  c.step(5);
  c.cut.clear();
  const auto after = write("after");
  c.step(5);
  CHECK(n1.st->peek("after").has_value());
  CHECK(!n1.st->peek("lost").has_value());
  CHECK(!n1.d->applied()->covers(lost));
  CHECK(!n1.d->applied()->covers(after));  // applied, but above the gap
  check_claims(c, writes);
  // Anti-entropy brings the lost write and finds the two equal; n0's next
  // mark then counts everything.
  bool covered = false;
  for (int i = 0; i < 100 && !covered; ++i) {
    c.step(50);
    check_claims(c, writes);
    covered = n1.d->applied()->covers(after);
  }
  CHECK(covered);
  CHECK(n1.st->peek("lost").has_value());

  // A waiter is answered when the write arrives, or at its deadline.
  c.cut.insert({"n0", "n2"});
  const auto pending = write("pending");
  auto& n2 = c.nodes.at("n2");
  c.step(20);
  int met = -1, missed = -1;
  n2.d->when_applied(session_token{{pending}}, c.now + 10000, [&](bool m) { met = m; });
  n2.d->when_applied(session_token{{{pending.node, pending.epoch, pending.seq + 1000}}}, c.now + 100,
                     [&](bool m) { missed = m; });
  for (auto& [fn, m] : n2.d->take_output().acks) fn(m);
  CHECK(met == -1);
  CHECK(missed == -1);
  c.cut.clear();
  // The harness does not run answered waiters: one tick by hand.
  c.now += 200;
  n2.d->on_tick(c.now);
  for (auto& [fn, m] : n2.d->take_output().acks) fn(m);
  CHECK(missed == 0);
  for (int i = 0; i < 100 && !n2.d->applied()->covers(pending); ++i) c.step(50);
  CHECK(n2.d->applied()->covers(pending));
  n2.d->when_applied(session_token{{pending}}, c.now + 10000, [&](bool m) { met = m; });
  for (auto& [fn, m] : n2.d->take_output().acks) fn(m);
  CHECK(met == 1);
  check_claims(c, writes);
}

TEST_CASE("streams: marks go only to a peer that said it reads them") {
  cluster c(1, 3);
  auto& n0 = c.nodes.at("n0");
  // An older peer joins: it never sets ae_streams.
  n0.d->on_message("old", gossip::sync{{member_update{"old", "old:7946", "old:7070", 5, member_status::alive}}}, c.now,
                   "old:7946");
  REQUIRE(n0.st->create(create_request{"s", 3600, {}, {}, {}, {}}).has_value());
  auto sent_mark = [&] {
    bool any = false;
    for (int i = 0; i < 20; ++i) {
      c.now += 50;
      n0.d->on_tick(c.now);
      for (auto& e : n0.d->take_output().outbox) any |= std::holds_alternative<stream_mark>(e.msg);
    }
    return any;
  };
  n0.d->on_message("old", ae_l2{1, 0, {}}, c.now);
  CHECK(!sent_mark());
  n0.d->on_message("old", ae_l2{2 | ae_streams, 0, {}}, c.now);
  CHECK(sent_mark());
}

TEST_CASE("streams: a batch of another life of its origin is not counted for this one") {
  cluster c(2, 11);
  c.step(3000);
  auto& n1 = c.nodes.at("n1");
  const uint64_t life = c.nodes.at("n0").g().epoch();
  const uint64_t next = c.nodes.at("n0").d->last_seq() + 1;  // n0 has written nothing: 1
  const token_entry e{token_node("n0"), life, next};
  REQUIRE(n1.d->applied()->knows(e));
  CHECK(!n1.d->applied()->covers(e));
  crdt::session_record r;
  r.id = "x";
  r.created = r.touched = r.ttl_ts = crdt::stamp{crdt::hlc_make(c.now, 0), token_node("n0")};
  r.ttl_s = 3600;
  // The next write of n0's stream, in a batch of another life: not counted.
  n1.d->on_message("n0", deltas{gossiper::batch_life(life + 1) + 1, next, {crdt::encode(r)}}, c.now);
  CHECK(n1.st->peek("x").has_value());  // applied all the same
  CHECK(!n1.d->applied()->covers(e));
  // The same batch of this life: counted.
  n1.d->on_message("n0", deltas{gossiper::batch_life(life) + 99, next, {crdt::encode(r)}}, c.now);
  CHECK(n1.d->applied()->covers(e));
}
