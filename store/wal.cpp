#include "store/wal.hpp"

#include <chrono>
#include <cstdio>

#include "store/framing.hpp"
#include "store/thread_name.hpp"

namespace sessionmesh::store {

std::string wal_segment_name(uint64_t index) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "wal-%020llu.log", static_cast<unsigned long long>(index));
  return buf;
}

wal::wal(file_system& fs, std::string dir, fsync_mode mode, uint32_t batch_interval_ms,
         uint64_t segment_bytes)
    : fs_(fs), dir_(std::move(dir)), mode_(mode), batch_interval_ms_(batch_interval_ms),
      segment_bytes_(segment_bytes) {}

wal::~wal() { close(); }

result<void> wal::open_segment_locked(uint64_t index) {
  auto f = fs_.open_append(dir_ + "/" + wal_segment_name(index));
  if (!f) return f.error();
  file_ = std::shared_ptr<writable_file>(std::move(*f));
  segment_ = index;
  if (auto r = fs_.sync_dir(dir_); !r) return r;
  return {};
}

result<void> wal::seal_locked() {
  if (file_->reserved() > file_->size()) {
    if (auto r = file_->truncate(file_->size()); !r) return r;
  }
  return file_->sync();
}

result<void> wal::start(uint64_t index) {
  std::lock_guard lk(mu_);
  if (auto r = open_segment_locked(index); !r) return r;
  syncer_ = std::thread([this] { syncer_loop(); });  // every mode: the mode may change (set_mode)
  return {};
}

void wal::set_mode(fsync_mode m) {
  std::lock_guard lk(mu_);
  mode_.store(m, std::memory_order_release);
  cv_.notify_all();
}

result<uint64_t> wal::append(std::string_view payload) {
  if (payload.size() > frame_payload_max) return errc::too_large;
  std::unique_lock lk(mu_);
  if (failed_ || closed_ || !file_) return errc::unavailable;
  if (file_->size() >= segment_bytes_) {
    lk.unlock();
    if (auto r = rotate(); !r) return r.error();
    lk.lock();
    if (failed_ || closed_) return errc::unavailable;
  }
  frame_buf_.clear();
  append_frame(frame_buf_, payload);
  const uint64_t before = file_->size();
  if (mode() != fsync_mode::off && file_->reserved() < before + frame_buf_.size()) {
    // Zeros ahead of the writer (file_io.hpp: reserve). A failure here is
    // not an append's failure: the append below extends the file itself.
    (void)file_->reserve(before + frame_buf_.size() + wal_reserve_bytes);
  }
  if (auto r = file_->append(frame_buf_); !r) {
    // Leave no partial record behind; if even that fails, stop writing.
    if (!file_->truncate(before)) failed_ = true;
    return errc::io_error;
  }
  ++counters_.appends;
  counters_.bytes += frame_buf_.size();
  return ++written_lsn_;
}

result<void> wal::sync_locked_out(std::unique_lock<std::mutex>& lk) {
  syncing_ = true;
  const uint64_t target = written_lsn_;
  auto f = file_;
  lk.unlock();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = f->sync();
  const auto us = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
  lk.lock();
  syncing_ = false;
  ++counters_.fsyncs;
  counters_.fsync_us_total += us;
  counters_.fsync_us_last = us;
  if (us > counters_.fsync_us_max) counters_.fsync_us_max = us;
  if (!r) failed_ = true;
  else if (target > synced_lsn_) synced_lsn_ = target;
  cv_.notify_all();
  complete_waiters(lk);
  return r;
}

void wal::complete_waiters(std::unique_lock<std::mutex>& lk) {
  if (waiters_.empty()) return;
  std::vector<waiter> ready;
  const bool all = failed_ || closed_;
  for (size_t i = 0; i < waiters_.size();) {
    if (all || waiters_[i].lsn <= synced_lsn_) {
      ready.push_back(std::move(waiters_[i]));
      waiters_[i] = std::move(waiters_.back());
      waiters_.pop_back();
    } else {
      ++i;
    }
  }
  if (ready.empty()) return;
  const uint64_t synced = synced_lsn_;
  const bool failed = failed_;
  lk.unlock();
  for (auto& w : ready) {
    if (w.lsn <= synced) w.done(result<void>{});
    else w.done(failed ? errc::io_error : errc::unavailable);
  }
  lk.lock();
}

void wal::when_durable(uint64_t lsn, std::function<void(result<void>)> done) {
  if (mode() != fsync_mode::always || lsn == 0) return done(result<void>{});
  std::unique_lock lk(mu_);
  if (synced_lsn_ >= lsn) {
    lk.unlock();
    return done(result<void>{});
  }
  if (failed_ || closed_) {
    lk.unlock();
    return done(failed_ ? errc::io_error : errc::unavailable);
  }
  waiters_.push_back({lsn, std::move(done)});
  const bool wake = !syncing_;  // a syncer in an fsync looks at waiters_ when it ends
  lk.unlock();
  if (wake) cv_.notify_all();   // after unlocking: the syncer need not wait for mu_
}

result<void> wal::commit(uint64_t lsn) {
  if (mode() != fsync_mode::always) return {};
  std::unique_lock lk(mu_);
  while (synced_lsn_ < lsn) {
    if (failed_) return errc::io_error;
    if (!syncing_) {
      (void)sync_locked_out(lk);
    } else {
      cv_.wait(lk);
    }
  }
  return {};
}

result<uint64_t> wal::rotate() {
  std::unique_lock lk(mu_);
  while (syncing_) cv_.wait(lk);
  if (failed_ || closed_ || !file_) return errc::unavailable;
  if (auto r = seal_locked(); !r) {
    failed_ = true;
    return errc::io_error;
  }
  synced_lsn_ = written_lsn_;
  const uint64_t closed = segment_;
  if (auto r = open_segment_locked(closed + 1); !r) {
    failed_ = true;
    complete_waiters(lk);
    return r.error();
  }
  cv_.notify_all();
  complete_waiters(lk);
  return closed;
}

uint64_t wal::bytes_in_segment() const {
  std::lock_guard lk(mu_);
  return file_ ? file_->size() : 0;
}

uint64_t wal::current_segment() const {
  std::lock_guard lk(mu_);
  return segment_;
}

wal_counters wal::counters() const {
  std::lock_guard lk(mu_);
  return counters_;
}

bool wal::failed() const {
  std::lock_guard lk(mu_);
  return failed_;
}

void wal::syncer_loop() {
  name_this_thread("sm-wal-sync");
  std::unique_lock lk(mu_);
  while (!closed_) {
    const fsync_mode m = mode();
    if (m == fsync_mode::batch) {
      cv_.wait_for(lk, std::chrono::milliseconds(batch_interval_ms_));
    } else {
      // always: sync while a deferred write waits; appends made during an
      // fsync ride on the next one (group commit). off: only for waiters
      // left from an earlier mode.
      cv_.wait(lk, [&] {
        return closed_ || mode() != m || (!waiters_.empty() && !syncing_) || (failed_ && !waiters_.empty());
      });
    }
    if (closed_) break;
    if (mode() != m) continue;  // a reload: wait the new mode's way
    if (m == fsync_mode::off && waiters_.empty()) continue;
    if (failed_) {
      complete_waiters(lk);
      continue;
    }
    if (!syncing_ && written_lsn_ > synced_lsn_) (void)sync_locked_out(lk);
    else complete_waiters(lk);
  }
}

void wal::close() {
  std::unique_lock lk(mu_);
  if (closed_) return;
  while (syncing_) cv_.wait(lk);
  if (file_ && !failed_ && (written_lsn_ > synced_lsn_ || file_->reserved() > file_->size())) {
    if (seal_locked()) synced_lsn_ = written_lsn_;
  }
  closed_ = true;
  cv_.notify_all();
  complete_waiters(lk);
  lk.unlock();
  if (syncer_.joinable()) syncer_.join();
}

}  // namespace sessionmesh::store
