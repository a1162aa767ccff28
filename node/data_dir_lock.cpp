#include "node/data_dir_lock.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace sessionmesh::node {

result<std::unique_ptr<data_dir_lock>> data_dir_lock::acquire(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return {errc::io_error, "cannot create the data dir " + dir + ": " + ec.message()};
  }
  const std::string path = dir + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return {errc::io_error, "cannot open " + path + ": " + std::strerror(errno)};
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    return {e == EWOULDBLOCK ? errc::unavailable : errc::io_error, e == EWOULDBLOCK ? "the data dir " + dir + " is in use by another sessionmesh process" : "cannot lock " + path + ": " + std::strerror(e)};
  }
  return std::unique_ptr<data_dir_lock>(new data_dir_lock(fd));
}

data_dir_lock::~data_dir_lock() { ::close(fd_); }

}  // namespace sessionmesh::node
