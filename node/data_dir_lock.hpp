// data_dir_lock: an exclusive flock on DATA_DIR/LOCK, held for the life of
// the object, so two processes never open one data dir (a node and an
// offline migration, or two nodes). Released by the kernel if the process
// dies. Thread: any.
#pragma once

#include <memory>
#include <string>

#include "sessionmesh/result.hpp"

namespace sessionmesh::node {

class data_dir_lock {
 public:
  // io_error if the dir cannot be created or locked, unavailable if another
  // process holds it; the detail says which.
  static result<std::unique_ptr<data_dir_lock>> acquire(const std::string& dir);
  ~data_dir_lock();
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

 private:
  explicit data_dir_lock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace sessionmesh::node
