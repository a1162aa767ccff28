// chunk_supply: aligned chunks, counted as handed out; one kept ready by a
// thread of its own ("sm-arena"), asked for huge pages; a load gets plain
// chunks, asked for huge pages only once it is over. (Whether the kernel
// then backs a chunk with a huge page depends on the machine: not checked.)
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "store/chunk_supply.hpp"

namespace chunk_supply = sessionmesh::store::chunk_supply;

namespace {

// Whether the mapping holding addr was asked for huge pages (VmFlags "hg").
bool asked_huge(const void* addr) {
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
    if (in && line.rfind("VmFlags:", 0) == 0) return line.find(" hg") != std::string::npos;
  }
  FAIL("no mapping holds the chunk");
  return false;
}

std::set<std::string> thread_names() {
  std::set<std::string> names;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string n;
    if (std::getline(comm, n)) names.insert(n);
  }
  return names;
}

}  // namespace

TEST_CASE("chunk_supply: aligned, disjoint, writable chunks, counted as handed out; one kept ready, asked huge") {
  std::set<char*> got;
  for (int i = 0; i < 4; ++i) {
    const size_t before = chunk_supply::mapped();
    char* c = chunk_supply::take();
    REQUIRE(c != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(c) % chunk_supply::chunk_bytes == 0);
    CHECK(chunk_supply::mapped() == before + chunk_supply::chunk_bytes);
    c[0] = 1;
    c[chunk_supply::chunk_bytes - 1] = 2;
    CHECK(got.insert(c).second);
    chunk_supply::quiesce();
    CHECK(asked_huge(c));  // the ready one was; one mapped here is, once the thread has been at it
  }
  for (char* a : got)  // disjoint: aligned starts a chunk apart at least
    for (char* b : got) CHECK((a == b || (a > b ? a - b : b - a) >= static_cast<ptrdiff_t>(chunk_supply::chunk_bytes)));
  chunk_supply::quiesce();
  CHECK(chunk_supply::ready_bytes() == chunk_supply::chunk_bytes);
  CHECK(thread_names().count("sm-arena") == 1);
}

TEST_CASE("chunk_supply: a load gets plain chunks, the ready one kept; asked huge once the load is over") {
  (void)chunk_supply::take();  // the thread runs
  chunk_supply::quiesce();
  REQUIRE(chunk_supply::ready_bytes() == chunk_supply::chunk_bytes);
  chunk_supply::load_begin();
  char* during = chunk_supply::take();
  REQUIRE(during != nullptr);
  CHECK_FALSE(asked_huge(during));
  CHECK(chunk_supply::ready_bytes() == chunk_supply::chunk_bytes);  // kept for later
  chunk_supply::load_begin();  // loads nest: the last one's end counts
  chunk_supply::load_end();
  chunk_supply::quiesce();  // returns at once: a load is still on
  CHECK_FALSE(asked_huge(during));
  chunk_supply::load_end();
  chunk_supply::quiesce();
  CHECK(asked_huge(during));
}
