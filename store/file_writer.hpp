// file_writer: writes small files (write_file_atomic: fsynced, renamed,
// directory fsynced) on its own thread, so a thread that must not wait on
// the disk (the gossip thread recording its last contact) only queues.
// Latest wins: a text queued for a path replaces one for the same path not
// yet written. At most max_pending paths wait; a write past that is dropped
// and reported, never queued without bound.
// Errors go to on_error, called on the writer's thread.
// The destructor writes what is queued, then joins.
// Thread: write() is thread-safe and never waits on I/O.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "store/file_io.hpp"

namespace sessionmesh::store {

class file_writer {
 public:
  using error_fn = std::function<void(const std::string& path, std::error_code)>;
  static constexpr size_t max_pending = 64;

  file_writer(file_system& fs, error_fn on_error);
  ~file_writer();
  file_writer(const file_writer&) = delete;
  file_writer& operator=(const file_writer&) = delete;

  // Queues text for path. False (and on_error with errc::limit_exceeded,
  // on the caller's thread) when max_pending other paths already wait.
  bool write(const std::string& path, std::string text);
  // Writes done so far (for tests and metrics).
  uint64_t written() const;

 private:
  void run();

  file_system& fs_;
  error_fn on_error_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> pending_;
  bool stop_ = false;
  uint64_t written_ = 0;
  std::thread thread_;
};

}  // namespace sessionmesh::store
