// store_options: everything needed to open a store. Plain value type.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>

namespace sessionmesh {

class telemetry;

enum class fsync_mode { always, batch, off };

struct store_limits {
  size_t value_bytes = 1u << 20;     // one JSON value
  size_t entries_per_map = 1024;     // live entries in metadata / variables / programs
  size_t programs = 200;             // programs per session
  // Live entries' names and values, all maps, plus the worker id, of one
  // session (0: no limit). A replicated record must fit a 16 MiB frame.
  size_t session_bytes = 8u << 20;
  size_t json_depth = 64;
  size_t name_bytes = 256;           // entry names and worker ids
};

struct store_options {
  std::string node_id = "node";
  std::optional<std::string> data_dir;   // nullopt: in memory only
  fsync_mode fsync = fsync_mode::batch;
  uint32_t batch_interval_ms = 5;        // fsync=batch: at most this long before fsync
  uint32_t default_ttl_s = 3600;
  uint64_t max_sessions = 10000;         // 0: no limit
  bool strict_quota = false;             // refusals past the quota are logged loudly
  uint32_t global_program_ttl_s = 3600;
  uint64_t max_global_programs = 10000;  // 0: no limit
  store_limits limits;
  uint32_t reaper_interval_ms = 60000;   // 0: no reaper thread
  uint64_t tombstone_grace_ms = 24ull * 3600 * 1000;
  size_t feed_capacity = 16384;          // change-feed ring: changes kept
  size_t feed_bytes = 64u << 20;         // ...and their bytes (sessions included): the older go first
  uint64_t max_clock_offset_ms = 500;
  uint64_t snapshot_wal_bytes = 64ull << 20;  // snapshot once the WAL grew this much
  uint64_t wal_segment_bytes = 64ull << 20;
  // Whether the record arena asks the kernel for transparent huge pages
  // (MADV_HUGEPAGE) for the chunks it maps from now on: reads and writes of
  // random sessions skip most page walks (get 4–29% faster, BENCHMARKS.md
  // session 25), but where the kernel compacts memory to find a huge page
  // (THP defrag "madvise", the default) the write that first touches a new
  // 2 MiB chunk can wait tens of milliseconds for it. false: plain pages,
  // no such wait (the system's own THP setting still applies). The arena
  // is the process's: the store opened last decides.
  bool huge_pages = true;
  // false: no maintenance thread (the deterministic simulator calls
  // cleanup_expired and snapshots itself).
  bool background_threads = true;
  // Wall clock in ms since the Unix epoch; tests inject their own.
  std::function<uint64_t()> clock;
  // Operational warnings (quota at 80% / 100%, ...): name and message.
  std::function<void(std::string_view name, std::string_view message)> on_warning;
  // Operation events (open_store wraps the store to emit them) and named
  // events; nullptr: open_store makes one, reachable through telemetry_of().
  std::shared_ptr<telemetry> telemetry_hub;
};

}  // namespace sessionmesh
