// A file_system that forwards to the real one and fails appends once a byte
// budget is spent (disk full), after writing a partial prefix, the way a
// real ENOSPC mid-write can.
#pragma once

#include <atomic>
#include <memory>

#include "store/file_io.hpp"

namespace sessionmesh::testing {

class faulty_fs final : public store::file_system {
 public:
  std::atomic<int64_t> budget{INT64_MAX};

  class file final : public store::writable_file {
   public:
    file(std::unique_ptr<store::writable_file> f, faulty_fs& fs) : f_(std::move(f)), fs_(fs) {}
    result<void> append(std::string_view b) override {
      const int64_t left = fs_.budget.fetch_sub(static_cast<int64_t>(b.size()));
      if (left < static_cast<int64_t>(b.size())) {
        if (left > 0) (void)f_->append(b.substr(0, static_cast<size_t>(left) / 2));
        fs_.budget = 0;
        return errc::io_error;
      }
      return f_->append(b);
    }
    result<void> sync() override { return f_->sync(); }
    result<void> truncate(uint64_t n) override { return f_->truncate(n); }
    uint64_t size() const override { return f_->size(); }

   private:
    std::unique_ptr<store::writable_file> f_;
    faulty_fs& fs_;
  };

  result<std::unique_ptr<store::writable_file>> open_append(const std::string& p) override {
    auto f = real().open_append(p);
    if (!f) return f.error();
    return std::unique_ptr<store::writable_file>(new file(std::move(*f), *this));
  }
  result<std::string> read_file(const std::string& p, uint64_t m) override { return real().read_file(p, m); }
  result<std::vector<std::string>> list_dir(const std::string& d) override { return real().list_dir(d); }
  result<void> make_dir(const std::string& d) override { return real().make_dir(d); }
  result<void> rename(const std::string& a, const std::string& b) override { return real().rename(a, b); }
  result<void> remove(const std::string& p) override { return real().remove(p); }
  result<void> truncate(const std::string& p, uint64_t n) override { return real().truncate(p, n); }
  result<void> sync_dir(const std::string& d) override { return real().sync_dir(d); }

 private:
  static store::file_system& real() { return store::posix_fs(); }
};

}  // namespace sessionmesh::testing
