#include "store/chunk_supply.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "store/thread_name.hpp"

// Linux 5.14 and 6.1; older headers may lack them (an older kernel answers
// EINVAL, handled below).
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace sessionmesh::store::chunk_supply {
namespace {

// Chunks kept ready: each is 2 MiB of resident memory past what records use.
constexpr size_t ready_max = 1;
// A chunk whose collapse found no huge page is tried again this much later,
// at most this many times in all (each try may compact memory).
constexpr auto retry_after = std::chrono::seconds(1);
constexpr int max_tries = 8;

struct state_t {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<char*> ready;  // asked for huge pages and faulted in
  std::vector<char*> plain;  // mapped on plain pages by a writer or a load: to be made huge
  struct retry {
    char* c;
    int tries;  // collapses that found no huge page
    std::chrono::steady_clock::time_point at;
  };
  std::deque<retry> retries;  // in the order of at
  size_t handed = 0;        // bytes of the chunks take() gave out
  size_t loading = 0;       // loads on
  bool busy = false;        // the thread works on a chunk it took off the lists
  std::condition_variable idle;  // quiesce() waits on it
  bool started = false;     // the thread was tried
  bool running = false;     // and runs
  bool exhausted = false;   // its last map failed: it makes no more ready
};

// Never destroyed: the thread (detached) may still use it as the process exits.
state_t& state() {
  static auto* s = new state_t;
  return *s;
}

// A chunk_bytes chunk aligned to its size, or nullptr.
char* map_aligned() {
  constexpr size_t c = chunk_bytes;
  void* m = mmap(nullptr, 2 * c, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto at = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned = (at + c - 1) & ~uintptr_t{c - 1};
  if (aligned > at) munmap(m, aligned - at);
  if (const uintptr_t tail = at + 2 * c - (aligned + c); tail != 0) munmap(reinterpret_cast<void*>(aligned + c), tail);
  return reinterpret_cast<char*>(aligned);
}

// A hint: where transparent huge pages are off, the chunk stays on plain pages.
void ask_huge(char* c) { (void)madvise(c, chunk_bytes, MADV_HUGEPAGE); }

// Asks for huge pages and collapses the chunk's pages into one now. The
// kernel finds the huge page (compacting memory if it must) with the
// process's mmap lock released, and holds it only to copy the 2 MiB in; a
// huge page's first fault would hold it throughout, and any thread that
// maps memory meanwhile would wait. False when no huge page could be had
// now (worth another try later); where the kernel has no MADV_COLLAPSE
// (before 6.1) the chunk is left to khugepaged.
bool make_huge(char* c) {
  ask_huge(c);
  return madvise(c, chunk_bytes, MADV_COLLAPSE) == 0 || errno == EINVAL;
}

// Faults every page of a chunk no one else has yet (plain pages: each
// fault a microsecond or so).
void fault_in(char* c) {
  if (madvise(c, chunk_bytes, MADV_POPULATE_WRITE) == 0) return;
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < chunk_bytes; i += page) reinterpret_cast<volatile char*>(c)[i] = 0;  // zero already
}

// The supply's thread: keeps ready_max chunks ready, then makes the plain
// ones huge, then tries again the ones that found no huge page; idle while
// a load is on.
void run() {
  name_this_thread("sm-arena");
  auto& st = state();
  std::unique_lock lk(st.mu);
  for (;;) {
    const bool make_ready = !st.exhausted && st.ready.size() < ready_max;
    const bool retry_due = !st.retries.empty() && std::chrono::steady_clock::now() >= st.retries.front().at;
    if (st.loading != 0 || (!make_ready && st.plain.empty() && !retry_due)) {
      st.idle.notify_all();
      if (st.loading != 0 || st.retries.empty())
        st.cv.wait(lk);
      else
        st.cv.wait_until(lk, st.retries.front().at);
      continue;  // look again: woken, timed out, or spuriously
    }
    st.busy = true;
    if (make_ready) {
      lk.unlock();
      char* c = map_aligned();
      bool huge = true;
      if (c != nullptr) {
        fault_in(c);
        huge = make_huge(c);
      }
      lk.lock();
      st.busy = false;
      if (c == nullptr) {
        st.exhausted = true;  // no memory: writers map their own (and see the failure)
        continue;
      }
      st.ready.push_back(c);
      if (!huge) st.retries.push_back({c, 1, std::chrono::steady_clock::now() + retry_after});
      continue;
    }
    state_t::retry r{nullptr, 0, {}};
    if (!st.plain.empty()) {
      r.c = st.plain.back();
      st.plain.pop_back();
    } else {
      r = st.retries.front();
      st.retries.pop_front();
    }
    lk.unlock();
    const bool huge = make_huge(r.c);
    lk.lock();
    st.busy = false;
    if (!huge && r.tries + 1 < max_tries)
      st.retries.push_back({r.c, r.tries + 1, std::chrono::steady_clock::now() + retry_after});
  }
}

// Starts the thread on the first call. REQUIRES: st.mu held.
void start_locked(state_t& st) {
  if (st.started) return;
  st.started = true;
  try {
    std::thread(run).detach();
    st.running = true;
  } catch (const std::system_error&) {
    // No thread: take() asks for huge pages itself.
  }
}

}  // namespace

char* take() {
  auto& st = state();
  std::unique_lock lk(st.mu);
  start_locked(st);
  if (!st.ready.empty() && st.loading == 0) {  // a load maps its chunks plain, the ready one kept for later
    char* c = st.ready.back();
    st.ready.pop_back();
    st.handed += chunk_bytes;
    st.cv.notify_one();  // make the next one
    return c;
  }
  lk.unlock();
  char* c = map_aligned();
  lk.lock();
  if (c == nullptr) return nullptr;
  st.handed += chunk_bytes;
  if (st.running || st.loading != 0) {
    st.plain.push_back(c);
    st.exhausted = false;  // memory was there after all
    st.cv.notify_one();
  } else {
    ask_huge(c);
  }
  return c;
}

size_t mapped() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  return st.handed;
}

size_t ready_bytes() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  return st.ready.size() * chunk_bytes;
}

void quiesce() {
  auto& st = state();
  std::unique_lock lk(st.mu);
  if (!st.running) return;
  st.cv.notify_one();
  st.idle.wait(lk, [&] {
    return st.loading != 0 ||
           (!st.busy && st.plain.empty() && (st.exhausted || st.ready.size() >= ready_max) &&
            (st.retries.empty() || std::chrono::steady_clock::now() < st.retries.front().at));
  });
}

void load_begin() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  ++st.loading;
}

void load_end() {
  auto& st = state();
  std::lock_guard lk(st.mu);
  if (--st.loading != 0) return;
  if (st.running) {
    st.cv.notify_one();
    return;
  }
  for (char* c : st.plain) ask_huge(c);  // no thread: khugepaged collapses them
  st.plain.clear();
  st.plain.shrink_to_fit();
}

}  // namespace sessionmesh::store::chunk_supply
