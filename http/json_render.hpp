// JSON rendering of the API's bodies (API.md sections 2-4). Appends to a
// caller's string; values stored in sessions are already compact JSON text.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "sessionmesh/session_store.hpp"

namespace sessionmesh::http {

void append_json_string(std::string& out, std::string_view s);
// The session object as served (owner given by the caller).
void render_session(std::string& out, const session_view& s, std::string_view owner);
// Same, with the version already computed (it costs a walk of the record).
void render_session(std::string& out, const session_view& s, std::string_view owner, std::string_view version);
void render_error(std::string& out, std::string_view code, std::string_view message,
                  std::string_view request_id);
void render_list(std::string& out, const list_page& page);
// {"programs":[{"id","expires_at_ms"}...],"next_cursor"}: the page's last
// id when more may follow, else null.
void render_program_list(std::string& out, const std::vector<global_program>& page, bool more);
void render_stats(std::string& out, const store_stats& st);
// A change-feed event (section 4); owner is used for put events.
void render_change(std::string& out, const change& c, std::string_view owner);

}  // namespace sessionmesh::http
