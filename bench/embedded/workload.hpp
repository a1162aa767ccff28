// The embedded benchmarks' workload, one definition for all of them: the
// ids (16 bytes, "sess-%011zu"), a fixed shuffled order to visit them in,
// and the 256-byte JSON string values a session holds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace bench {

inline std::string session_id(size_t i) {
  char b[32];
  std::snprintf(b, sizeof b, "sess-%011zu", i);
  return b;
}

inline std::vector<std::string> session_ids(size_t n) {
  std::vector<std::string> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = session_id(i);
  return ids;
}

// 0..n-1 in an order fixed by seed 7: every run visits the same sequence.
inline std::vector<uint32_t> shuffled_order(size_t n) {
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
  return order;
}

// A JSON string of `bytes` bytes (256 unless told): bytes - 2 copies of c
// between quotes. REQUIRES: bytes >= 2.
inline std::string json_value(char c, size_t bytes = 256) { return "\"" + std::string(bytes - 2, c) + "\""; }

}  // namespace bench
