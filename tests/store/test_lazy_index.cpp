// The local store's Merkle index is built on first use (build_index): built
// late, it must equal the index of the records the store holds, writes
// after it must keep it in step, and a build racing writers must end where
// the writers left the records.
#include <ostream>
#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "crdt/codec.hpp"
#include "store/local_store.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;

namespace {

std::unique_ptr<store::local_store> open_mem() {
  store_options o;
  o.node_id = "n1";
  o.reaper_interval_ms = 0;
  auto st = store::local_store::open(o, store::posix_fs());
  REQUIRE_MESSAGE(st.has_value(), st.describe());
  return std::move(st).value();
}

// The index of what the store holds now, rebuilt from its records' bytes.
store::merkle_index expected_index(store::local_store& st, const std::vector<std::string>& ids) {
  store::merkle_index m;
  for (const auto& id : ids)
    for (const auto& raw : st.raw_records({id}))
      m.update(store::id_hash64(id), 0, crdt::digest_bytes(raw) | 1);
  return m;
}

void check_in_step(store::local_store& st, const std::vector<std::string>& ids) {
  store::merkle_index want = expected_index(st, ids);
  CHECK(st.merkle().root() == want.root());
  CHECK(st.merkle().level(3) == want.level(3));
  CHECK(st.merkle().fold_sketch(store::sketch::max_bits).to_bytes() ==
        want.fold_sketch(store::sketch::max_bits).to_bytes());
}

// One random write on session id k: create, patch, remove, touch.
void write_one(session_store& st, std::mt19937_64& rng, const std::string& id) {
  switch (rng() % 4) {
    case 0: {
      create_request r;
      r.id = id;
      r.variables = {{"v", std::to_string(rng() % 1000)}};
      (void)st.create(std::move(r));
      break;
    }
    case 1: {
      patch_request p;
      p.variables = {{"w", "\"" + std::to_string(rng()) + "\""}};
      (void)st.patch(id, std::move(p));
      break;
    }
    case 2:
      (void)st.remove(id);
      break;
    default:
      (void)st.touch(id);
  }
}

}  // namespace

TEST_CASE("the Merkle index built on first use is the records' own, and writes keep it in step") {
  const uint64_t seed = sessionmesh::testing::test_seed("lazy index");
  std::mt19937_64 rng(seed);
  auto st = open_mem();
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) ids.push_back("lazy-" + std::to_string(i));
  for (int i = 0; i < 2000; ++i) write_one(*st, rng, ids[rng() % ids.size()]);
  check_in_step(*st, ids);  // the first merkle() builds it
  for (int i = 0; i < 2000; ++i) write_one(*st, rng, ids[rng() % ids.size()]);
  check_in_step(*st, ids);
}

TEST_CASE("a build that races two writers ends with the index of what they left") {
  const uint64_t seed = sessionmesh::testing::test_seed("lazy index race");
  auto st = open_mem();
  std::vector<std::string> ids;
  for (int i = 0; i < 400; ++i) ids.push_back("race-" + std::to_string(i));
  std::atomic<long> writes{0};
  std::atomic<bool> built{false};
  auto writer = [&](int t) {
    std::mt19937_64 rng(seed + static_cast<uint64_t>(t));
    long after = 0;
    // Each thread owns every other id; it writes until the build is done
    // and 3,000 writes past it.
    while (after < 3000) {
      write_one(*st, rng, ids[(rng() % (ids.size() / 2)) * 2 + static_cast<size_t>(t)]);
      writes.fetch_add(1);
      if (built.load()) ++after;
    }
  };
  std::thread a(writer, 0), b(writer, 1);
  while (writes.load() < 3000) std::this_thread::yield();  // the build starts among writes
  st->build_index();
  built = true;
  a.join();
  b.join();
  check_in_step(*st, ids);
}
