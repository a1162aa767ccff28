#include "store/change_feed.hpp"

#include "store/packed.hpp"

#include <charconv>
#include <cstdio>

namespace sessionmesh::store {

change_feed::change_feed(size_t capacity, size_t max_bytes, uint64_t incarnation)
    : capacity_(capacity == 0 ? 1 : capacity), max_bytes_(max_bytes), incarnation_(incarnation) {}

size_t change_feed::bytes_of(const change& c) {
  size_t n = sizeof(change) + c.id.size() + c.version.size() + c.origin.size() + c.cursor.size() + c.reason.size();
  if (const auto* p = c.value.raw()) n += sizeof(detail::packed_record) + p->size;
  for (const auto& m : c.moves) n += sizeof(session_move) + m.id.size() + m.from.size() + m.to.size();
  return n;
}

size_t change_feed::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

std::string change_feed::cursor_of(uint64_t seq) const {
  // "%016llx-%llu", without printf's format parsing (once per write)
  static constexpr char hex[] = "0123456789abcdef";
  char buf[40];
  for (int i = 0; i < 16; ++i) buf[i] = hex[(incarnation_ >> (60 - 4 * i)) & 0xf];
  buf[16] = '-';
  auto r = std::to_chars(buf + 17, buf + sizeof buf, seq);
  return std::string(buf, static_cast<size_t>(r.ptr - buf));
}

void change_feed::publish(change c) {
  std::lock_guard lk(mu_);
  c.seq = ++last_seq_;
  c.cursor = cursor_of(c.seq);
  const size_t n = bytes_of(c);
  ring_.push_back(std::move(c));
  ring_bytes_.push_back(n);
  bytes_ += n;
  while (ring_.size() > 1 && (ring_.size() > capacity_ || bytes_ > max_bytes_)) {
    bytes_ -= ring_bytes_.front();
    ring_bytes_.pop_front();
    ring_.pop_front();
  }
  for (auto& [_, fn] : subs_) fn(ring_.back());
}

std::string change_feed::current_cursor() const {
  std::lock_guard lk(mu_);
  return cursor_of(last_seq_);
}

result<change_batch> change_feed::read(std::string_view cursor, size_t max) const {
  const auto dash = cursor.find('-');
  if (dash != 16 || cursor.size() > 40) return errc::cursor_expired;
  uint64_t inc = 0, seq = 0;
  auto r1 = std::from_chars(cursor.data(), cursor.data() + dash, inc, 16);
  auto r2 = std::from_chars(cursor.data() + dash + 1, cursor.data() + cursor.size(), seq, 10);
  if (r1.ptr != cursor.data() + dash || r2.ptr != cursor.data() + cursor.size() || r1.ec != std::errc{} ||
      r2.ec != std::errc{})
    return errc::cursor_expired;
  std::lock_guard lk(mu_);
  if (inc != incarnation_ || seq > last_seq_) return errc::cursor_expired;
  const uint64_t first = ring_.empty() ? last_seq_ + 1 : ring_.front().seq;
  if (seq + 1 < first) return errc::cursor_expired;  // fell off the ring
  change_batch b;
  for (size_t i = static_cast<size_t>(seq + 1 - first); i < ring_.size() && b.changes.size() < max; ++i)
    b.changes.push_back(ring_[i]);
  b.next_cursor = b.changes.empty() ? cursor_of(seq) : b.changes.back().cursor;
  return b;
}

subscription change_feed::subscribe(std::function<void(const change&)> fn) {
  std::lock_guard lk(mu_);
  const uint64_t id = next_sub_++;
  subs_.emplace(id, std::move(fn));
  return subscription([this, id] {
    std::lock_guard lk2(mu_);
    subs_.erase(id);
  });
}

size_t change_feed::subscribers() const {
  std::lock_guard lk(mu_);
  return subs_.size();
}

}  // namespace sessionmesh::store
