#include "store/file_writer.hpp"

#include "sessionmesh/errc.hpp"
#include "store/thread_name.hpp"

namespace sessionmesh::store {

file_writer::file_writer(file_system& fs, error_fn on_error)
    : fs_(fs), on_error_(std::move(on_error)), thread_([this] { run(); }) {}

file_writer::~file_writer() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool file_writer::write(const std::string& path, std::string text) {
  {
    std::lock_guard lk(mu_);
    auto it = pending_.find(path);
    if (it != pending_.end() || pending_.size() < max_pending) {
      if (it != pending_.end()) it->second = std::move(text);
      else pending_.emplace(path, std::move(text));
      cv_.notify_one();
      return true;
    }
  }
  if (on_error_) on_error_(path, make_error_code(errc::limit_exceeded));  // unlocked: it may log
  return false;
}

uint64_t file_writer::written() const {
  std::lock_guard lk(mu_);
  return written_;
}

void file_writer::run() {
  name_this_thread("sm-file-writer");
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stop_, nothing left to write
    auto node = pending_.extract(pending_.begin());
    lk.unlock();
    auto r = write_file_atomic(fs_, node.key(), node.mapped());
    if (!r && on_error_) on_error_(node.key(), r.error());
    lk.lock();
    ++written_;
  }
}

}  // namespace sessionmesh::store
