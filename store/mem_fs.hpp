// mem_fs: an in-memory file_system for tests, fuzzing and the simulator.
// It models what a crash does to a real disk: crash() drops every byte not
// covered by a sync() (and may tear the last unsynced append, keeping a
// prefix of it). Directory operations (rename, remove, create) are durable
// at once, as on a journaling file system after sync_dir.
// Thread: all methods are guarded by one mutex.
#pragma once

#include <map>
#include <mutex>
#include <random>

#include "store/file_io.hpp"

namespace sessionmesh::store {

class mem_fs final : public file_system {
 public:
  result<std::unique_ptr<writable_file>> open_append(const std::string& path) override;
  result<std::string> read_file(const std::string& path, uint64_t max_bytes) override;
  result<std::vector<std::string>> list_dir(const std::string& dir) override;
  result<void> make_dir(const std::string& dir) override;
  result<void> rename(const std::string& from, const std::string& to) override;
  result<void> remove(const std::string& path) override;
  result<void> truncate(const std::string& path, uint64_t size) override;
  result<void> sync_dir(const std::string&) override { return {}; }

  // Puts a file's whole content, as synced.
  void put(const std::string& path, std::string data);
  // Loses unsynced bytes; with tear, keeps a random prefix of them.
  void crash(std::mt19937_64* tear = nullptr);

 private:
  struct node {
    std::string data;
    uint64_t synced = 0;
  };
  class file;
  std::mutex mu_;
  std::map<std::string, node> files_;
};

}  // namespace sessionmesh::store
