// record_pool: a shard's spare record blocks, bounded, taken only when they
// fit; and a store whose patches reuse them.
#include <doctest/doctest.h>

#include <malloc.h>

#include <cstdlib>
#include <string>

#include "sessionmesh/sessionmesh.hpp"
#include "crdt/codec.hpp"
#include "crdt/hlc.hpp"
#include "store/packed.hpp"
#include "store/record_pool.hpp"

using namespace sessionmesh;
using sessionmesh::store::record_pool;

namespace {
void give(record_pool& pool, void* p) { pool.give(p, malloc_usable_size(p)); }
void* take(record_pool& pool, size_t bytes) {
  size_t usable = 0;
  void* p = pool.take(bytes, &usable);
  if (p != nullptr) CHECK(usable == malloc_usable_size(p));
  return p;
}
}  // namespace


TEST_CASE("record_pool keeps what it is given, up to its bound, and hands out only blocks that fit") {
  record_pool pool;
  CHECK(take(pool, 100) == nullptr);  // empty
  void* a = std::malloc(400);
  const size_t usable = malloc_usable_size(a);
  give(pool, a);
  if (!record_pool::keeps_blocks) {  // under ASan every block goes straight back to malloc
    CHECK(pool.size() == 0);
    CHECK(take(pool, 400) == nullptr);
    return;
  }
  CHECK(pool.size() == 1);
  CHECK(pool.bytes() == usable + sizeof(size_t));
  CHECK(take(pool, usable + 1) == nullptr);                          // too small
  CHECK(take(pool, usable - record_pool::max_slack - 1) == nullptr);  // too large a waste
  CHECK(take(pool, usable) == a);
  CHECK(pool.size() == 0);
  CHECK(pool.bytes() == 0);
  std::free(a);

  // Past the bound a block goes back to malloc; the pool frees what it
  // holds when destroyed (LeakSanitizer and valgrind would report a leak).
  for (size_t i = 0; i < record_pool::max_blocks + 10; ++i) give(pool, std::malloc(400));
  CHECK(pool.bytes() <= record_pool::max_bytes);
  CHECK(pool.size() == record_pool::max_bytes / (usable + sizeof(size_t)));  // the byte bound binds first
  record_pool small;
  for (size_t i = 0; i < record_pool::max_blocks + 10; ++i) give(small, std::malloc(16));
  CHECK(small.size() == record_pool::max_blocks);  // the count bound binds first
  void* b = take(pool, 400);
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

TEST_CASE("a packed record's footprint is its block's usable size and malloc's size word, from malloc or the pool; "
          "an arena block's size") {
  for (size_t value : {0, 1, 200, 1000, 300000}) {  // the last one above malloc's mmap threshold
    crdt::session_record r;
    r.id = "sess-footprint";
    r.created = {crdt::hlc_make(1000, 0), 7};
    r.sections[static_cast<size_t>(section::variables)]["v"] = crdt::entry{r.created, std::string(value, 'x')};
    const std::string bytes = crdt::encode(r);
    auto* p = detail::make_packed(bytes);
    CHECK(detail::packed_footprint(p) == malloc_usable_size(p) + sizeof(size_t));
    record_pool pool;
    detail::release_to(p, &pool);  // the pool keeps the block (unless it is too large, or under ASan)
    auto* q = detail::make_packed(bytes, crdt::trusted_header(bytes), 1, &pool);
    const size_t record = sizeof(detail::packed_record) + bytes.size();
    // From the pool's arena cache when the record fits a block of it.
    CHECK(q->in_arena() == (store::record_arena::enabled && record <= store::record_arena::max_block));
    if (q->in_arena()) {
      CHECK(detail::packed_footprint(q) == store::record_arena::block_size(record));
    } else {
      CHECK(detail::packed_footprint(q) == malloc_usable_size(q) + sizeof(size_t));
    }
    CHECK(q->bytes() == bytes);
    detail::release(q);
  }
}
