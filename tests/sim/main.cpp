// sessionmesh-sim: runs the deterministic partition simulation.
//
//   sessionmesh-sim --seed S [--nodes N] [--liveness] [--ops N] [--duration-ms MS]
//   sessionmesh-sim --seeds K [--first S]    K seeds, safety and liveness alternating
//   sessionmesh-sim --seed S --skew-ms 2000 --no-faults --duration-ms 12000 --ops 300
//                    a node's clock jumps 2 s ahead: it must refuse writes until it is back in range
//   --broken-merge   (demo) break the CRDT merge on purpose: the checkers must fail
//
// Every run prints its seed and parameters; the same seed prints the same
// trace hash. Exit status 1 if any run failed.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>

#include "crdt/record.hpp"
#include "gossip/replication_driver.hpp"
#include "tests/sim/sim.hpp"

int main(int argc, char** argv) {
  using namespace sessionmesh;
  CLI::App app{"sessionmesh-sim: deterministic partition simulation of real sessionmesh nodes"};
  uint64_t seed = 1, first = 1;
  uint64_t seeds = 0;
  sim::params p;
  bool broken = false, verbose = false;
  app.add_option("--seed", seed, "run one seed");
  app.add_option("--seeds", seeds, "run this many seeds (safety and liveness alternating)");
  app.add_option("--first", first, "first seed of --seeds");
  app.add_option("--nodes", p.nodes, "nodes (default 3)");
  app.add_option("--replicas", p.replicas, "placement: replicas per partition (default 0: every node)");
  app.add_option("--ops", p.ops, "client operations");
  app.add_option("--duration-ms", p.duration_ms, "simulated chaos time");
  app.add_flag("--liveness", p.liveness, "keep a stable majority connected and check progress");
  app.add_option("--skew-ms", p.skew_ms, "scripted: the last node's clock jumps this far ahead at 0.5 s");
  app.add_option("--skew-fix-ms", p.skew_fix_ms, "scripted: and is fixed at this time (default 4000)");
  app.add_flag(
      "--no-faults",
      [&](int64_t) {
        p.partitions = p.crashes = false;
        p.loss = p.duplicate = 0;
      },
      "no partitions, crashes, loss or duplicates (clock scenarios)");
  app.add_flag("--broken-merge", broken, "break merge on purpose (the checkers must catch it)");
  bool broken_ack = false, broken_tombstone = false, broken_streams = false;
  app.add_flag("--broken-streams", broken_streams,
               "break the stream rule on purpose: a batch counts across a gap (the read-your-writes checker must catch it)");
  app.add_flag("--broken-tombstone", broken_tombstone,
               "drop merged-in tombstones on purpose (the checkers must catch it)");
  app.add_flag("--broken-ack", broken_ack,
               "break the driver's ack rule on purpose: acks=N met before peers applied (the checkers must catch it)");
  app.add_flag("-v,--verbose", verbose, "print every run");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  crdt::set_broken_merge_for_testing(broken);
  gossip::set_broken_ack_for_testing(broken_ack);
  gossip::set_broken_streams_for_testing(broken_streams);
  crdt::set_skipped_tombstone_for_testing(broken_tombstone);
  std::vector<uint64_t> converge;
  uint64_t failed = 0, runs = 0, messages = 0, bytes = 0, repaired = 0;
  auto one = [&](uint64_t s, bool liveness) {
    sim::params q = p;
    q.seed = s;
    q.liveness = liveness || p.liveness;
    const auto r = sim::run(q);
    ++runs;
    converge.push_back(r.converge_ms);
    messages += r.messages;
    bytes += r.bytes;
    repaired += r.records_repaired;
    if (!r.ok) ++failed;
    if (verbose || !r.ok || seeds == 0)
      std::printf("seed=%llu nodes=%d ops=%d duration_ms=%llu liveness=%d: %s\n",
                  static_cast<unsigned long long>(s), q.nodes, q.ops,
                  static_cast<unsigned long long>(q.duration_ms), q.liveness ? 1 : 0, r.describe().c_str());
  };
  if (seeds == 0)
    one(seed, false);
  else
    for (uint64_t i = 0; i < seeds; ++i) one(first + i, i % 2 == 1);
  std::sort(converge.begin(), converge.end());
  auto pct = [&](double q) {
    return converge.empty() ? 0 : converge[std::min(converge.size() - 1, size_t(q * converge.size()))];
  };
  std::printf(
      "%llu runs, %llu failed; convergence after heal (simulated ms): p50 %llu, p99 %llu, max %llu; "
      "%.0f messages and %.0f bytes per repaired record\n",
      static_cast<unsigned long long>(runs), static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(pct(0.5)), static_cast<unsigned long long>(pct(0.99)),
      static_cast<unsigned long long>(converge.empty() ? 0 : converge.back()),
      repaired ? double(messages) / double(repaired) : 0.0,
      repaired ? double(bytes) / double(repaired) : 0.0);
  return failed ? 1 : 0;
}
