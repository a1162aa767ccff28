// file_writer: small files written off the caller's thread, latest text per
// path wins, a bounded queue, errors reported (real threads; TSan runs it).
#include <ostream>
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "sessionmesh/errc.hpp"
#include "store/file_writer.hpp"
#include "store/mem_fs.hpp"

using namespace sessionmesh;

namespace {

// mem_fs whose open_append can be held shut (to keep the writer busy) and
// whose rename can fail.
class gated_fs final : public store::file_system {
 public:
  store::mem_fs inner;
  result<std::unique_ptr<store::writable_file>> open_append(const std::string& path) override {
    std::unique_lock lk(mu_);
    ++opens_waiting_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return open_; });
    --opens_waiting_;
    lk.unlock();
    return inner.open_append(path);
  }
  result<std::string> read_file(const std::string& p, uint64_t max) override { return inner.read_file(p, max); }
  result<std::vector<std::string>> list_dir(const std::string& d) override { return inner.list_dir(d); }
  result<void> make_dir(const std::string& d) override { return inner.make_dir(d); }
  result<void> rename(const std::string& from, const std::string& to) override {
    if (fail_rename) return errc::io_error;
    return inner.rename(from, to);
  }
  result<void> remove(const std::string& p) override { return inner.remove(p); }
  result<void> truncate(const std::string& p, uint64_t n) override { return inner.truncate(p, n); }
  result<void> sync_dir(const std::string& d) override { return inner.sync_dir(d); }

  void set_open(bool open) {
    std::lock_guard lk(mu_);
    open_ = open;
    cv_.notify_all();
  }
  void wait_until_an_open_waits() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return opens_waiting_ > 0; });
  }
  std::atomic<bool> fail_rename{false};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int opens_waiting_ = 0;
};

std::string content(gated_fs& fs, const std::string& path) {
  auto r = fs.inner.read_file(path, 1024);
  return r.has_value() ? *r : std::string("<missing>");
}

struct errors {
  std::mutex mu;
  std::vector<std::pair<std::string, std::error_code>> seen;
  store::file_writer::error_fn fn() {
    return [this](const std::string& path, std::error_code ec) {
      std::lock_guard lk(mu);
      seen.emplace_back(path, ec);
    };
  }
};

}  // namespace

TEST_CASE("file_writer: a queued text is on disk, synced, once the writer is destroyed") {
  gated_fs fs;
  errors errs;
  {
    store::file_writer w(fs, errs.fn());
    CHECK(w.write("/d/contact", "123\n"));
  }
  fs.inner.crash();  // unsynced bytes are lost: what is left was fsynced
  auto r = fs.inner.read_file("/d/contact", 1024);
  REQUIRE(r.has_value());
  CHECK(*r == "123\n");
  CHECK(errs.seen.empty());
}

TEST_CASE("file_writer: the latest text for a path wins; the caller never waits on the disk") {
  gated_fs fs;
  errors errs;
  {
    store::file_writer w(fs, errs.fn());
    fs.set_open(false);
    CHECK(w.write("/d/a", "first"));
    fs.wait_until_an_open_waits();  // the writer holds "first" and cannot open
    // The writer is stuck in the disk; these return at once.
    for (int i = 0; i < 100; ++i) CHECK(w.write("/d/a", "text " + std::to_string(i)));
    CHECK(w.written() == 0);
    fs.set_open(true);
  }
  auto r = fs.inner.read_file("/d/a", 1024);
  REQUIRE(r.has_value());
  CHECK(*r == "text 99");
  CHECK(errs.seen.empty());
}

TEST_CASE("file_writer: at most max_pending paths wait; one more is refused and reported") {
  gated_fs fs;
  errors errs;
  {
    store::file_writer w(fs, errs.fn());
    fs.set_open(false);
    CHECK(w.write("/d/p-held", "held"));
    fs.wait_until_an_open_waits();
    for (size_t i = 0; i < store::file_writer::max_pending; ++i) CHECK(w.write("/d/p" + std::to_string(i), "x"));
    CHECK_FALSE(w.write("/d/one-too-many", "x"));
    CHECK(w.write("/d/p0", "y"));  // a path already queued is still replaced
    {
      std::lock_guard lk(errs.mu);
      REQUIRE(errs.seen.size() == 1);
      CHECK(errs.seen[0].first == "/d/one-too-many");
      CHECK(errs.seen[0].second == make_error_code(errc::limit_exceeded));
    }
    fs.set_open(true);
  }
  CHECK(content(fs, "/d/p-held") == "held");
  CHECK(content(fs, "/d/p0") == "y");
  CHECK(content(fs, "/d/p63") == "x");
  CHECK_FALSE(fs.inner.read_file("/d/one-too-many", 64).has_value());
}

TEST_CASE("file_writer: a failed write is reported with its path and error; later writes go on") {
  gated_fs fs;
  errors errs;
  {
    store::file_writer w(fs, errs.fn());
    fs.fail_rename = true;
    CHECK(w.write("/d/bad", "1"));
  }
  {
    std::lock_guard lk(errs.mu);
    REQUIRE(errs.seen.size() == 1);
    CHECK(errs.seen[0].first == "/d/bad");
    CHECK(errs.seen[0].second == make_error_code(errc::io_error));
  }
  fs.fail_rename = false;
  {
    store::file_writer w(fs, errs.fn());
    CHECK(w.write("/d/bad", "2"));
  }
  CHECK(content(fs, "/d/bad") == "2");
}
