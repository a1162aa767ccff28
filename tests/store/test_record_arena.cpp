// record_arena: blocks by size class from 2 MiB chunks; a cache's lists are
// bounded and trade with the arena's shared lists; blocks never overlap,
// including when threads take, give and share them at once (this test also
// runs under TSan). Under ASan the arena hands out nothing.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "store/record_arena.hpp"
#include "tests/test_seed.hpp"

using sessionmesh::store::record_arena;

TEST_CASE("record_arena: classes of granule bytes up to max_block, aligned, disjoint, reused last in first out") {
  record_arena::cache c;
  if (!record_arena::enabled) {
    CHECK(c.take(100) == nullptr);
    return;
  }
  CHECK(c.take(0) == nullptr);
  CHECK(c.take(record_arena::max_block + 1) == nullptr);  // past the classes: the caller mallocs
  constexpr size_t g = record_arena::granule;
  CHECK(record_arena::block_size(1) == g);
  CHECK(record_arena::block_size(g) == g);
  CHECK(record_arena::block_size(g + 1) == 2 * g);
  CHECK(record_arena::block_size(record_arena::max_block) == record_arena::max_block);
  std::vector<std::pair<char*, size_t>> got;
  for (size_t bytes : {1, 31, 32, 33, 367, 368, 1000, 4095, 4096}) {
    for (int i = 0; i < 40; ++i) {  // more than one batch of a class
      auto* b = static_cast<char*>(c.take(bytes));
      REQUIRE(b != nullptr);
      CHECK(reinterpret_cast<uintptr_t>(b) % record_arena::granule == 0);
      std::memset(b, static_cast<int>(got.size() & 0xff), bytes);  // every byte of it is ours
      got.emplace_back(b, record_arena::block_size(bytes));
    }
  }
  std::set<std::pair<char*, size_t>> sorted(got.begin(), got.end());
  for (auto it = sorted.begin(); std::next(it) != sorted.end(); ++it)
    CHECK(it->first + it->second <= std::next(it)->first);  // no two blocks overlap
  c.give(got.back().first, 4096);
  CHECK(c.take(4096) == got.back().first);  // the last given is the first taken
  for (auto& [b, size] : got) c.give(b, size);
}

TEST_CASE("record_arena: a cache keeps at most keep_max blocks a class; the rest, and all it kept when it goes, are "
          "shared") {
  if (!record_arena::enabled) return;
  const size_t shared0 = record_arena::stats().shared;
  std::vector<void*> blocks;
  {
    record_arena::cache c;
    for (size_t i = 0; i < record_arena::cache::keep_max + 1; ++i) blocks.push_back(c.take(200));
    const size_t kept0 = c.bytes();
    for (void* b : blocks) c.give(b, 200);
    // keep_max + 1 given: past the bound, the cache kept half and shared the rest.
    CHECK(c.bytes() <= kept0 + record_arena::cache::keep_max * record_arena::block_size(200));
    CHECK(c.bytes() >= kept0);
    CHECK(record_arena::stats().shared > shared0);
  }
  CHECK(record_arena::stats().shared >= shared0 + blocks.size() * record_arena::block_size(200));  // went back
  // Another cache takes the shared blocks before it carves new ones.
  record_arena::cache d;
  const size_t mapped = record_arena::stats().mapped;
  std::set<void*> mine(blocks.begin(), blocks.end());
  size_t reused = 0;
  std::vector<void*> again;
  for (size_t i = 0; i < blocks.size(); ++i) {
    again.push_back(d.take(200));
    reused += mine.count(again.back());
  }
  CHECK(reused > 0);
  CHECK(record_arena::stats().mapped == mapped);
  for (void* b : again) record_arena::give_shared(b, 200);
}

TEST_CASE("record_arena: caches trade whole batches with the shared lists; blocks given one at a time make one") {
  if (!record_arena::enabled) return;
  constexpr size_t bytes = 2990;
  const size_t size = record_arena::block_size(bytes), batch = record_arena::cache::batch;
  // Tests before this one (random record sizes) may have left blocks of this
  // class shared, loose or in batches: take them all first, so what follows
  // starts from empty shared lists. A take_shared that leaves the shared
  // bytes as they were carved a new block: the lists are empty.
  std::vector<void*> drained;
  for (;;) {
    const size_t before = record_arena::stats().shared;
    drained.push_back(record_arena::take_shared(bytes));
    REQUIRE(drained.back() != nullptr);
    if (record_arena::stats().shared == before) break;
  }
  std::vector<void*> blocks;
  record_arena::cache c;
  // Three batches at least, and until c holds none: a refill carved short at
  // the end of a chunk shifts c's refills, so after three batches' takes c
  // may still hold blocks.
  for (size_t i = 0; i < 3 * batch || c.peek(bytes) != nullptr; ++i) blocks.push_back(c.take(bytes));
  const size_t given = record_arena::cache::keep_max + 1;
  const size_t shared0 = record_arena::stats().shared;
  for (size_t i = 0; i < given; ++i) c.give(blocks[i], bytes);
  // One past keep_max: the newest batch went back whole, the rest stayed.
  CHECK(record_arena::stats().shared == shared0 + batch * size);
  record_arena::cache d;
  for (size_t i = 0; i < batch; ++i) CHECK(d.take(bytes) == blocks[given - 1 - i]);  // newest first
  CHECK(record_arena::stats().shared == shared0);  // d took the whole batch
  // Loose blocks: given one at a time, shared one at a time.
  for (size_t i = given; i < given + batch - 1; ++i) record_arena::give_shared(blocks[i], bytes);
  CHECK(record_arena::stats().shared == shared0 + (batch - 1) * size);
  CHECK(record_arena::take_shared(bytes) == blocks[given + batch - 2]);
  record_arena::give_shared(blocks[given + batch - 2], bytes);
  record_arena::give_shared(blocks[given - 1], bytes);  // d's: the loose blocks make a batch
  CHECK(record_arena::stats().shared == shared0 + batch * size);
  record_arena::cache e;
  CHECK(e.take(bytes) == blocks[given - 1]);  // taken whole by a cache: its first block, the last given
  CHECK(record_arena::stats().shared == shared0);
  for (size_t i = 0; i < batch - 1; ++i) CHECK(e.take(bytes) == blocks[given + batch - 2 - i]);
  for (size_t i = given + batch - 1; i < blocks.size(); ++i) c.give(blocks[i], bytes);
  for (size_t i = given - batch; i < given - 1; ++i) d.give(blocks[i], bytes);
  for (size_t i = given - 1; i < given + batch - 1; ++i) e.give(blocks[i], bytes);
  for (void* b : drained) record_arena::give_shared(b, bytes);
}

TEST_CASE("record_arena: threads taking, giving and sharing blocks never get one another's") {
  if (!record_arena::enabled) return;
  const uint64_t seed = sessionmesh::testing::test_seed("record_arena threads");
  auto work = [](uint64_t s, uint8_t mark) {
    std::mt19937_64 rng(s);
    record_arena::cache c;
    std::vector<std::pair<uint8_t*, size_t>> held;
    for (int i = 0; i < 20000; ++i) {
      if (held.size() < 50 && rng() % 2 == 0) {
        const size_t bytes = 40 + rng() % 600;
        auto* b = static_cast<uint8_t*>(c.take(bytes));
        REQUIRE(b != nullptr);
        std::memset(b, mark, bytes);
        held.emplace_back(b, bytes);
      } else if (!held.empty()) {
        const size_t k = rng() % held.size();
        auto [b, bytes] = held[k];
        for (size_t j = 0; j < bytes; ++j)
          if (b[j] != mark) FAIL("a block held by one thread was written by another");
        held[k] = held.back();
        held.pop_back();
        if (rng() % 4 == 0) {
          record_arena::give_shared(b, bytes);
        } else {
          c.give(b, bytes);
        }
      }
    }
    for (auto [b, bytes] : held) c.give(b, bytes);
  };
  std::thread t(work, seed + 1, uint8_t{0xa1});
  work(seed, uint8_t{0x5e});
  t.join();
}

TEST_CASE("record_arena: large blocks of exact sizes, disjoint, kept per size and reused") {
  if (!record_arena::enabled) {
    CHECK(record_arena::take_shared(100000) == nullptr);
    return;
  }
  CHECK(record_arena::take_shared(0) == nullptr);
  CHECK(record_arena::take_shared(record_arena::chunk_bytes + 1) == nullptr);  // the caller allocates
  const size_t sizes[] = {8 + 8 * 1024, 8 + 8 * 65536, 8 + 8 * 131072, record_arena::chunk_bytes, 100};
  std::vector<std::pair<char*, size_t>> got;
  for (int round = 0; round < 2; ++round) {
    for (size_t bytes : sizes) {
      auto* b = static_cast<char*>(record_arena::take_shared(bytes));
      REQUIRE(b != nullptr);
      if (bytes > record_arena::max_block) CHECK(reinterpret_cast<uintptr_t>(b) % 64 == 0);
      std::memset(b, 0x7f, bytes);
      got.emplace_back(b, bytes);
    }
  }
  std::set<std::pair<char*, size_t>> sorted(got.begin(), got.end());
  for (auto it = sorted.begin(); std::next(it) != sorted.end(); ++it)
    CHECK(it->first + it->second <= std::next(it)->first);
  const auto before = record_arena::stats();
  for (auto& [b, bytes] : got) record_arena::give_shared(b, bytes);
  CHECK(record_arena::stats().shared > before.shared);
  std::set<char*> given;
  for (auto& g : got) given.insert(g.first);
  for (size_t bytes : sizes) {  // the same sizes again: from the lists, nothing newly mapped
    void* b = record_arena::take_shared(bytes);
    CHECK(given.count(static_cast<char*>(b)) == 1);
    record_arena::give_shared(b, bytes);
  }
  CHECK(record_arena::stats().mapped == before.mapped);
}

namespace {

// The VmFlags of the mapping holding addr (/proc/self/smaps), or "".
std::string vm_flags(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  const auto a = reinterpret_cast<uintptr_t>(addr);
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    const size_t dash = line.find('-'), space = line.find(' ');
    if (dash != std::string::npos && space != std::string::npos && dash < space &&
        std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {
      in = a >= lo && a < hi;
      continue;
    }
    if (in && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

}  // namespace

TEST_CASE("record_arena: chunks mapped while a store loads ask for huge pages only once the load is over") {
  if (!record_arena::enabled) return;
  const size_t odd = record_arena::chunk_bytes - 192;  // a size no other test takes: a new chunk
  void* during = nullptr;
  {
    const record_arena::plain_pages_while_loading loading;
    during = record_arena::take_shared(odd);
    REQUIRE(during != nullptr);
    const std::string f = vm_flags(during);
    REQUIRE(!f.empty());
    CHECK(f.find(" hg") == std::string::npos);  // MADV_HUGEPAGE not yet asked
  }
  CHECK(vm_flags(during).find(" hg") != std::string::npos);
  void* after = record_arena::take_shared(odd);
  REQUIRE(after != nullptr);
  CHECK(vm_flags(after).find(" hg") != std::string::npos);
  record_arena::give_shared(during, odd);
  record_arena::give_shared(after, odd);
}

TEST_CASE("record_arena: with huge pages off, chunks mapped after are not asked for them") {
  if (!record_arena::enabled) return;
  const size_t odd = record_arena::chunk_bytes - 320;  // a size no other test takes: a new chunk each
  record_arena::set_huge_pages(false);
  void* off = record_arena::take_shared(odd);
  record_arena::set_huge_pages(true);
  void* on = record_arena::take_shared(odd);
  REQUIRE(off != nullptr);
  REQUIRE(on != nullptr);
  CHECK(vm_flags(off).find(" hg") == std::string::npos);
  CHECK(vm_flags(on).find(" hg") != std::string::npos);
  // Not given back: free large blocks become room for class blocks, ahead
  // of the one the next test looks for.
}

TEST_CASE("record_arena: a large block given back becomes room for class blocks") {
  if (!record_arena::enabled) return;
  const size_t size = 8 + 8 * 16384;  // a table's slot array
  auto* big = static_cast<char*>(record_arena::take_shared(size));
  REQUIRE(big != nullptr);
  record_arena::give_shared(big, size);
  record_arena::cache c;
  std::vector<void*> taken;
  bool inside = false;
  for (int i = 0; i < 4000 && !inside; ++i) {  // past whatever region and kept large blocks came first
    auto* b = static_cast<char*>(c.take(record_arena::max_block));
    REQUIRE(b != nullptr);
    taken.push_back(b);
    inside = b >= big && b < big + size;
  }
  CHECK(inside);
  for (void* b : taken) c.give(b, record_arena::max_block);
}
