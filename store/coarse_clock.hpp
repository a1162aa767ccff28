// coarse_clock: the wall clock a read decides with, without the precise
// clock's cost on every read.
//
// The precise clock (clock_gettime(CLOCK_REALTIME) in the vDSO) reads the
// TSC behind an lfence: a read waits for every load before it, so one
// lookup's cache misses can no longer overlap the next one's. The kernel's
// coarse clock (CLOCK_REALTIME_COARSE: the time at the last tick, a plain
// load of the vDSO page) has neither cost. It is never ahead of the precise
// clock (both come from the same timekeeper update). It is behind it by a
// tick or two (on the CI VM, 4 ms ticks: 3 to 8.9 ms over 3 s of reads).
//
// Contract: read_clock_ms(slack, edge, precise) returns a time a decision
// against `edge` (now < edge, or now >= edge) may use. It returns the
// coarse time when coarse + slack < edge — every time the precise clock
// could show then is still below the edge, so both clocks decide the
// same — and precise() otherwise. slack 0 means "no coarse clock": it
// always returns precise() (tests inject their own clock that way).
// Thread: any. No state.
#pragma once

#include <time.h>

#include <cstdint>

namespace sessionmesh::store {

// CLOCK_REALTIME_COARSE in ms since the Unix epoch (inline: on every read).
inline uint64_t coarse_system_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}
// How far behind the precise clock the coarse one is taken to be, in ms:
// four of its ticks (its resolution), rounded up, plus 1 for the clocks'
// ms floors. Only reads this close to an edge pay for the precise clock.
// Read once per process.
uint64_t coarse_clock_slack_ms();

template <class Precise>
uint64_t read_clock_ms(uint64_t slack, uint64_t edge, Precise&& precise) {
  if (slack != 0) {
    const uint64_t c = coarse_system_ms();
    if (c + slack < edge) return c;
  }
  return precise();
}

}  // namespace sessionmesh::store
