// migration_report: the report of API.md section 6 and the content digest
// both migrations validate with. The digest covers what a client can see
// of a session's content — ttl_s, last_worker_id, metadata, variables,
// programs — as served in JSON (re-serialized by one parser, so formatting
// does not matter), not timestamps or versions, which a copy through the
// REST API cannot keep.
// Pure values and functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sessionmesh/session_store.hpp"

namespace sessionmesh::node {

struct migration_report {
  static constexpr size_t max_listed = 1000;  // ids listed per array (counts stay exact)
  std::string result = "failed";              // ok | rolled_back | failed | running
  uint64_t source_sessions = 0, target_sessions = 0, copied = 0;
  std::vector<std::string> missing, mismatched, extra;
  uint64_t missing_count = 0, mismatched_count = 0, extra_count = 0;
  uint64_t duration_ms = 0;
  std::string reason;  // empty: null
  std::string phase;   // online: where it is (or stopped)
  void add_missing(std::string id);
  void add_mismatched(std::string id);
  void add_extra(std::string id);
  std::string to_json() const;
};

// Digest of the content of a session JSON object as served; false if the
// text is not such an object.
bool content_digest(std::string_view session_json, uint64_t* out);
// The same digest of a session held in a store.
uint64_t content_digest(const session& s);

}  // namespace sessionmesh::node
