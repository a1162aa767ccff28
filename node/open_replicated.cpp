#include "node/open_replicated.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "store/file_io.hpp"

namespace sessionmesh::node {

bool set_aside_if_stale(const std::string& dir, uint64_t grace_ms) {
  auto text = store::posix_fs().read_file(dir + "/last_contact", 64);
  if (!text) return false;
  const uint64_t last = std::strtoull(text->c_str(), nullptr, 10);
  if (last == 0) return false;
  const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  if (now <= last + grace_ms) return false;
  const std::string aside = dir + ".stale-" + std::to_string(now / 1000);
  if (std::rename(dir.c_str(), aside.c_str()) == 0) {
    spdlog::warn(
        "last contact with the cluster was {} s ago, past the tombstone grace of {} s: moved {} to {} and "
        "resyncing from peers (replaying it could resurrect deleted sessions)",
        (now - last) / 1000, grace_ms / 1000, dir, aside);
    return true;
  }
  spdlog::error("data dir {} is stale but could not be moved aside", dir);
  return false;
}

result<replicated_node> open_replicated(const store_options& o, cluster_options co,
                                        const std::function<bool()>& after_set_aside) {
  replicated_node n;
  if (o.data_dir) {
    n.set_aside = set_aside_if_stale(*o.data_dir, o.tombstone_grace_ms);
    if (n.set_aside && after_set_aside && !after_set_aside())
      return {errc::unavailable, "cannot lock the fresh data dir " + *o.data_dir};
    co.contact_file = *o.data_dir + "/last_contact";
  }
  auto ls = store::local_store::open(o, store::posix_fs());
  if (!ls) return failed<replicated_node>(ls);
  n.driver = std::make_unique<cluster>(std::move(co), **ls);
  if (auto r = n.driver->start(); !r) {
    (*ls)->close();
    return failed<replicated_node>(r);
  }
  n.store = std::make_unique<store::replicated_store>(std::move(ls).value(), *n.driver);
  return n;
}

}  // namespace sessionmesh::node
