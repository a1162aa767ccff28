#include "store/mem_fs.hpp"

namespace sessionmesh::store {

class mem_fs::file final : public writable_file {
 public:
  file(mem_fs& fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  result<void> append(std::string_view b) override {
    std::lock_guard lk(fs_.mu_);
    auto it = fs_.files_.find(path_);
    if (it == fs_.files_.end()) return errc::io_error;
    it->second.data.append(b);
    return {};
  }
  result<void> sync() override {
    std::lock_guard lk(fs_.mu_);
    auto it = fs_.files_.find(path_);
    if (it == fs_.files_.end()) return errc::io_error;
    it->second.synced = it->second.data.size();
    return {};
  }
  result<void> truncate(uint64_t size) override { return fs_.truncate(path_, size); }
  uint64_t size() const override {
    std::lock_guard lk(fs_.mu_);
    auto it = fs_.files_.find(path_);
    return it == fs_.files_.end() ? 0 : it->second.data.size();
  }

 private:
  mem_fs& fs_;
  std::string path_;
};

result<std::unique_ptr<writable_file>> mem_fs::open_append(const std::string& path) {
  std::lock_guard lk(mu_);
  files_.try_emplace(path);
  return std::unique_ptr<writable_file>(new file(*this, path));
}

result<std::string> mem_fs::read_file(const std::string& path, uint64_t max_bytes) {
  std::lock_guard lk(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return errc::io_error;
  if (it->second.data.size() > max_bytes) return errc::limit_exceeded;
  return it->second.data;
}

result<std::vector<std::string>> mem_fs::list_dir(const std::string& dir) {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  const std::string prefix = dir + "/";
  for (const auto& [p, _] : files_)
    if (p.compare(0, prefix.size(), prefix) == 0 && p.find('/', prefix.size()) == std::string::npos)
      out.push_back(p.substr(prefix.size()));
  return out;
}

result<void> mem_fs::make_dir(const std::string&) { return {}; }

result<void> mem_fs::rename(const std::string& from, const std::string& to) {
  std::lock_guard lk(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return errc::io_error;
  node n = std::move(it->second);
  files_.erase(it);
  files_[to] = std::move(n);
  return {};
}

result<void> mem_fs::remove(const std::string& path) {
  std::lock_guard lk(mu_);
  files_.erase(path);
  return {};
}

result<void> mem_fs::truncate(const std::string& path, uint64_t size) {
  std::lock_guard lk(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return errc::io_error;
  it->second.data.resize(size);
  if (it->second.synced > size) it->second.synced = size;
  return {};
}

void mem_fs::put(const std::string& path, std::string data) {
  std::lock_guard lk(mu_);
  auto& n = files_[path];
  n.data = std::move(data);
  n.synced = n.data.size();
}

void mem_fs::crash(std::mt19937_64* tear) {
  std::lock_guard lk(mu_);
  for (auto& [_, n] : files_) {
    uint64_t keep = n.synced;
    if (tear != nullptr && n.data.size() > n.synced) keep += (*tear)() % (n.data.size() - n.synced + 1);
    n.data.resize(keep);
    n.synced = keep;
  }
}

}  // namespace sessionmesh::store
