// sessionmesh error codes: the operating errors every module returns as values.
// Contract: values are stable (they are logged and mapped to HTTP statuses);
// only append. The category name is "sessionmesh".
#pragma once

#include <string_view>
#include <system_error>

namespace sessionmesh {

enum class errc : int {
  ok = 0,
  invalid_argument = 1,      // bad id, bad value, bad option (HTTP 400)
  not_found = 2,             // no live session with that id (404)
  version_mismatch = 3,      // If-Match / expected version differs (412)
  too_large = 4,             // body, value or entry count past its limit (413)
  session_quota_exceeded = 5,  // strict quota refused a create (429)
  too_many_programs = 6,     // a 201st program (429)
  cursor_expired = 7,        // change-feed cursor fell off the ring or is foreign
  io_error = 8,              // the WAL or a snapshot could not be written/read
  corrupt_data = 9,          // a checksum or structure check failed on disk
  clock_skew = 10,           // a remote HLC timestamp too far ahead, refused
  decode_error = 11,         // malformed encoded bytes (wire or disk)
  unavailable = 12,          // draining / closed / read-only after an I/O failure (503)
  acks_timeout = 13,         // acks=N not reached in time (504)
  internal = 14,             // a bug surfaced as a value (500)
  limit_exceeded = 15,       // a decoder limit (length, count, depth) was crossed
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// Short snake_case name of a code, as used in JSON error bodies ("not_found").
std::string_view errc_name(errc e) noexcept;

}  // namespace sessionmesh

template <>
struct std::is_error_code_enum<sessionmesh::errc> : std::true_type {};
