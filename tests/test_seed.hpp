// Seeds for random tests: SESSIONMESH_SEED replays a run; every test prints
// the seed it used so a failure can be replayed exactly.
#pragma once

#include <cstdint>
#include <ostream>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sessionmesh::testing {

inline uint64_t test_seed(const char* what) {
  uint64_t seed = 0;
  if (const char* env = std::getenv("SESSIONMESH_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = 0x5e55104d00000000ull ^ static_cast<uint64_t>(std::hash<std::string>{}(what));
  }
  std::printf("[seed] %s: SESSIONMESH_SEED=%llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

inline int test_cases(int dflt) {
  if (const char* env = std::getenv("SESSIONMESH_CASES")) return std::atoi(env);
  return dflt;
}

}  // namespace sessionmesh::testing
