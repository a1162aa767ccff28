// packed_record: one session's canonical encoding in a single allocation,
// with an intrusive reference count. The store's maps hold one reference;
// every `session` handle holds one. Immutable after make_packed().
// Thread: refcount is atomic; the bytes are read-only.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "crdt/codec.hpp"
#include "sessionmesh/session.hpp"

namespace sessionmesh::detail {

struct packed_record {
  std::atomic<uint32_t> refs;
  uint32_t size;
  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::string_view bytes() const { return {data(), size}; }
};

// Copies the encoding into a new packed_record holding one reference.
packed_record* make_packed(std::string_view encoded);
inline void retain(packed_record* p) { p->refs.fetch_add(1, std::memory_order_relaxed); }
void release(packed_record* p);
// Bytes a packed record takes on the heap (for memory accounting).
size_t packed_footprint(const packed_record* p);

// The id of an encoded record, read without a full header parse.
std::string_view packed_id(const packed_record* p);

// Header of a packed record. REQUIRES: p holds a valid encoding (the store
// only packs what it encoded itself).
crdt::packed_header header_of(const packed_record* p);

std::string format_version(const crdt::stamp& v);

}  // namespace sessionmesh::detail
