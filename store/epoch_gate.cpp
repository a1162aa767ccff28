#include "store/epoch_gate.hpp"

namespace sessionmesh::store {

epoch_gate::pass epoch_gate::enter() {
  for (;;) {
    const uint64_t e = epoch_.load();
    const auto slot = static_cast<unsigned>(e & 1);
    inflight_[slot].fetch_add(1);
    if (epoch_.load() == e) return pass(*this, slot);
    leave(slot);  // the epoch moved on meanwhile: enter the new one
  }
}

void epoch_gate::leave(unsigned slot) {
  // Seq-cst: either the waiter sees this decrement when it checks, or this
  // sees waiting_ and wakes it under the mutex.
  if (inflight_[slot].fetch_sub(1) == 1 && waiting_.load()) {
    std::lock_guard lk(mu_);
    cv_.notify_all();
  }
}

void epoch_gate::wait_past() {
  std::lock_guard serial(wait_mu_);
  const auto slot = static_cast<unsigned>(epoch_.fetch_add(1) & 1);
  waiting_.store(true);
  {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return inflight_[slot].load() == 0; });
  }
  waiting_.store(false);
}

}  // namespace sessionmesh::store
