// change_feed: the ring against a model list of the changes published, over
// seeded random puts, deletes, expires and moved changes with a small
// capacity and byte bound (growth, wrap-around, drops by count and by
// bytes), read from every cursor; and what subscribers are handed.
#include <doctest/doctest.h>

#include <deque>
#include <random>
#include <string>

#include "crdt/codec.hpp"
#include "store/change_feed.hpp"
#include "store/packed.hpp"
#include "store/record_pool.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;

namespace {

session record_of(const std::string& id, size_t pad) {
  crdt::session_record r;
  r.id = id;
  r.created = {crdt::hlc_make(1000, 1), 7};
  r.map(section::variables)["v"] = crdt::entry{{crdt::hlc_make(1000, 1), 7}, "\"" + std::string(pad, 'x') + "\""};
  return session(detail::make_packed(crdt::encode(r)));
}

void check_same(const change& got, const change& want) {
  CHECK(got.seq == want.seq);
  CHECK(got.type == want.type);
  CHECK(got.id == want.id);
  CHECK(got.version == want.version);
  CHECK(got.origin == want.origin);
  CHECK(got.cursor == want.cursor);
  CHECK(got.value.raw() == want.value.raw());
  CHECK(got.reason == want.reason);
  CHECK(got.moves.size() == want.moves.size());
}

}  // namespace

TEST_CASE("change_feed: reads from every cursor agree with a model, across growth, wrap and drops") {
  const uint64_t seed = testing::test_seed("change_feed model");
  std::mt19937_64 rng(seed);
  const size_t capacity = 40, max_bytes = 12'000;
  store::change_feed feed(capacity, max_bytes, 0xabcdef, "home");
  std::deque<change> model;  // what the ring should hold, oldest first
  std::vector<change> handed;
  auto sub = feed.subscribe([&](const change& c) { handed.push_back(c); });
  uint64_t seq = 0;
  bool dropped_by_bytes = false;
  for (int i = 0; i < testing::test_cases(3000); ++i) {
    change want;
    want.seq = ++seq;
    want.cursor = feed.cursor_of(seq);
    const std::string id = "s" + std::to_string(rng() % 50);
    const auto kind = rng() % 10;
    const crdt::stamp v{rng() >> 8, rng()};
    want.origin = rng() % 4 == 0 ? "peer-" + std::to_string(rng() % 3) : "home";
    const std::string origin = want.origin == "home" && rng() % 2 ? "" : want.origin;
    if (kind < 6) {
      want.type = change_type::put;
      want.id = id;
      want.version = detail::format_version(v);
      want.value = record_of(id, rng() % 20 == 0 ? 7000 : rng() % 600);
      feed.publish(change_type::put, id, &v, want.value, origin);
    } else if (kind < 8) {
      want.type = change_type::del;
      want.id = id;
      want.version = detail::format_version(v);
      feed.publish(change_type::del, id, &v, {}, origin);
    } else if (kind < 9) {
      want.type = change_type::expire;
      want.id = id;
      feed.publish(change_type::expire, id, nullptr, {}, origin);
    } else {
      change m;
      m.type = change_type::moved;
      m.origin = "home";
      m.moves.push_back({id, "a", "b"});
      m.reason = "node_dead";
      want = m;
      want.seq = seq;
      want.cursor = feed.cursor_of(seq);
      feed.publish(std::move(m));
    }
    REQUIRE(!handed.empty());
    check_same(handed.back(), want);
    handed.clear();
    model.push_back(want);
    // The model's drops: by count, then by bytes (the feed's own count),
    // never the newest.
    while (model.size() > capacity) model.pop_front();
    // Past the byte bound only while it holds the newest alone.
    if (seq >= 2 && feed.read(feed.cursor_of(seq - 2), 10).has_value()) CHECK(feed.bytes() <= max_bytes);
    CHECK(feed.bytes() <= max_bytes + 8000);
    // Reading from the current cursor gives nothing; from just before the
    // newest gives it.
    auto none = feed.read(feed.current_cursor(), 10);
    REQUIRE(none.has_value());
    CHECK(none->changes.empty());
    auto last = feed.read(feed.cursor_of(seq - 1), 10);
    REQUIRE(last.has_value());
    REQUIRE(last->changes.size() == 1);
    check_same(last->changes[0], want);
    if (i % 97 == 0) {
      // Every cursor: either expired (fell off) or the model's tail from it.
      size_t held = 0;
      for (uint64_t from = seq >= capacity + 5 ? seq - capacity - 5 : 0; from <= seq; ++from) {
        auto b = feed.read(feed.cursor_of(from), 1000);
        if (!b) {
          CHECK(b.error() == errc::cursor_expired);
          continue;
        }
        const size_t n = static_cast<size_t>(seq - from);
        REQUIRE(b->changes.size() == n);
        held = std::max(held, n);
        for (size_t k = 0; k < n; ++k) check_same(b->changes[k], model[model.size() - n + k]);
        CHECK(b->next_cursor == (n ? feed.cursor_of(seq) : feed.cursor_of(from)));
      }
      CHECK(held >= 1);
      CHECK(held <= capacity);
      if (held > 1) CHECK(feed.bytes() <= max_bytes);
      if (seq > capacity && held < capacity) dropped_by_bytes = true;
    }
  }
  CHECK(dropped_by_bytes);  // the byte bound, not only the count, was exercised
  CHECK_FALSE(feed.read("0000000000abcdef-x", 1).has_value());
  CHECK_FALSE(feed.read("00000000000abcde-1", 1).has_value());  // another incarnation
}

TEST_CASE("change_feed: a change dropped to make room gives its record to the writer's pool when it held the last "
          "reference") {
  store::change_feed feed(1, 1 << 20, 0xabcdef, "home");
  store::record_pool pool;
  const crdt::stamp v{crdt::hlc_make(1000, 1), 7};
  session kept = record_of("kept", 10);
  feed.publish(change_type::put, "kept", &v, kept, "home", &pool);
  feed.publish(change_type::put, "a", &v, record_of("a", 10), "home", &pool);  // drops "kept": still held here
  CHECK(pool.size() == 0);
  CHECK(kept.id() == "kept");
  feed.publish(change_type::put, "b", &v, record_of("b", 10), "home", &pool);  // drops "a": its last reference
  CHECK(pool.size() == (store::record_pool::keeps_blocks ? 1u : 0u));
  feed.publish(change_type::put, "c", &v, record_of("c", 10), "home");  // no pool: "b" goes back to malloc
  CHECK(pool.size() == (store::record_pool::keeps_blocks ? 1u : 0u));
  auto b = feed.read(feed.cursor_of(3), 10);
  REQUIRE(b);
  REQUIRE(b->changes.size() == 1);
  CHECK(b->changes[0].id == "c");
}
