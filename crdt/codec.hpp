// The canonical MessagePack encoding of a session_record (format 1).
//
//   array(18) [ 1, id:str, nodes:str (8-byte big-endian tags, strictly ascending),
//               tomb.hlc, tomb.ni, created.hlc, created.ni, touched.hlc, touched.ni,
//               ttl.hlc, ttl.ni, ttl_s, worker.hlc, worker.ni, worker:str,
//               metadata:map, variables:map, programs:map ]
//   map entry: name:str -> array(3) [hlc, ni, value:str | nil (removed)]
//
// A stamp is (hlc, index into `nodes`); hlc 0 with index 0 is bottom. Map
// keys are strictly ascending bytewise. Integers use their shortest form, so
// equal records encode to equal bytes on every node: digest() is stable.
// A delta is a record and uses the same encoding.
// Decoding checks every length and count against codec_limits before use,
// rejects non-canonical order, and never crashes on garbage.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crdt/record.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::crdt {

// The record's array length and its format number (the first field).
inline constexpr uint32_t record_field_count = 18;
inline constexpr uint64_t record_format_version = 1;

struct codec_limits {
  size_t id_bytes = 256;
  size_t name_bytes = 1024;
  size_t worker_bytes = 1024;
  size_t value_bytes = 4u << 20;
  uint32_t entries_per_map = 1u << 16;
  uint32_t nodes = 4096;
  size_t record_bytes = 64u << 20;
};

void encode(const session_record& r, std::string& out);  // appends
std::string encode(const session_record& r);
// verify_canonical: also re-encode and compare (for bytes from the wire or
// disk); a store decoding records it encoded itself may skip it.
result<session_record> decode(std::string_view bytes, const codec_limits& lim = {},
                              bool verify_canonical = true);

// xxh3-64 of the canonical encoding.
uint64_t digest(const session_record& r);
uint64_t digest_bytes(std::string_view encoded);

// The fixed part of an encoded record, read without allocating.
struct packed_header {
  std::string_view id;
  stamp tombstone, created, touched, ttl_ts, worker_ts;
  uint32_t ttl_s = 0;
  std::string_view worker;
  std::string_view nodes;  // node table: 8 bytes per tag
  size_t maps_offset = 0;  // byte offset of the metadata map
};
result<packed_header> read_header(std::string_view bytes, const codec_limits& lim = {});
// read_header for encodings the store made itself (or decode verified on
// arrival): no limits or order checked, a malformed encoding is a bug
// (asserted). Writes read the header of the record they replace this way.
packed_header trusted_header(std::string_view bytes);

// What a store needs of a record read back from its own files, without
// allocating: the header, and the greatest stamp (crdt::max_stamp). Every
// entry is walked: bounds and limits checked, names strictly ascending in
// each map, no bytes after the last map. Unlike decode it does not
// re-encode to prove the form canonical: the store's files hold what its
// encoder wrote (or what decode verified on arrival), behind checksums.
struct record_facts {
  packed_header header;
  stamp max_stamp;
};
result<record_facts> inspect(std::string_view bytes, const codec_limits& lim = {});

// Calls fn(section, name, stamp, optional<string_view> value) for every
// entry, in canonical order. Stops early when fn returns false.
template <class Fn>
result<void> for_each_entry(std::string_view bytes, const packed_header& h, Fn&& fn,
                            const codec_limits& lim = {});

// Like for_each_entry without stamps: fn(section, name, optional value),
// starting at the maps offset. For the read path.
template <class Fn>
result<void> for_each_value(std::string_view bytes, size_t maps_offset, Fn&& fn,
                            const codec_limits& lim = {});

// The value of one entry (nullopt: absent, or removed), found by a walk of
// the maps from maps_offset that checks bounds but nothing else: for
// encodings the store made itself (it asserts they are well formed). The
// hot read: no callback, no error values. find_value_or_null answers in
// two registers: the value, or a view whose data() is null when it is
// absent or removed (a value held, even an empty one, points into bytes).
std::string_view find_value_or_null(std::string_view bytes, size_t maps_offset, section s, std::string_view name);
inline std::optional<std::string_view> find_value(std::string_view bytes, size_t maps_offset, section s,
                                                  std::string_view name) {
  const std::string_view v = find_value_or_null(bytes, maps_offset, s, name);
  if (v.data() == nullptr) return std::nullopt;
  return v;
}

}  // namespace sessionmesh::crdt

#include "crdt/codec_inl.hpp"
