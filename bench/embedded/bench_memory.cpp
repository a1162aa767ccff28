// bench/embedded/bench_memory: heap bytes per session of the embedded store
// (in memory, no WAL) for sessions of one variable of SIZE bytes of JSON,
// measured as mallinfo2 deltas (slot arrays, records, allocator overhead)
// plus the record arena's mapped chunks,
// beside a raw absl::flat_hash_map<std::string, std::string> holding the same
// ids and values. bench/embedded/memory.sh prints it beside Redis.
//
//   build-release/bench/bench_memory SIZE [SESSIONS]
//
// Prints one line: "size N sessionmesh_B raw_B" (bytes per session).
#include <absl/container/flat_hash_map.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "workload.hpp"
#include "sessionmesh/sessionmesh.hpp"
#include "store/record_arena.hpp"

using namespace sessionmesh;

namespace {

// malloc's bytes in use and the record arena's chunks (store/record_arena.hpp:
// records up to 4 KiB live there, outside malloc; its mapped bytes, whole
// 2 MiB chunks, count as used).
size_t heap_used() {
  const auto m = mallinfo2();
  return m.uordblks + m.hblkhd + store::record_arena::stats().mapped;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_memory SIZE [SESSIONS]\n");
    return 2;
  }
  const size_t size = std::strtoull(argv[1], nullptr, 10);
  if (size < 2 || size > (4u << 20)) {
    std::fprintf(stderr, "SIZE must be 2 to 4194304 bytes\n");
    return 2;
  }
  // About 256 MiB of values unless told.
  const size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::min<size_t>(200000, (256u << 20) / size);
  std::string value(size, 'x');  // a JSON string of exactly size bytes
  value.front() = value.back() = '"';

  const size_t h0 = heap_used();
  auto* raw = new absl::flat_hash_map<std::string, std::string>();
  for (size_t i = 0; i < n; ++i) raw->emplace(bench::session_id(i), value);
  const double raw_b = static_cast<double>(heap_used() - h0) / static_cast<double>(n);
  delete raw;

  store_options o;
  o.node_id = "bench";
  o.max_sessions = n * 2;
  o.reaper_interval_ms = 0;
  o.feed_capacity = 1024;
  o.limits.value_bytes = std::max<size_t>(o.limits.value_bytes, size);
  const size_t h1 = heap_used();
  auto st = open_store(o);
  if (!st) {
    std::fprintf(stderr, "open_store: %s\n", st.error().message().c_str());
    return 1;
  }
  session_store& s = **st;
  for (size_t i = 0; i < n; ++i) {
    create_request r;
    r.id = bench::session_id(i);
    r.variables = {{"v", value}};
    if (auto c = s.create(std::move(r)); !c) {
      std::fprintf(stderr, "create: %s\n", c.error().message().c_str());
      return 1;
    }
  }
  // Drop the change feed's references so only the map holds records.
  for (int i = 0; i < 1100; ++i) (void)s.remove("absent");
  const double sm_b = static_cast<double>(heap_used() - h1) / static_cast<double>(n);
  std::printf("%zu %zu %.0f %.0f\n", size, n, sm_b, raw_b);
  return 0;
}
