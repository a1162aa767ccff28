#include "store/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <cerrno>

namespace sessionmesh::store {
namespace {

std::error_code last_error() { return make_error_code(errc::io_error); }

class posix_file final : public writable_file {
 public:
  posix_file(int fd, uint64_t size) : fd_(fd), size_(size), reserved_(size) {}
  ~posix_file() override { ::close(fd_); }

  result<void> append(std::string_view bytes) override {
    if (auto r = write_at(size_, bytes.data(), bytes.size()); !r) return r;
    size_ += bytes.size();
    if (size_ > reserved_) reserved_ = size_;
    return {};
  }
  result<void> reserve(uint64_t through) override {
    static const std::string zeros(1u << 16, '\0');
    while (reserved_ < through) {
      const auto n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), through - reserved_));
      if (auto r = write_at(reserved_, zeros.data(), n); !r) return r;
      reserved_ += n;
    }
    return {};
  }
  uint64_t reserved() const override { return reserved_; }
  result<void> sync() override {
    if (::fdatasync(fd_) != 0) return last_error();
    return {};
  }
  result<void> truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return last_error();
    size_ = size;
    reserved_ = size;
    return {};
  }
  uint64_t size() const override { return size_; }

 private:
  // Writes all of [p, p+n) at offset off (retrying short writes and EINTR).
  result<void> write_at(uint64_t off, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return last_error();
      }
      p += w;
      off += static_cast<uint64_t>(w);
      n -= static_cast<size_t>(w);
    }
    return {};
  }

  int fd_;
  uint64_t size_;      // bytes appended: where the next append goes
  uint64_t reserved_;  // bytes on disk (size_ plus reserved zeros)
};

class owned_bytes final : public file_bytes {
 public:
  explicit owned_bytes(std::string s) : s_(std::move(s)) { view_ = s_; }

 private:
  std::string s_;
};

class mapped_bytes final : public file_bytes {
 public:
  mapped_bytes(void* p, size_t n) : p_(p), n_(n) { view_ = {static_cast<const char*>(p), n}; }
  ~mapped_bytes() override { ::munmap(p_, n_); }

 private:
  void* p_;
  size_t n_;
};

class posix_file_system final : public file_system {
 public:
  result<std::unique_ptr<writable_file>> open_append(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return last_error();
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return last_error();
    }
    return std::unique_ptr<writable_file>(new posix_file(fd, static_cast<uint64_t>(st.st_size)));
  }

  // A file opened for reading, and its size, checked against max_bytes
  // before anything is allocated for it.
  static result<std::pair<int, size_t>> open_bounded(const std::string& path, uint64_t max_bytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return last_error();
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) > max_bytes) {
      ::close(fd);
      return errc::limit_exceeded;
    }
    return std::pair(fd, static_cast<size_t>(st.st_size));
  }

  result<std::string> read_file(const std::string& path, uint64_t max_bytes) override {
    auto f = open_bounded(path, max_bytes);
    if (!f) return f.error();
    const auto [fd, size] = *f;
    std::string out(size, '\0');
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    out.resize(got);
    return out;
  }

  result<std::unique_ptr<file_bytes>> read_whole(const std::string& path, uint64_t max_bytes) override {
    auto f = open_bounded(path, max_bytes);
    if (!f) return f.error();
    const auto [fd, n] = *f;
    if (n == 0) {
      ::close(fd);
      return std::unique_ptr<file_bytes>(new owned_bytes(std::string()));
    }
    void* p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return file_system::read_whole(path, max_bytes);  // e.g. a file system that cannot map
    return std::unique_ptr<file_bytes>(new mapped_bytes(p, n));
  }

  result<std::vector<std::string>> list_dir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return last_error();
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    return names;
  }

  result<void> make_dir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return last_error();
    return {};
  }
  result<void> rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return last_error();
    return {};
  }
  result<void> remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return last_error();
    return {};
  }
  result<void> truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return last_error();
    return {};
  }
  result<void> sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) return last_error();
    return {};
  }
};

}  // namespace

result<std::unique_ptr<file_bytes>> file_system::read_whole(const std::string& path, uint64_t max_bytes) {
  auto s = read_file(path, max_bytes);
  if (!s) return s.error();
  return std::unique_ptr<file_bytes>(new owned_bytes(std::move(s).value()));
}


file_system& posix_fs() {
  static posix_file_system fs;
  return fs;
}

result<void> write_file_atomic(file_system& fs, const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  {
    auto f = fs.open_append(tmp);
    if (!f) return f.error();
    if (auto r = (*f)->truncate(0); !r) return r;
    if (auto r = (*f)->append(text); !r) return r;
    if (auto r = (*f)->sync(); !r) return r;
  }
  if (auto r = fs.rename(tmp, path); !r) return r;
  const auto slash = path.rfind('/');
  return fs.sync_dir(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace sessionmesh::store
