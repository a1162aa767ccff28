// writer_delta: a thread's reused delta (store/record_map.hpp). Entries
// put through it land as insert_or_assign would put them (a name given
// twice: the later wins);
// when it goes the delta is empty again, its map nodes kept (values freed)
// up to spare_max, and the next write's entries take them.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <thread>

#include "store/record_map.hpp"

using namespace sessionmesh;
using sessionmesh::store::writer_scratch;
using sessionmesh::store::writer_delta;

namespace {

const crdt::stamp ts1{crdt::hlc_make(1000, 1), 7}, ts2{crdt::hlc_make(1000, 2), 7};

void put(writer_delta& d, section s, std::string name, std::optional<std::string> value, const crdt::stamp& ts) {
  d.put(s, name, value, ts);
}

bool empty(const crdt::session_record& r) { return r == crdt::session_record{}; }

// On a thread of its own: a fresh scratch (the test thread's holds what
// other tests' writes left).
void puts_and_keeps() {
  writer_scratch& mine = writer_scratch::mine();
  CHECK(mine.spare_nodes.empty());
  {
    writer_delta d("sess-000000000001");  // past the string's inline bytes
    d->touched = ts1;
    d->ttl_s = 30;
    d->worker = "worker-1";
    put(d, section::variables, "b", "\"x\"", ts1);
    put(d, section::variables, "a", std::nullopt, ts1);  // a removal
    put(d, section::metadata, "m", "1", ts1);
    put(d, section::variables, "b", "\"y\"", ts2);  // the later wins
    CHECK(d->id == "sess-000000000001");
    const auto& vars = d->map(section::variables);
    REQUIRE(vars.size() == 2);
    CHECK(vars.at("a") == crdt::entry{ts1, std::nullopt});
    CHECK(vars.at("b") == crdt::entry{ts2, "\"y\""});
    CHECK(d->map(section::metadata).at("m") == crdt::entry{ts1, "1"});
    CHECK(d->map(section::programs).empty());
  }
  CHECK(empty(mine.delta));
  REQUIRE(mine.spare_nodes.size() == 3);
  for (auto& n : mine.spare_nodes) CHECK_FALSE(n.mapped().value.has_value());  // values freed
  {
    writer_delta d("s2");
    put(d, section::programs, "p", "{}", ts2);
    CHECK(mine.spare_nodes.size() == 2);  // took a kept node
    CHECK(d->map(section::programs).at("p") == crdt::entry{ts2, "{}"});
    CHECK(d->map(section::variables).empty());
    CHECK(d->id == "s2");
  }
  CHECK(empty(mine.delta));
  CHECK(mine.spare_nodes.size() == 3);
  {
    writer_delta d("s3");
    for (size_t i = 0; i < writer_delta::spare_max + 5; ++i)
      put(d, section::variables, "v" + std::to_string(i), std::to_string(i), ts1);
    CHECK(d->map(section::variables).size() == writer_delta::spare_max + 5);
    CHECK(d->map(section::variables).at("v7") == crdt::entry{ts1, "7"});
  }
  CHECK(empty(mine.delta));
  CHECK(mine.spare_nodes.size() == writer_delta::spare_max);  // the rest freed
}

}  // namespace

TEST_CASE("writer_delta: puts as insert_or_assign, empty again when it goes, nodes kept up to spare_max") {
  std::thread t(puts_and_keeps);
  t.join();
}

TEST_CASE("writer_scratch: one per thread, the same on each call") {
  writer_scratch* here = &writer_scratch::mine();
  CHECK(&writer_scratch::mine() == here);
  writer_scratch* there = nullptr;
  std::thread t([&] { there = &writer_scratch::mine(); });
  t.join();
  CHECK(there != nullptr);
  CHECK(there != here);
}
