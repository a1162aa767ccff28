// gen_data DIR N [TAIL_PERCENT]: a data directory as a node leaves it —
// N sessions (ids sess-%011d, one 256-byte JSON string variable), a
// snapshot covering the first (100 - TAIL_PERCENT)% and the rest in the
// WAL tail after it. Written through the local store itself, so the files
// are exactly what `sessionmesh serve --data-dir DIR` recovers.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/file_io.hpp"
#include "store/local_store.hpp"

using namespace sessionmesh;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: gen_data DIR N [TAIL_PERCENT]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const size_t n = std::strtoull(argv[2], nullptr, 10);
  const size_t tail_pct = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 10;
  if (n == 0 || tail_pct > 100) {
    std::fprintf(stderr, "gen_data: N must be > 0 and TAIL_PERCENT at most 100\n");
    return 2;
  }
  store_options o;
  o.node_id = "gen";
  o.data_dir = dir;
  o.fsync = fsync_mode::off;
  o.max_sessions = n * 2;
  o.reaper_interval_ms = 0;
  o.background_threads = false;
  o.default_ttl_s = 30 * 24 * 3600;  // nothing expires between the write and the restart
  auto st = store::local_store::open(o, store::posix_fs());
  if (!st) {
    std::fprintf(stderr, "gen_data: %s\n", st.describe().c_str());
    return 1;
  }
  const std::string value = "\"" + std::string(254, 'z') + "\"";
  const size_t snap_at = n - n * tail_pct / 100;
  char id[32];
  for (size_t i = 0; i < n; ++i) {
    if (i == snap_at) {
      if (auto r = (*st)->snapshot_now(); !r) {
        std::fprintf(stderr, "gen_data: snapshot failed: %s\n", r.error().message().c_str());
        return 1;
      }
    }
    std::snprintf(id, sizeof id, "sess-%011zu", i);
    create_request r;
    r.id = id;
    r.variables = {{"v", value}};
    write_ctx ctx{false, {}};
    if (!(*st)->create(std::move(r), ctx)) {
      std::fprintf(stderr, "gen_data: create %s failed\n", id);
      return 1;
    }
  }
  if (snap_at == n) (void)(*st)->snapshot_now();
  (*st)->close();
  std::printf("gen_data: %zu sessions in %s (%zu in the snapshot, %zu in the WAL tail)\n", n, dir.c_str(), snap_at,
              n - snap_at);
  return 0;
}
