// libFuzzer: WAL replay over arbitrary bytes. The input is the last WAL
// segment of a data dir; opening must either fail with a reason or succeed
// with a readable store, never crash.
#include <cstdint>
#include <cstdlib>

#include "store/local_store.hpp"
#include "store/mem_fs.hpp"
#include "store/wal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sessionmesh;
  store::mem_fs fs;
  fs.put("/d/" + store::wal_segment_name(1), std::string(reinterpret_cast<const char*>(data), size));
  store_options o;
  o.data_dir = "/d";
  o.reaper_interval_ms = 0;
  o.fsync = fsync_mode::off;
  o.clock = [] { return uint64_t{1'700'000'000'000}; };
  auto st = store::local_store::open(o, fs);
  if (!st) {
    if (st.detail().empty()) std::abort();
    return 0;
  }
  auto page = (*st)->list("", 1000, "");
  if (!page) std::abort();
  for (const auto& s : page->sessions)
    if (!(*st)->get(s.id)) std::abort();
  (void)(*st)->stats();
  return 0;
}
