#include "store/packed.hpp"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <algorithm>

#include "crdt/record.hpp"
#include "store/record_pool.hpp"

namespace sessionmesh::detail {

packed_record* make_packed(std::string_view encoded, uint32_t refs, store::record_pool* pool) {
  return make_packed(encoded, crdt::trusted_header(encoded), refs, pool);
}

packed_record* make_packed(std::string_view encoded, const crdt::packed_header& h, uint32_t refs) {
  return make_packed(encoded, h, refs, static_cast<store::record_pool*>(nullptr));
}

namespace {

// Packs the record into mem, a block of `usable` bytes (arena: an arena block).
packed_record* pack(void* mem, size_t usable, bool arena, std::string_view encoded, const crdt::packed_header& h,
                    uint32_t refs) {
  const size_t bytes = sizeof(packed_record) + encoded.size();
  SM_ASSERT(usable >= bytes);
  const bool exists = !h.created.is_bottom() && h.created > h.tombstone;
  // A malloc slack that would read as arena_slack is stored as unknown.
  const size_t slack = usable - bytes;
  const uint8_t s = arena ? packed_record::arena_slack
                          : static_cast<uint8_t>(slack < packed_record::arena_slack ? slack : packed_record::unknown_slack);
  auto* p = new (mem) packed_record{{refs},
                                    static_cast<uint32_t>(encoded.size()),
                                    std::max(h.touched, h.created).physical_ms(),
                                    h.ttl_s,
                                    static_cast<uint16_t>(h.maps_offset),
                                    s,
                                    static_cast<uint8_t>(exists),
                                    {0}};
  std::memcpy(p->data(), encoded.data(), encoded.size());
  return p;
}

packed_record* pack_malloc(std::string_view encoded, const crdt::packed_header& h, uint32_t refs) {
  void* mem = std::malloc(sizeof(packed_record) + encoded.size());
  if (mem == nullptr) throw std::bad_alloc();
  return pack(mem, malloc_usable_size(mem), false, encoded, h, refs);  // the size word malloc just wrote: a hot line
}

void check_packable(std::string_view encoded, const crdt::packed_header& h, uint32_t refs) {
  SM_ASSERT(refs >= 1);
  SM_ASSERT(encoded.size() <= UINT32_MAX - sizeof(packed_record));
  SM_ASSERT(h.maps_offset <= UINT16_MAX);
}

}  // namespace

packed_record* make_packed(std::string_view encoded, const crdt::packed_header& h, uint32_t refs,
                           store::record_pool* pool) {
  check_packable(encoded, h, refs);
  if (pool == nullptr) return pack_malloc(encoded, h, refs);
  const size_t bytes = sizeof(packed_record) + encoded.size();
  if (void* mem = pool->arena().take(bytes))
    return pack(mem, store::record_arena::block_size(bytes), true, encoded, h, refs);
  size_t usable = 0;
  if (void* mem = pool->take(bytes, &usable)) return pack(mem, usable, false, encoded, h, refs);
  return pack_malloc(encoded, h, refs);
}

packed_record* make_packed(std::string_view encoded, const crdt::packed_header& h, uint32_t refs,
                           store::record_arena::cache* arena) {
  check_packable(encoded, h, refs);
  const size_t bytes = sizeof(packed_record) + encoded.size();
  if (void* mem = arena != nullptr ? arena->take(bytes) : nullptr)
    return pack(mem, store::record_arena::block_size(bytes), true, encoded, h, refs);
  return pack_malloc(encoded, h, refs);
}

void release(packed_record* p) { release_to(p, nullptr); }

void release_to(packed_record* p, store::record_pool* pool) {
  if (p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    if (p->in_arena()) {
      const size_t bytes = sizeof(packed_record) + p->size;
      p->~packed_record();
      if (pool != nullptr) {
        pool->arena().give(p, bytes);
      } else {
        store::record_arena::give_shared(p, bytes);
      }
      return;
    }
    const size_t usable = packed_footprint(p) - sizeof(size_t);
    p->~packed_record();
    if (pool != nullptr) pool->give(p, usable);
    else std::free(p);
  }
}

size_t packed_footprint(const packed_record* p) {
  if (p->in_arena()) return store::record_arena::block_size(sizeof(packed_record) + p->size);
  const size_t usable = p->slack != packed_record::unknown_slack
                            ? sizeof(packed_record) + p->size + p->slack
                            : malloc_usable_size(const_cast<packed_record*>(p));
  return usable + sizeof(size_t);
}

crdt::packed_header header_of(const packed_record* p) {
  return crdt::trusted_header(p->bytes());
}

std::string format_version(const crdt::stamp& v) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<size_t>(i)] = hex[(v.hlc >> (60 - 4 * i)) & 0xf];
    out[16 + static_cast<size_t>(i)] = hex[(v.node >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

crdt::session_record decode_packed(const packed_record* p) {
  auto r = crdt::decode(p->bytes(), {}, false);
  SM_ASSERT(r.has_value());
  return std::move(r).value();
}

std::string packed_version(const packed_record* p) {
  auto h = header_of(p);
  crdt::stamp v = std::max({h.created, h.ttl_ts, h.worker_ts});
  auto ok = crdt::for_each_entry(p->bytes(), h, [&](section, std::string_view, const crdt::stamp& ts,
                                                      std::optional<std::string_view>) {
    v = std::max(v, ts);
    return true;
  });
  SM_ASSERT(ok.has_value());
  return format_version(v);
}

}  // namespace sessionmesh::detail

namespace sessionmesh {

using detail::header_of;

// The one reference a session holds is what makes its const view mutable
// for retain and release (a reference count, not the record's bytes).
session::session(const session_view& v) noexcept : session_view(v) {
  if (p_ != nullptr) detail::retain(const_cast<detail::packed_record*>(p_));
}

session::session(const session& o) noexcept : session(static_cast<const session_view&>(o)) {}

void session::drop() noexcept { detail::release(const_cast<detail::packed_record*>(p_)); }

std::string_view session_view::id() const { return detail::packed_id(p_); }

uint64_t session_view::created_at_ms() const { return header_of(p_).created.physical_ms(); }

uint64_t session_view::last_accessed_at_ms() const { return p_->last_accessed_ms; }

uint64_t session_view::expires_at_ms() const { return p_->expires_at_ms(); }

uint32_t session_view::ttl_s() const { return p_->ttl_s; }

std::string_view session_view::last_worker_id() const { return header_of(p_).worker; }

std::string session_view::version() const { return detail::packed_version(p_); }

std::optional<std::string_view> session_view::find(section s, std::string_view name) const {
  return detail::packed_find(p_, s, name);
}

void session_view::for_each(section s,
                       const std::function<void(std::string_view, std::string_view)>& fn) const {
  auto ok = crdt::for_each_value(p_->bytes(), p_->maps_offset(), [&](section sec, std::string_view n,
                                                                      std::optional<std::string_view> v) {
    if (sec == s && v) fn(n, *v);
    return sec <= s;
  });
  SM_ASSERT(ok.has_value());
}

size_t session_view::count(section s) const {
  size_t n = 0;
  for_each(s, [&](std::string_view, std::string_view) { ++n; });
  return n;
}

std::string_view session_view::encoded() const { return p_->bytes(); }

}  // namespace sessionmesh
