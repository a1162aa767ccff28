// The deterministic simulator: N real nodes (local store on a simulated
// file system + the production gossiper) in one thread, with virtual time,
// a simulated network (per-link delay, loss, duplication, reordering,
// partitions of several shapes, clogged links), per-node clocks with offset,
// drift and jumps, crashes that lose unsynced writes and restarts, and a
// client workload. One seed decides everything; the same seed gives the same
// trace hash. Checkers run at the end (and, for HLC order, as it goes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sessionmesh::sim {

struct params {
  uint64_t seed = 1;
  int nodes = 3;
  uint64_t duration_ms = 6000;     // chaos phase
  uint64_t quiet_ms = 20000;       // healed, all up: must converge within this
  int ops = 150;                   // client operations in the chaos phase
  bool liveness = false;           // keep a stable majority connected throughout
  bool crashes = true;
  bool partitions = true;
  double loss = 0.02, duplicate = 0.01;
  uint64_t max_clock_offset_ms = 500;
  // Placement (--replicas R): each partition on R nodes; clients reach a
  // replica through the node they talk to (as the HTTP relay does), and
  // the checkers hold each replica (and only the replicas) to the model.
  unsigned replicas = 0;
  // Scripted skew: the last node's clock jumps this far ahead 500 ms into
  // the run and is fixed (jumps back) at skew_fix_ms. Past max_clock_offset_ms
  // the checkers then require that, once the node had time to measure its
  // peers (skew_detect_ms), it acknowledges no write until its clock is back
  // in range, and that it accepts writes again within skew_detect_ms of that.
  int64_t skew_ms = 0;
  uint64_t skew_fix_ms = 4000;
  uint64_t skew_detect_ms = 3000;
};

struct report {
  bool ok = true;
  std::vector<std::string> failures;
  uint64_t trace_hash = 0;
  uint64_t converge_ms = 0;          // simulated time from heal to identical roots
  uint64_t messages = 0, bytes = 0;  // delivered
  uint64_t acked_writes = 0, lost = 0, records_repaired = 0;
  uint64_t acked_replicated = 0;     // acks=N writes answered met (each checked on N nodes)
  uint64_t clock_refused = 0;        // client writes refused with clock_skew
  uint64_t token_checks = 0;  // (node, another node's write) pairs the node counted applied: checked held
  uint64_t handed_off = 0;    // partitions forgotten by a node after a replica held them (placement)
  std::string describe() const;
};

report run(const params& p);

}  // namespace sessionmesh::sim
