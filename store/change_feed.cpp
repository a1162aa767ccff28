#include "store/change_feed.hpp"

#include "store/packed.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace sessionmesh::store {

change_feed::change_feed(size_t capacity, size_t max_bytes, uint64_t incarnation, std::string home_origin)
    : capacity_(std::clamp<size_t>(capacity, 1, max_capacity)),
      max_bytes_(max_bytes),
      incarnation_(incarnation),
      home_origin_(std::move(home_origin)) {}

namespace {

size_t record_bytes(const session& s) {
  const auto* p = s.raw();
  return p ? sizeof(detail::packed_record) + p->size : 0;
}

}  // namespace

size_t change_feed::bytes_of(const change& c) {
  size_t n = sizeof(change) + c.id.size() + c.version.size() + c.origin.size() + c.cursor.size() + c.reason.size();
  n += record_bytes(c.value);
  for (const auto& m : c.moves) n += sizeof(session_move) + m.id.size() + m.from.size() + m.to.size();
  return n;
}

size_t change_feed::bytes_of(const entry& e) {
  return sizeof(entry) + e.id.size() + e.origin.size() + record_bytes(e.value) + (e.whole ? bytes_of(*e.whole) : 0);
}

size_t change_feed::bytes() const {
  std::lock_guard lk(hot_.mu);
  return hot_.bytes;
}

std::string change_feed::cursor_of(uint64_t seq) const {
  // "%016llx-%llu", without printf's format parsing
  static constexpr char hex[] = "0123456789abcdef";
  char buf[40];
  for (int i = 0; i < 16; ++i) buf[i] = hex[(incarnation_ >> (60 - 4 * i)) & 0xf];
  buf[16] = '-';
  auto r = std::to_chars(buf + 17, buf + sizeof buf, seq);
  return std::string(buf, static_cast<size_t>(r.ptr - buf));
}

change change_feed::make_change(const entry& e) const {
  change c;
  if (e.whole) {
    c = *e.whole;
  } else {
    c.type = e.type;
    c.id = e.id.empty() ? std::string(e.value.id()) : e.id;
    if (e.has_version) c.version = detail::format_version(e.version);
    c.origin = e.origin.empty() ? home_origin_ : e.origin;
    c.value = e.value;
  }
  c.seq = e.seq;
  c.cursor = cursor_of(e.seq);
  return c;
}

void change_feed::drop_oldest(released* spill) {
  entry& old = ring_[hot_.head];
  hot_.bytes -= old.bytes;
  if (spill != nullptr) {
    spill->value = std::move(old.value);
    spill->whole = std::move(old.whole);
  } else {
    old.value = session{};
    old.whole.reset();
  }
  hot_.head = hot_.head + 1 == ring_.size() ? 0 : hot_.head + 1;
  --hot_.count;
}

change_feed::entry& change_feed::claim(released* spill) {
  if (hot_.count == ring_.size()) {
    if (ring_.size() < capacity_) {
      std::vector<entry> bigger(std::min(capacity_, std::max<size_t>(16, ring_.size() * 2)));
      for (size_t i = 0; i < hot_.count; ++i) bigger[i] = std::move(ring_[(hot_.head + i) % ring_.size()]);
      ring_ = std::move(bigger);
      hot_.head = 0;
    } else {
      drop_oldest(spill);
    }
  }
  size_t i = hot_.head + hot_.count;
  if (i >= ring_.size()) i -= ring_.size();
  ++hot_.count;
  return ring_[i];
}

void change_feed::finish_push(entry& e) {
  e.bytes = bytes_of(e);
  hot_.bytes += e.bytes;
  while (hot_.count > 1 && hot_.bytes > max_bytes_) drop_oldest(nullptr);
  // The next publish into a full ring drops the oldest change and releases
  // its record: a line no one has touched for a whole ring of writes. Ask
  // for it now, so it arrives while this write finishes.
  if (hot_.count == capacity_)
    if (const auto* r = ring_[hot_.head].value.raw()) __builtin_prefetch(r, 1);
  if (!subs_.empty()) {
    const change c = make_change(e);
    for (auto& [_, fn] : subs_) fn(c);
  }
}

void change_feed::publish(change_type type, std::string_view id, const crdt::stamp* version, session value,
                          std::string_view origin, record_pool* release_into) {
  const bool own_id = !value.valid();
  const bool home = origin == home_origin_;
  released spill;  // destroyed after the unlock
  {
    std::lock_guard lk(hot_.mu);
    entry& e = claim(&spill);
    e.seq = ++hot_.last_seq;
    e.type = type;
    e.has_version = version != nullptr;
    e.version = version != nullptr ? *version : crdt::stamp{};
    if (own_id) {
      e.id.assign(id);
    } else {
      e.id.clear();
    }
    e.value = std::move(value);
    if (home) {
      e.origin.clear();
    } else {
      e.origin.assign(origin);
    }
    finish_push(e);
  }
  if (release_into != nullptr && spill.value.valid())
    detail::release_to(detail::session_access::take(spill.value), release_into);
}

void change_feed::publish(change c) {
  auto whole = std::make_unique<change>(std::move(c));
  released spill;  // destroyed after the unlock
  std::lock_guard lk(hot_.mu);
  entry& e = claim(&spill);
  e.seq = ++hot_.last_seq;
  e.type = whole->type;
  e.has_version = false;
  e.version = {};
  e.id.clear();
  e.value = session{};
  e.origin.clear();
  e.whole = std::move(whole);
  finish_push(e);
}

std::string change_feed::current_cursor() const {
  std::lock_guard lk(hot_.mu);
  return cursor_of(hot_.last_seq);
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
  std::lock_guard lk(hot_.mu);
  if (inc != incarnation_ || seq > hot_.last_seq) return errc::cursor_expired;
  const uint64_t first = hot_.count == 0 ? hot_.last_seq + 1 : at(0).seq;
  if (seq + 1 < first) return errc::cursor_expired;  // fell off the ring
  change_batch b;
  for (size_t i = static_cast<size_t>(seq + 1 - first); i < hot_.count && b.changes.size() < max; ++i)
    b.changes.push_back(make_change(at(i)));
  b.next_cursor = b.changes.empty() ? cursor_of(seq) : b.changes.back().cursor;
  return b;
}

subscription change_feed::subscribe(std::function<void(const change&)> fn) {
  std::lock_guard lk(hot_.mu);
  const uint64_t id = next_sub_++;
  subs_.emplace(id, std::move(fn));
  return subscription([this, id] {
    std::lock_guard lk2(hot_.mu);
    subs_.erase(id);
  });
}

size_t change_feed::subscribers() const {
  std::lock_guard lk(hot_.mu);
  return subs_.size();
}

}  // namespace sessionmesh::store
