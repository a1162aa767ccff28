#include "store/coarse_clock.hpp"

#include <time.h>

namespace sessionmesh::store {

uint64_t coarse_clock_slack_ms() {
  static const uint64_t slack = [] {
    timespec res{};
    if (clock_getres(CLOCK_REALTIME_COARSE, &res) != 0) return uint64_t{0};  // no coarse clock: always precise
    const uint64_t ns = static_cast<uint64_t>(res.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(res.tv_nsec);
    return (4 * ns + 999'999) / 1'000'000 + 1;
  }();
  return slack;
}

}  // namespace sessionmesh::store
