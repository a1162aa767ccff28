// The embedded API: open a store in-process and use it without HTTP.
//
//   sessionmesh::store_options o;  o.data_dir = "./data";
//   auto st = sessionmesh::open_store(o);
//   if (!st) { /* st.error(), st.detail(): the file and offset, or the reason */ }
//   (*st)->create({.id = "sess-1"});
#pragma once

#include <memory>
#include <string>

#include "sessionmesh/options.hpp"
#include "sessionmesh/result.hpp"
#include "sessionmesh/session.hpp"
#include "sessionmesh/session_store.hpp"
#include "sessionmesh/telemetry.hpp"

namespace sessionmesh {

// Opens the local adapter: recovers from data_dir (snapshot + WAL) when set.
// On failure, the result's detail() names the file and offset or the
// reason. `why`, if given, gets the same text (kept for callers written
// before results carried a detail).
result<std::unique_ptr<session_store>> open_store(const store_options& opts,
                                                  std::string* why = nullptr);

// The telemetry hub of a store opened by open_store (nullptr otherwise):
// subscribe to op_event / named_event with it.
std::shared_ptr<telemetry> telemetry_of(session_store& st);

std::string_view version_string();

}  // namespace sessionmesh
