#include "store/replicated_store.hpp"

namespace sessionmesh::store {

replicated_store::replicated_store(std::unique_ptr<local_store> local, replication& repl)
    : local_(std::move(local)), repl_(repl) {
  local_->set_replication_sink([this](std::string_view id, std::string_view delta) { repl_.local_delta(id, delta); });
}

result<list_page> replicated_store::list(std::string_view prefix, size_t limit, std::string_view cursor) {
  auto page = local_->list(prefix, limit, cursor);
  if (page)
    for (auto& s : page->sessions) s.owner = repl_.owner_of(s.id);
  return page;
}

result<void> replicated_store::wait_replicated(unsigned acks, uint32_t timeout_ms) {
  if (acks <= 1) return {};
  if (!repl_.wait_acks(acks, timeout_ms)) return errc::acks_timeout;
  return {};
}

}  // namespace sessionmesh::store
