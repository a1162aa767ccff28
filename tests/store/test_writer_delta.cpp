// shard_delta: a shard's reused delta. Entries put through it land as
// insert_or_assign would put them (a name given twice: the later wins);
// when it goes the delta is empty again, its map nodes kept (values freed)
// up to spare_max, and the next write's entries take them.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "store/record_map.hpp"

using namespace sessionmesh;
using sessionmesh::store::shard;
using sessionmesh::store::shard_delta;

namespace {

const crdt::stamp ts1{crdt::hlc_make(1000, 1), 7}, ts2{crdt::hlc_make(1000, 2), 7};

void put(shard_delta& d, section s, std::string name, std::optional<std::string> value, const crdt::stamp& ts) {
  d.put(s, name, value, ts);
}

bool empty(const crdt::session_record& r) { return r == crdt::session_record{}; }

}  // namespace

TEST_CASE("shard_delta: puts as insert_or_assign, empty again when it goes, nodes kept up to spare_max") {
  shard sh;
  {
    shard_delta d(sh, "sess-000000000001");  // past the string's inline bytes
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
  CHECK(empty(sh.delta));
  REQUIRE(sh.spare_nodes.size() == 3);
  for (auto& n : sh.spare_nodes) CHECK_FALSE(n.mapped().value.has_value());  // values freed
  {
    shard_delta d(sh, "s2");
    put(d, section::programs, "p", "{}", ts2);
    CHECK(sh.spare_nodes.size() == 2);  // took a kept node
    CHECK(d->map(section::programs).at("p") == crdt::entry{ts2, "{}"});
    CHECK(d->map(section::variables).empty());
    CHECK(d->id == "s2");
  }
  CHECK(empty(sh.delta));
  CHECK(sh.spare_nodes.size() == 3);
  {
    shard_delta d(sh, "s3");
    for (size_t i = 0; i < shard_delta::spare_max + 5; ++i)
      put(d, section::variables, "v" + std::to_string(i), std::to_string(i), ts1);
    CHECK(d->map(section::variables).size() == shard_delta::spare_max + 5);
    CHECK(d->map(section::variables).at("v7") == crdt::entry{ts1, "7"});
  }
  CHECK(empty(sh.delta));
  CHECK(sh.spare_nodes.size() == shard_delta::spare_max);  // the rest freed
}
