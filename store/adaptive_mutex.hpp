// adaptive_mutex: a mutex for short sections many threads take: a thread
// that finds it held spins briefly (glibc's PTHREAD_MUTEX_ADAPTIVE_NP)
// before it sleeps in the kernel. std::mutex sleeps at once, and on a
// section of a few hundred instructions the sleep and the wake (two
// futex calls and a context switch) cost far more than the wait would.
// Lockable: use with std::lock_guard and std::unique_lock.
// adaptive_shared_mutex: a std::shared_mutex that a thread finding it held
// retries for a few microseconds (spin_tries, a pause between) before it
// sleeps: a shard's writers hold it for about a microsecond, and the
// futex wait and wake of a sleep cost more than that (on a VM, a wake is
// an interrupt to the other vCPU). SharedLockable: std::shared_lock too.
// Thread: thread-safe.
#pragma once

#include <pthread.h>

#include <cerrno>
#include <shared_mutex>

#include "sessionmesh/result.hpp"

namespace sessionmesh::store {

class adaptive_mutex {
 public:
  adaptive_mutex() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    const int r = pthread_mutex_init(&m_, &a);
    pthread_mutexattr_destroy(&a);
    SM_ASSERT(r == 0);
  }
  ~adaptive_mutex() { pthread_mutex_destroy(&m_); }
  adaptive_mutex(const adaptive_mutex&) = delete;
  adaptive_mutex& operator=(const adaptive_mutex&) = delete;

  void lock() {
    const int r = pthread_mutex_lock(&m_);
    SM_ASSERT(r == 0);
  }
  bool try_lock() {
    const int r = pthread_mutex_trylock(&m_);
    SM_ASSERT(r == 0 || r == EBUSY);
    return r == 0;
  }
  void unlock() {
    const int r = pthread_mutex_unlock(&m_);
    SM_ASSERT(r == 0);
  }

 private:
  pthread_mutex_t m_;
};

class adaptive_shared_mutex {
 public:
  static constexpr int spin_tries = 100;

  void lock() { acquire([this] { return m_.try_lock(); }, [this] { m_.lock(); }); }
  bool try_lock() { return m_.try_lock(); }
  void unlock() { m_.unlock(); }
  void lock_shared() { acquire([this] { return m_.try_lock_shared(); }, [this] { m_.lock_shared(); }); }
  bool try_lock_shared() { return m_.try_lock_shared(); }
  void unlock_shared() { m_.unlock_shared(); }

 private:
  // try_ spin_tries times, a pause between; then wait_ (sleeps).
  template <class Try, class Wait>
  static void acquire(Try try_, Wait wait_) {
    for (int i = 0; i < spin_tries; ++i) {
      if (try_()) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    wait_();
  }
  std::shared_mutex m_;
};

}  // namespace sessionmesh::store
