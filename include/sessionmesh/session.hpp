// session: an immutable, reference-counted snapshot of one session as the
// store held it when it was read. Cheap to copy (one atomic increment); it
// stays valid and unchanged after the store moves on. Accessors read the
// canonical encoding in place: values are compact JSON text.
// session_view: the same accessors, borrowed (no reference held).
// Thread: a session may be read and copied from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "sessionmesh/types.hpp"

namespace sessionmesh {

namespace detail {
struct packed_record;
struct session_access;  // the store's own access to a handle's reference
}

// session_view: a session's accessors over a record someone else keeps
// alive. It owns nothing and copies nothing: valid only while its lender
// says so (session_store::read: inside the callback; a session: while that
// session lives).
class session_view {
 public:
  session_view() = default;
  explicit session_view(const detail::packed_record* p) noexcept : p_(p) {}

  bool valid() const { return p_ != nullptr; }
  std::string_view id() const;
  uint64_t created_at_ms() const;
  uint64_t last_accessed_at_ms() const;
  uint64_t expires_at_ms() const;
  uint32_t ttl_s() const;
  std::string_view last_worker_id() const;  // empty if never set
  std::string version() const;              // opaque; changes on every content write
  // The JSON text of one live entry, or nullopt.
  std::optional<std::string_view> find(section s, std::string_view name) const;
  // Calls fn(name, json) for every live entry of a section, in name order.
  void for_each(section s, const std::function<void(std::string_view, std::string_view)>& fn) const;
  size_t count(section s) const;
  // The canonical encoding (crdt/codec.hpp).
  std::string_view encoded() const;

  const detail::packed_record* raw() const { return p_; }

 protected:
  const detail::packed_record* p_ = nullptr;
};

// session: the accessors of session_view, over a record this handle keeps
// alive by holding one reference of it.
class session : public session_view {
 public:
  session() = default;
  explicit session(detail::packed_record* adopt) noexcept : session_view(adopt) {}  // takes one reference
  explicit session(const session_view& v) noexcept;  // takes a new reference of v's record
  session(const session& o) noexcept;
  session(session&& o) noexcept : session_view(o.p_) { o.p_ = nullptr; }
  session& operator=(session o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~session() {
    if (p_ != nullptr) drop();
  }

 private:
  friend struct detail::session_access;
  void drop() noexcept;  // gives back the reference held
};

}  // namespace sessionmesh
