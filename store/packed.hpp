// packed_record: one session's canonical encoding in a single allocation,
// with an intrusive reference count and the few fields the read path needs
// (liveness, expiry, where the maps start) decoded once at packing time, and
// its digest, hashed on first use (digest_of) and kept: a store that keeps
// no Merkle index (it never replicates) never hashes its records.
// The store's maps hold one reference; every `session` handle holds one.
// Immutable after make_packed(), but for the digest's cache.
// Thread: refcount is atomic; the bytes are read-only.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "crdt/codec.hpp"
#include "crdt/record.hpp"
#include "sessionmesh/session.hpp"

#include "store/record_arena.hpp"

namespace sessionmesh::store {
class record_pool;
}

namespace sessionmesh::detail {

struct packed_record {
  std::atomic<uint32_t> refs;
  uint32_t size;
  uint64_t last_accessed_ms;
  uint32_t ttl_s;
  uint16_t maps_offset_;  // a header is at most about 34 KB (crdt::codec_limits)
  // The block's usable bytes past the record (malloc rounding, or a pool
  // block a little larger), so its footprint needs no call into malloc
  // (which reads a word on a line the write has not touched); unknown_slack
  // when it does not fit (a large block); arena_slack for a block of the
  // record arena (store/record_arena.hpp), whose size follows from size.
  uint8_t slack;
  uint8_t exists_;  // 1: created after the last delete
  // crdt::digest_bytes(bytes()) | 1 (never 0: the Merkle index's
  // "absent"), or 0 until digest_of first computes it.
  mutable std::atomic<uint64_t> digest;

  static constexpr uint8_t unknown_slack = 0xff;
  static constexpr uint8_t arena_slack = 0xfe;
  bool in_arena() const { return slack == arena_slack; }
  bool exists() const { return exists_ != 0; }
  uint32_t maps_offset() const { return maps_offset_; }
  uint64_t expires_at_ms() const { return crdt::expiry_ms(last_accessed_ms, ttl_s); }
  bool live(uint64_t now_ms) const { return exists() && now_ms < expires_at_ms(); }
  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::string_view bytes() const { return {data(), size}; }
};

// Copies the encoding into a new packed_record holding `refs` references
// (a writer that hands out several adopts them all: no atomic increment on
// a record whose lines are still on their way to the cache).
// In a block of `pool` when given (as below).
// REQUIRES: encoded is a valid encoding; refs >= 1.
packed_record* make_packed(std::string_view encoded, uint32_t refs = 1, store::record_pool* pool = nullptr);
// The same with its header already known (read_header or inspect of these
// very bytes, or crdt::merge_encoded's): recovery reads each header once.
// Only its stamps, ttl and maps offset are used.
packed_record* make_packed(std::string_view encoded, const crdt::packed_header& h, uint32_t refs = 1);
// The same in a block of `pool` (its record arena cache first, then its
// spare malloc blocks) when one fits (the caller holds the pool's shard
// lock), else from malloc.
packed_record* make_packed(std::string_view encoded, const crdt::packed_header& h, uint32_t refs,
                           store::record_pool* pool);
// The same in a block of a record arena cache the caller owns (a loading
// thread's), else from malloc.
packed_record* make_packed(std::string_view encoded, const crdt::packed_header& h, uint32_t refs,
                           store::record_arena::cache* arena);
// The record's digest, computed on the first call and kept. Any thread:
// racing first calls store the same value.
inline uint64_t digest_of(const packed_record* p) {
  uint64_t d = p->digest.load(std::memory_order_relaxed);
  if (d == 0) {
    d = crdt::digest_bytes(p->bytes()) | 1;
    p->digest.store(d, std::memory_order_relaxed);
  }
  return d;
}
inline void retain(packed_record* p) { p->refs.fetch_add(1, std::memory_order_relaxed); }
void release(packed_record* p);
// release, the block given to `pool` when this was the last reference (the
// caller holds the pool's shard lock). Without a pool, an arena block goes
// back to the arena's shared lists and a malloc block to free().
void release_to(packed_record* p, store::record_pool* pool);
// The store's access to a handle's reference: take() empties s and hands
// its reference (of a record, or null) to the caller, to release_to a pool.
struct session_access {
  static packed_record* take(session& s) noexcept {
    auto* p = const_cast<packed_record*>(s.p_);
    s.p_ = nullptr;
    return p;
  }
};
// Bytes a packed record takes on the heap (for memory accounting): its
// block's usable size and malloc's size word; an arena block's size.
size_t packed_footprint(const packed_record* p);

// The id of an encoded record, read without a full header parse:
// array16 header (3 bytes), format (1 byte), then the id as fixstr, str8
// or str16 (ids are at most 256 bytes).
inline std::string_view packed_id(const packed_record* p) {
  const auto* b = reinterpret_cast<const uint8_t*>(p->data());
  const uint8_t tag = b[4];
  if ((tag & 0xe0) == 0xa0) return {p->data() + 5, static_cast<size_t>(tag & 0x1f)};
  if (tag == 0xd9) return {p->data() + 6, b[5]};
  return {p->data() + 7, static_cast<size_t>((b[5] << 8) | b[6])};
}

// Whether two ids are equal, without a call to memcmp for ids of 8 to 32
// bytes (overlapping 8-byte loads from each end): on the lookup path.
inline bool same_id(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  if (n < 8 || n > 32) return a == b;
  auto load = [](const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  uint64_t d = (load(a.data()) ^ load(b.data())) | (load(a.data() + n - 8) ^ load(b.data() + n - 8));
  if (n > 16) d |= (load(a.data() + 8) ^ load(b.data() + 8)) | (load(a.data() + n - 16) ^ load(b.data() + n - 16));
  return d == 0;
}

// Header of a packed record. REQUIRES: p holds a valid encoding (the store
// only packs what it encoded itself).
crdt::packed_header header_of(const packed_record* p);
// The record a packed one holds (the store only holds what it encoded:
// failing to decode it is a bug, asserted).
crdt::session_record decode_packed(const packed_record* p);

std::string format_version(const crdt::stamp& v);
// The session's version (format_version of its content version) and the
// value of one entry (nullopt: absent or removed), read off the bytes.
std::string packed_version(const packed_record* p);
inline std::optional<std::string_view> packed_find(const packed_record* p, section s, std::string_view name) {
  return crdt::find_value(p->bytes(), p->maps_offset(), s, name);
}

}  // namespace sessionmesh::detail
