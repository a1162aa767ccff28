// session_store: the blocking form of when_durable, for embedded callers.
#include <condition_variable>
#include <memory>
#include <mutex>

#include "sessionmesh/session_store.hpp"

namespace sessionmesh {

result<void> session_store::wait_replicated(const write_token& t, unsigned acks, uint32_t timeout_ms) {
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    result<void> r;
  };
  auto st = std::make_shared<state>();
  when_durable(t, acks, timeout_ms, [st](result<void> r) {
    std::lock_guard lk(st->mu);
    st->r = r;
    st->done = true;
    st->cv.notify_all();
  });
  std::unique_lock lk(st->mu);
  st->cv.wait(lk, [&] { return st->done; });
  return st->r;
}

result<std::vector<std::string>> session_store::snapshot_part(std::string_view prefix, size_t part) {
  if (part != 0) return errc::invalid_argument;
  std::vector<std::string> ids;
  std::string cursor;
  for (;;) {
    auto page = list(prefix, 1000, cursor);
    if (!page) return page.error();
    for (auto& s : page->sessions) ids.push_back(std::move(s.id));
    if (!page->next_cursor) return ids;
    cursor = *page->next_cursor;
  }
}

}  // namespace sessionmesh
