#include "store/replicated_store.hpp"

namespace sessionmesh::store {

replicated_store::replicated_store(std::unique_ptr<local_store> local, replication& repl)
    : local_(std::move(local)), repl_(repl) {
  local_->set_replication_sink(
      [this](std::string_view id, std::string_view delta) { return repl_.local_delta(id, delta); });
}

result<list_page> replicated_store::list(std::string_view prefix, size_t limit, std::string_view cursor) {
  auto page = local_->list(prefix, limit, cursor);
  if (page)
    for (auto& s : page->sessions) s.owner = repl_.owner_of(s.id);
  return page;
}

result<void> replicated_store::wait_replicated(unsigned acks, uint32_t timeout_ms) {
  if (acks <= 1) return {};
  return session_store::wait_replicated(write_token{0, repl_.last_seq(), this}, acks, timeout_ms);
}

// Durable here first (the local store's log), then acknowledged by peers.
// A write that changed nothing (seq 0) waits for every write made so far,
// which includes whatever made the state it answered with.
void replicated_store::await_write(const write_token& t, unsigned acks, uint32_t timeout_ms, write_completion done) {
  write_token local_t = t;
  local_t.by = local_.get();
  local_->when_durable(local_t, 1, 0, [this, seq = t.seq, acks, timeout_ms, done = std::move(done)](result<void> r) {
    if (!r || acks <= 1) return done(r);
    repl_.when_acked(seq != 0 ? seq : repl_.last_seq(), acks, timeout_ms,
                     [done](bool ok) { done(ok ? result<void>{} : result<void>(errc::acks_timeout)); });
  });
}

}  // namespace sessionmesh::store
