// local_store: live counts per namespace (the quotas of write_limits), the
// namespaces' expired counts, and the feed filter for global programs.
#include "store/local_store.hpp"

namespace sessionmesh::store {

namespace {

// "s:" + namespace for sessions, "g:" + namespace for global programs.
std::string ns_key(std::string_view record_id) {
  const bool global = local_store::is_global_record(record_id);
  std::string key(global ? "g:" : "s:");
  key += namespace_of(global ? record_id.substr(4) : record_id);
  return key;
}

}  // namespace

void local_store::count_live(std::string_view record_id, bool was, bool is) {
  const int d = static_cast<int>(is) - static_cast<int>(was);
  if (d == 0) return;
  (is_global_record(record_id) ? gp_live_ : current_) += d;
  const std::string key = ns_key(record_id);
  std::lock_guard lk(ns_mu_);
  auto& n = ns_live_[key];
  n += d;
  if (n <= 0) ns_live_.erase(key);
}

int64_t local_store::namespace_count(const std::string& key) {
  std::lock_guard lk(ns_mu_);
  auto it = ns_live_.find(key);
  return it == ns_live_.end() ? 0 : it->second;
}

uint64_t local_store::reserve_create(std::string_view record_id, bool global, uint64_t ns_max, uint64_t node_max,
                                     quota_hold& h) {
  SM_ASSERT(h.store_ == nullptr);
  auto full = [](int64_t count, uint64_t max) { return max != 0 && count >= 0 && uint64_t(count) >= max; };
  std::string key = ns_max != 0 ? ns_key(record_id) : std::string();
  std::lock_guard lk(quota_mu_);
  int64_t& node_reserved = global ? gp_reserved_ : reserved_;
  if (ns_max != 0) {
    auto it = ns_reserved_.find(key);
    if (full(namespace_count(key) + (it == ns_reserved_.end() ? 0 : it->second), ns_max)) return ns_max;
  }
  if (full((global ? gp_live_ : current_).load() + node_reserved, node_max)) return node_max;
  ++node_reserved;
  if (ns_max != 0) ++ns_reserved_[key];
  h.store_ = this;
  h.global_ = global;
  h.ns_key_ = std::move(key);
  return 0;
}

local_store::quota_hold::~quota_hold() {
  if (store_ == nullptr) return;
  std::lock_guard lk(store_->quota_mu_);
  --(global_ ? store_->gp_reserved_ : store_->reserved_);
  if (!ns_key_.empty()) {
    auto it = store_->ns_reserved_.find(ns_key_);
    SM_ASSERT(it != store_->ns_reserved_.end());
    if (--it->second == 0) store_->ns_reserved_.erase(it);
  }
}

void local_store::count_expired(std::string_view record_id) {
  if (is_global_record(record_id)) return;
  std::lock_guard lk(ns_mu_);
  ++ns_live_["x:" + std::string(namespace_of(record_id))];
}

uint64_t local_store::expired_in_namespace(std::string_view ns) {
  std::lock_guard lk(ns_mu_);
  auto it = ns_live_.find("x:" + std::string(ns));
  return it == ns_live_.end() ? 0 : static_cast<uint64_t>(it->second);
}

void local_store::publish(change_type type, std::string_view id, const crdt::stamp* version, session value,
                          std::string_view origin, record_pool* release_into) {
  if (is_global_record(id)) return;
  feed_.publish(type, id, version, std::move(value), origin, release_into);
}

}  // namespace sessionmesh::store
