// epoch_gate: lets one thread wait, without sleeping or polling, until
// every call that was under way at some point has finished (the migrator
// after a phase change: no call still acts on the old phase). Calls take a
// pass (two atomic adds, no lock); wait_past() waits only for the passes
// taken before it began, never for calls that enter meanwhile.
// Thread: any; wait_past() calls are serialized.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace sessionmesh::store {

class epoch_gate {
 public:
  class pass {
   public:
    pass(const pass&) = delete;
    pass& operator=(const pass&) = delete;
    ~pass() { g_.leave(slot_); }

   private:
    friend class epoch_gate;
    pass(epoch_gate& g, unsigned slot) : g_(g), slot_(slot) {}
    epoch_gate& g_;
    unsigned slot_;
  };

  pass enter();
  // Returns once every pass taken before this call was released.
  void wait_past();

 private:
  void leave(unsigned slot);
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int64_t> inflight_[2] = {0, 0};
  std::atomic<bool> waiting_{false};
  std::mutex mu_;  // with cv_: the waiter sleeps until its slot empties
  std::condition_variable cv_;
  std::mutex wait_mu_;  // one wait_past at a time
};

}  // namespace sessionmesh::store
