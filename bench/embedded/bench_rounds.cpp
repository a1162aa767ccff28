// bench/embedded/bench_rounds: the embedded store's get, read and patch
// beside a raw absl::flat_hash_map<std::string, std::string>, in rounds
// that alternate the rows inside one process: 1,000,000 sessions with one
// 256-byte variable, each round 200,000 random lookups (or overwrites /
// patches) per row. Prints the min and the median of the rounds per row,
// and each row's ratio to its raw-map anchor.
//
// bench_embedded runs each row three times in a row; on a shared machine a
// neighbour's burst then lands on one row and not on its anchor. Here every
// round runs all rows back to back, so a burst hits the anchor and the
// store alike, and the min shows the rows undisturbed.
//
//   build-release/bench/bench_rounds [ROUNDS=11] [SESSIONS=1000000]
#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "workload.hpp"
#include "sessionmesh/sessionmesh.hpp"

using namespace sessionmesh;
using clk = std::chrono::steady_clock;

namespace {

struct row {
  const char* name;
  std::vector<double> ns;
  std::pair<double, double> min_median() const {
    std::vector<double> v = ns;
    std::sort(v.begin(), v.end());
    return {v.front(), v[v.size() / 2]};
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 11;
  const size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  const size_t per = std::min<size_t>(200'000, n / 2);
  if (per == 0) return 2;
  const std::string value = bench::json_value('x'), value2 = bench::json_value('y');
  const std::vector<std::string> keys = bench::session_ids(n);
  const std::vector<uint32_t> order = bench::shuffled_order(n);

  absl::flat_hash_map<std::string, std::string> raw;
  for (size_t i = 0; i < n; ++i) raw.emplace(keys[i], value);
  store_options o;
  o.node_id = "bench";
  o.max_sessions = n * 2;
  o.reaper_interval_ms = 0;
  o.feed_capacity = 1024;
  auto st = open_store(o);
  if (!st) return 1;
  session_store& s = **st;
  for (size_t i = 0; i < n; ++i) {
    create_request r;
    r.id = keys[i];
    r.variables = {{"v", value}};
    if (!s.create(std::move(r))) std::abort();
  }
  for (int i = 0; i < 1100; ++i) (void)s.remove("absent");  // the feed lets go of the creates

  row raw_get{"raw get"}, get{"get + find"}, read{"read (borrowed) + find"}, over{"raw overwrite"}, patch{"patch"};
  size_t off = 0, sink = 0;
  // Each row takes the next window of the shuffled order: no row reads
  // lines the previous one left in the cache.
  auto timed = [&](row& r, auto&& body) {
    off = (off + per) % (n - per + 1);
    const auto t0 = clk::now();
    body(off, off + per);
    r.ns.push_back(std::chrono::duration<double, std::nano>(clk::now() - t0).count() / static_cast<double>(per));
  };
  for (int k = 0; k < rounds; ++k) {
    timed(raw_get, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        auto it = raw.find(keys[order[i]]);
        sink += it->second.size() + static_cast<unsigned char>(it->second[1]);
      }
    });
    timed(get, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        auto g = s.get(keys[order[i]]);
        auto v = g->find(section::variables, "v");
        sink += v->size() + static_cast<unsigned char>((*v)[1]);
      }
    });
    timed(read, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        auto r = s.read(keys[order[i]], [&](const session_view& sv) {
          auto v = sv.find(section::variables, "v");
          sink += v->size() + static_cast<unsigned char>((*v)[1]);
        });
        if (!r) std::abort();
      }
    });
    timed(over, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) raw[keys[order[i]]] = (i & 1) ? value : value2;
    });
    timed(patch, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        patch_request p;
        p.variables = {{"v", (i & 1) ? value : value2}};
        if (!s.patch(keys[order[i]], std::move(p))) std::abort();
      }
    });
  }

  std::printf("sessionmesh bench_rounds: %zu sessions, %d rounds of %zu operations per row\n", n, rounds, per);
  std::printf("%-24s %9s %9s %12s %12s\n", "row (ns/op)", "min", "median", "ratio (min)", "ratio (med)");
  auto print = [](const row& r, const row* anchor) {
    const auto [mn, md] = r.min_median();
    if (anchor == nullptr) {
      std::printf("%-24s %9.0f %9.0f\n", r.name, mn, md);
      return;
    }
    const auto [amn, amd] = anchor->min_median();
    std::printf("%-24s %9.0f %9.0f %11.2fx %11.2fx\n", r.name, mn, md, mn / amn, md / amd);
  };
  print(raw_get, nullptr);
  print(get, &raw_get);
  print(read, &raw_get);
  print(over, nullptr);
  print(patch, &over);
  std::printf("(sink %zu)\n", sink & 1);
  return 0;
}
