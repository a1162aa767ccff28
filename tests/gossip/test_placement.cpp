// Placement (--replicas R): the partition table (gossip/placement.hpp), the
// messages it adds, and the store's forget_partition that ends a handoff.
// The gossip behaviour under faults is the simulator's (tests/sim,
// "placement seeds").
#include <ostream>
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "gossip/gossiper.hpp"
#include "gossip/messages.hpp"
#include "gossip/placement.hpp"
#include "store/local_store.hpp"

using namespace sessionmesh;
using namespace sessionmesh::gossip;

namespace {

std::vector<std::string> names(int n, int from = 0) {
  std::vector<std::string> out;
  for (int i = from; i < from + n; ++i) out.push_back("node-" + std::to_string(i));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("placement: R distinct replicas per partition, spread evenly, the same on every node") {
  const placement a(names(6), 2), b(names(6), 2);
  std::map<std::string, int> per_node;
  for (uint32_t p = 0; p < partition_count; ++p) {
    const auto r = a.replicas(p);
    REQUIRE(r.size() == 2);
    CHECK(r[0] != r[1]);
    CHECK(r == b.replicas(p));
    CHECK(a.first(p) == r[0]);
    for (const auto& n : r) {
      CHECK(a.holds(p, n));
      ++per_node[n];
    }
    CHECK(a.replica_count(p) == 2);
  }
  // 512 places over 6 nodes: 85.3 each; bounded loads keep every node
  // within a few of it (at most one above its share).
  REQUIRE(per_node.size() == 6);
  for (const auto& [n, count] : per_node) CHECK_MESSAGE(count >= 75, n << " holds " << count);
  for (const auto& [n, count] : per_node) CHECK_MESSAGE(count <= 87, n << " holds " << count);
  CHECK_FALSE(a.holds(0, "not-a-member"));
  CHECK(a.held_by("not-a-member").none());
}

TEST_CASE("placement: a join or a leave moves little more than the new node's share") {
  const placement five(names(5), 2), six(names(6), 2);
  size_t moved = 0, to_new = 0;
  for (uint32_t p = 0; p < partition_count; ++p) {
    auto before = five.replicas(p), after = six.replicas(p);
    std::set<std::string> b(before.begin(), before.end()), a(after.begin(), after.end());
    std::vector<std::string> gained;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(gained));
    moved += gained.size();
    to_new += a.count("node-5");
  }
  // The new node takes its share (85 places); bounded loads shift a few more.
  CHECK(to_new >= 75);
  CHECK_MESSAGE(moved <= 120, "places moved: " << moved);
  // The same when it leaves again: the table of five comes back exactly.
  const placement five_again(names(5), 2);
  for (uint32_t p = 0; p < partition_count; ++p) CHECK(five_again.replicas(p) == five.replicas(p));
}

TEST_CASE("placement: full replication holds everything on every owner; fewer owners than R hold all") {
  const placement full(names(3), 0);
  CHECK(full.full());
  for (uint32_t p = 0; p < partition_count; ++p) CHECK(full.replicas(p).size() == 3);
  CHECK(full.owner_of("sess-1") == rendezvous_owner("sess-1", names(3)));
  const placement few(names(2), 3);
  for (uint32_t p = 0; p < partition_count; ++p) {
    CHECK(few.replica_count(p) == 2);
    CHECK(few.holds(p, "node-0"));
    CHECK(few.holds(p, "node-1"));
  }
  const placement none({}, 2);
  CHECK(none.replicas(7).empty());
  CHECK(none.first(7).empty());
  CHECK(partition_of("sess-1") == partition_of_hash(store::id_hash64("sess-1")));
}

TEST_CASE("placement messages: a batch that names writes not for its receiver; partition exchanges") {
  deltas d{9, 20, {"rec-a", "rec-b"}, 11};
  std::string wire;
  encode(d, wire);
  auto back = decode(wire);
  REQUIRE(back.has_value());
  const auto& got = std::get<deltas>(*back);
  CHECK(got.first == 11);
  CHECK(got.first_seq() == 11);
  CHECK(got.records.size() == 2);
  // The older three-field form still decodes, its range from its size.
  deltas old{9, 20, {"rec-a", "rec-b"}};
  wire.clear();
  encode(old, wire);
  auto back_old = decode(wire);
  REQUIRE(back_old.has_value());
  CHECK(std::get<deltas>(*back_old).first_seq() == 19);
  // A range too short for its records, or starting at 0, is refused.
  for (uint64_t first : {uint64_t{20}, uint64_t{0} + 21}) {
    deltas bad{9, 20, {"rec-a", "rec-b"}, first};
    wire.clear();
    encode(bad, wire);
    CHECK_FALSE(decode(wire).has_value());
  }

  ae_part part{5, {1, 7, 200}, {11, 22, 33}};
  wire.clear();
  encode(part, wire);
  auto p2 = decode(wire);
  REQUIRE(p2.has_value());
  CHECK(std::get<ae_part>(*p2).parts == std::vector<uint32_t>{1, 7, 200});
  CHECK(std::get<ae_part>(*p2).hashes == std::vector<uint64_t>{11, 22, 33});
  ae_part_equal eq{5, {7}};
  wire.clear();
  encode(eq, wire);
  auto e2 = decode(wire);
  REQUIRE(e2.has_value());
  CHECK(std::get<ae_part_equal>(*e2).parts == std::vector<uint32_t>{7});
  // Unsorted, repeated, out of range, or a hash count that differs: refused.
  for (const ae_part& bad : {ae_part{5, {7, 1}, {1, 2}}, ae_part{5, {7, 7}, {1, 2}}, ae_part{5, {256}, {1}},
                             ae_part{5, {1, 2}, {1}}}) {
    wire.clear();
    encode(bad, wire);
    CHECK_FALSE(decode(wire).has_value());
  }
}

TEST_CASE("forget_partition: drops one partition's records only while its hash is the one compared") {
  store_options o;
  o.node_id = "a";
  o.reaper_interval_ms = 0;
  auto st = std::move(store::local_store::open(o, store::posix_fs()).value());
  std::map<uint32_t, int> per_part;
  for (int i = 0; i < 2000; ++i) {
    create_request req;
    req.id = "s" + std::to_string(i);
    REQUIRE(st->create(req).has_value());
    ++per_part[partition_of(req.id)];
  }
  // A tombstone in the partition goes too.
  const std::string gone = "s0";
  const uint32_t p = partition_of(gone);
  REQUIRE(st->remove(gone).has_value());
  const uint64_t h = st->merkle().node(2, p);
  REQUIRE(h != 0);
  const uint64_t other = st->merkle().node(2, (p + 1) % 256);

  CHECK_FALSE(st->forget_partition(p, h + 1).has_value());  // moved since it was compared
  CHECK(st->merkle().node(2, p) == h);

  auto n = st->forget_partition(p, h);
  REQUIRE(n.has_value());
  CHECK(*n == static_cast<size_t>(per_part[p]));
  CHECK(st->merkle().node(2, p) == 0);
  CHECK(st->merkle().node(2, (p + 1) % 256) == other);
  CHECK(st->stats().current_sessions == static_cast<uint64_t>(2000 - per_part[p]));
  CHECK(st->stats().tombstones == 0);
  for (int i = 0; i < 2000; ++i) {
    const std::string id = "s" + std::to_string(i);
    CHECK(st->peek(id).has_value() == (partition_of(id) != p));
  }
  // Nothing left to forget: 0 records, and the hash (0) still matches.
  CHECK(st->forget_partition(p, 0) == std::optional<size_t>(0));
}
