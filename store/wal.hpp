// wal: the write-ahead log writer. Records go to numbered segment files
// (wal-<index>.log) in framing.hpp frames.
//
// Durability per fsync_mode:
//   always  commit(lsn) returns once an fsync covering lsn finished, and
//           when_durable(lsn, done) calls done then; one fsync covers every
//           record appended before it (group commit: a syncer thread syncs
//           while anyone waits, and everything appended meanwhile rides on
//           its next fsync; a blocking commit may sync itself);
//   batch   commit returns at once (the record is in the OS after append);
//           a syncer thread fsyncs within batch_interval_ms;
//   off     commit returns at once; the OS decides.
// A failed append truncates the partial record away and returns io_error;
// if that or an fsync fails, the wal turns failed and refuses all appends.
// Thread: every method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <vector>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sessionmesh/options.hpp"
#include "store/file_io.hpp"

namespace sessionmesh::store {

std::string wal_segment_name(uint64_t index);

// How far ahead of the writer a segment is zero-filled (fsync modes always
// and batch): an fdatasync then flushes data alone, with no new file size
// to commit. A segment that is closed or rotated is cut back to its records.
inline constexpr uint64_t wal_reserve_bytes = 1u << 20;

struct wal_counters {
  uint64_t appends = 0;
  uint64_t bytes = 0;
  uint64_t fsyncs = 0;
  uint64_t fsync_us_total = 0;
  uint64_t fsync_us_last = 0;
  uint64_t fsync_us_max = 0;
};

class wal {
 public:
  wal(file_system& fs, std::string dir, fsync_mode mode, uint32_t batch_interval_ms,
      uint64_t segment_bytes);
  ~wal();
  wal(const wal&) = delete;
  wal& operator=(const wal&) = delete;

  // Opens segment `index` for appending (created if missing).
  result<void> start(uint64_t index);
  // Appends one record; returns its log sequence number.
  result<uint64_t> append(std::string_view payload);
  // Waits until lsn is durable per the mode.
  result<void> commit(uint64_t lsn);
  // Calls done once lsn is durable per the mode (io_error if the log
  // failed first, unavailable if it closed first): at once in the calling
  // thread when nothing is pending, else later from the syncer thread.
  // Never waits. done must be quick.
  void when_durable(uint64_t lsn, std::function<void(result<void>)> done);
  // Closes the current segment (fsynced) and opens the next; returns the
  // index of the segment it closed.
  result<uint64_t> rotate();
  // Bytes appended since the last rotate().
  uint64_t bytes_in_segment() const;
  uint64_t current_segment() const;
  wal_counters counters() const;
  bool failed() const;
  fsync_mode mode() const { return mode_.load(std::memory_order_acquire); }
  // Changes the mode from the next append on (reload): writes acknowledged
  // before keep the promise they got; waiters already queued are still
  // fsynced, whatever the new mode.
  void set_mode(fsync_mode m);
  // Final fsync; stops the syncer; completes every waiter. Idempotent.
  void close();

 private:
  // Runs one fsync with mu_ released, then completes the waiters it covers.
  // REQUIRES: lk holds mu_ and !syncing_.
  result<void> sync_locked_out(std::unique_lock<std::mutex>& lk);
  // Calls (with mu_ released) every waiter that is durable, or every one if
  // the log failed or closed. REQUIRES: lk holds mu_.
  void complete_waiters(std::unique_lock<std::mutex>& lk);
  result<void> open_segment_locked(uint64_t index);
  // Cuts the reserved zeros off the current segment and fsyncs it.
  // REQUIRES: mu_ held, file_ set.
  result<void> seal_locked();
  void syncer_loop();

  file_system& fs_;
  std::string dir_;
  std::atomic<fsync_mode> mode_;
  uint32_t batch_interval_ms_;
  uint64_t segment_bytes_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<writable_file> file_;
  uint64_t segment_ = 0;
  uint64_t written_lsn_ = 0;
  uint64_t synced_lsn_ = 0;
  bool syncing_ = false;
  bool failed_ = false;
  bool closed_ = false;
  wal_counters counters_;
  std::string frame_buf_;
  struct waiter {
    uint64_t lsn;
    std::function<void(result<void>)> done;
  };
  std::vector<waiter> waiters_;  // always mode: deferred writes not yet durable
  std::thread syncer_;  // always: syncs for waiters; batch: every batch_interval_ms; off: only for waiters left
};

}  // namespace sessionmesh::store
