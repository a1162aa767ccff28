// The file seam: every disk access of the WAL and snapshots goes through
// file_system, so tests can inject write errors (disk full), tear writes and
// run without a disk. posix_file_system is the real one (real fsync).
// Thread: a writable_file is used by one thread at a time (the WAL
// serializes); file_system methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sessionmesh/result.hpp"

namespace sessionmesh::store {

class writable_file {
 public:
  virtual ~writable_file() = default;
  // Writes all bytes or fails; on failure the file may hold a prefix of them.
  virtual result<void> append(std::string_view bytes) = 0;
  virtual result<void> sync() = 0;  // fdatasync
  virtual result<void> truncate(uint64_t size) = 0;
  virtual uint64_t size() const = 0;
  // Makes the bytes from size() up to `through` exist on disk as written
  // zeros (durable with the next sync()), so appends there overwrite
  // allocated blocks and an fdatasync need not commit a new file size: on
  // ext4 that made an fdatasync of a small append 2.7x cheaper (bench note
  // in BENCHMARKS.md). size() stays the count of appended bytes; the zeros
  // are a tail readers must accept (framing.hpp). truncate() drops them.
  // Default: nothing (the in-memory seam).
  virtual result<void> reserve(uint64_t through) {
    (void)through;
    return {};
  }
  // The bytes reserve() made exist (>= size()).
  virtual uint64_t reserved() const { return size(); }
};

// A whole file's bytes, valid while this object lives.
class file_bytes {
 public:
  virtual ~file_bytes() = default;
  std::string_view bytes() const { return view_; }

 protected:
  std::string_view view_;
};

class file_system {
 public:
  virtual ~file_system() = default;
  // Opens for appending, creating it if missing; size() starts at its length
  // (appends go at size(), so a reserved tail is overwritten in place).
  virtual result<std::unique_ptr<writable_file>> open_append(const std::string& path) = 0;
  // Reads a whole file of at most max_bytes.
  virtual result<std::string> read_file(const std::string& path, uint64_t max_bytes) = 0;
  // The same bytes without a copy where the file system can map them (the
  // POSIX one maps the file, read-only and populated: no zero-filled buffer,
  // no copy out of the page cache). Only for files nobody shortens or
  // rewrites while they are read (snapshots: written once, renamed into
  // place). Default: read_file into memory.
  virtual result<std::unique_ptr<file_bytes>> read_whole(const std::string& path, uint64_t max_bytes);
  virtual result<std::vector<std::string>> list_dir(const std::string& dir) = 0;  // names only
  virtual result<void> make_dir(const std::string& dir) = 0;                     // ok if it exists
  virtual result<void> rename(const std::string& from, const std::string& to) = 0;
  virtual result<void> remove(const std::string& path) = 0;
  virtual result<void> truncate(const std::string& path, uint64_t size) = 0;
  virtual result<void> sync_dir(const std::string& dir) = 0;
};

// The process-wide POSIX file system.
file_system& posix_fs();

// The one writer of small files (cluster contact time, migration marker and
// reports): path.tmp is written and fsynced, renamed over path, and the
// directory fsynced, so a crash leaves the old content or the new, whole.
result<void> write_file_atomic(file_system& fs, const std::string& path, std::string_view text);

}  // namespace sessionmesh::store
