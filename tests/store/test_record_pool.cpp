// record_pool: a shard's spare record blocks, bounded, taken only when they
// fit; and a store whose patches reuse them.
#include <doctest/doctest.h>

#include <malloc.h>

#include <cstdlib>
#include <string>

#include "sessionmesh/sessionmesh.hpp"
#include "store/record_pool.hpp"

using namespace sessionmesh;
using sessionmesh::store::record_pool;


TEST_CASE("record_pool keeps what it is given, up to its bound, and hands out only blocks that fit") {
  record_pool pool;
  CHECK(pool.take(100) == nullptr);  // empty
  void* a = std::malloc(400);
  const size_t usable = malloc_usable_size(a);
  pool.give(a);
  if (!record_pool::keeps_blocks) {  // under ASan every block goes straight back to malloc
    CHECK(pool.size() == 0);
    CHECK(pool.take(400) == nullptr);
    return;
  }
  CHECK(pool.size() == 1);
  CHECK(pool.bytes() == usable + sizeof(size_t));
  CHECK(pool.take(usable + 1) == nullptr);                          // too small
  CHECK(pool.take(usable - record_pool::max_slack - 1) == nullptr);  // too large a waste
  CHECK(pool.take(usable) == a);
  CHECK(pool.size() == 0);
  CHECK(pool.bytes() == 0);
  std::free(a);

  // Past the bound a block goes back to malloc; the pool frees what it
  // holds when destroyed (LeakSanitizer and valgrind would report a leak).
  for (size_t i = 0; i < record_pool::max_blocks + 10; ++i) pool.give(std::malloc(400));
  CHECK(pool.bytes() <= record_pool::max_bytes);
  CHECK(pool.size() == record_pool::max_bytes / (usable + sizeof(size_t)));  // the byte bound binds first
  record_pool small;
  for (size_t i = 0; i < record_pool::max_blocks + 10; ++i) small.give(std::malloc(16));
  CHECK(small.size() == record_pool::max_blocks);  // the count bound binds first
  void* b = pool.take(400);
  CHECK(b != nullptr);
  std::free(b);
}

TEST_CASE("patches of one session reuse the record blocks the store dropped") {
  store_options o;
  o.node_id = "pool";
  o.reaper_interval_ms = 0;
  o.feed_capacity = 1;  // the feed keeps no old record alive
  auto st = open_store(o);
  REQUIRE(st);
  session_store& s = **st;
  create_request c;
  c.id = "sess-pool";
  c.variables = {{"v", "\"" + std::string(200, 'x') + "\""}};
  REQUIRE(s.create(std::move(c)));
  std::string last;
  for (int i = 0; i < 2000; ++i) {
    patch_request p;
    const std::string v = "\"" + std::string(200, static_cast<char>('a' + i % 26)) + "\"";
    p.variables = {{"v", v}};
    auto r = s.patch("sess-pool", std::move(p));
    REQUIRE(r);
    last = v;
  }
  auto g = s.get("sess-pool");
  REQUIRE(g);
  CHECK(*g->find(section::variables, "v") == last);
  // Memory stays bounded: the record in use, the slot arrays and at most
  // one shard's spare blocks (the session lives in one shard).
  const auto stats = s.stats();
  CHECK(stats.memory_usage_bytes < (size_t{1} << 20));
}
