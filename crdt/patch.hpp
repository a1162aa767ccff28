// merge_encoded: merges a delta into an encoded record without decoding it
// (the hot path of a local patch). When the delta only raises registers
// (touched, ttl, worker, entries) above the record's own and above its
// tombstone, and every node that stamps it is already in the record's node
// table and stays there, the result is spliced: unchanged entries are
// copied as bytes, written ones re-encoded. The bytes are exactly
// encode(merge(decode(encoded), delta)); anything else returns nothing and
// the caller decodes and merges (a test checks both on random records).
// Pure function; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "crdt/codec.hpp"
#include "crdt/record.hpp"
#include "crdt/stamp.hpp"

namespace sessionmesh::crdt {

struct merged_facts {
  // The merged record's header: its stamps, ttl and maps offset (id, nodes
  // and worker are left empty: they would point into bytes, which moves).
  packed_header header;
  live_counts before, after;
  stamp content_version;  // content_version() of the merged record
};
struct merged_encoding : merged_facts {
  std::string bytes;
};

// REQUIRES: encoded is a valid encoding of a record with delta's id.
std::optional<merged_encoding> merge_encoded(std::string_view encoded, const session_record& delta);
// The same, the bytes written into out (cleared first; its capacity is
// reused, so a caller that keeps one buffer allocates nothing here). When
// nothing is returned, out holds no meaning. REQUIRES: out does not alias
// encoded.
std::optional<merged_facts> merge_encoded(std::string_view encoded, const session_record& delta, std::string& out);

}  // namespace sessionmesh::crdt
