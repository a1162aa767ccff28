#include "http/json_render.hpp"

#include <charconv>
#include <cstdio>

namespace sessionmesh::http {
namespace {

void append_u64(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

void render_section(std::string& out, const session_view& s, section sec) {
  out.push_back('{');
  bool first = true;
  s.for_each(sec, [&](std::string_view name, std::string_view json) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, name);
    out.push_back(':');
    out.append(json);
  });
  out.push_back('}');
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void render_session(std::string& out, const session_view& s, std::string_view owner) {
  render_session(out, s, owner, s.version());
}

void render_session(std::string& out, const session_view& s, std::string_view owner, std::string_view version) {
  out += "{\"id\":";
  append_json_string(out, s.id());
  out += ",\"created_at_ms\":";
  append_u64(out, s.created_at_ms());
  out += ",\"last_accessed_at_ms\":";
  append_u64(out, s.last_accessed_at_ms());
  out += ",\"expires_at_ms\":";
  append_u64(out, s.expires_at_ms());
  out += ",\"ttl_s\":";
  append_u64(out, s.ttl_s());
  out += ",\"last_worker_id\":";
  if (s.last_worker_id().empty()) out += "null";
  else append_json_string(out, s.last_worker_id());
  out += ",\"owner\":";
  append_json_string(out, owner);
  out += ",\"version\":";
  append_json_string(out, version);
  out += ",\"metadata\":";
  render_section(out, s, section::metadata);
  out += ",\"programs\":";
  render_section(out, s, section::programs);
  out += ",\"variables\":";
  render_section(out, s, section::variables);
  out.push_back('}');
}

void render_error(std::string& out, std::string_view code, std::string_view message,
                  std::string_view request_id) {
  out += "{\"error\":{\"code\":";
  append_json_string(out, code);
  out += ",\"message\":";
  append_json_string(out, message);
  out += ",\"request_id\":";
  append_json_string(out, request_id);
  out += "}}";
}

void render_list(std::string& out, const list_page& page) {
  out += "{\"sessions\":[";
  for (size_t i = 0; i < page.sessions.size(); ++i) {
    const auto& s = page.sessions[i];
    if (i) out.push_back(',');
    out += "{\"id\":";
    append_json_string(out, s.id);
    out += ",\"owner\":";
    append_json_string(out, s.owner);
    out += ",\"expires_at_ms\":";
    append_u64(out, s.expires_at_ms);
    out += ",\"version\":";
    append_json_string(out, s.version);
    out.push_back('}');
  }
  out += "],\"next_cursor\":";
  if (page.next_cursor) append_json_string(out, *page.next_cursor);
  else out += "null";
  out.push_back('}');
}

void render_program_list(std::string& out, const std::vector<global_program>& page, bool more) {
  out += "{\"programs\":[";
  for (size_t i = 0; i < page.size(); ++i) {
    if (i) out += ',';
    out += "{\"id\":";
    append_json_string(out, page[i].id);
    out += ",\"expires_at_ms\":";
    append_u64(out, page[i].expires_at_ms);
    out += '}';
  }
  out += "],\"next_cursor\":";
  if (more && !page.empty()) append_json_string(out, page.back().id);
  else out += "null";
  out += '}';
}

void render_stats(std::string& out, const store_stats& st) {
  out += "{\"sessions_created\":";
  append_u64(out, st.sessions_created);
  out += ",\"sessions_deleted\":";
  append_u64(out, st.sessions_deleted);
  out += ",\"sessions_expired\":";
  append_u64(out, st.sessions_expired);
  out += ",\"cleanup_runs\":";
  append_u64(out, st.cleanup_runs);
  out += ",\"current_sessions\":";
  append_u64(out, st.current_sessions);
  out += ",\"memory_usage_bytes\":";
  append_u64(out, st.memory_usage_bytes);
  out += ",\"tombstones\":";
  append_u64(out, st.tombstones);
  out += ",\"global_programs_stored\":";
  append_u64(out, st.global_programs_stored);
  out += ",\"global_programs_deleted\":";
  append_u64(out, st.global_programs_deleted);
  out += ",\"global_programs_expired\":";
  append_u64(out, st.global_programs_expired);
  out += ",\"current_global_programs\":";
  append_u64(out, st.current_global_programs);
  out.push_back('}');
}

void render_change(std::string& out, const change& c, std::string_view owner) {
  if (c.type == change_type::moved) {
    out += "{\"type\":\"moved\",\"moves\":[";
    for (size_t i = 0; i < c.moves.size(); ++i) {
      if (i) out.push_back(',');
      out += "{\"id\":";
      append_json_string(out, c.moves[i].id);
      out += ",\"from\":";
      append_json_string(out, c.moves[i].from);
      out += ",\"to\":";
      append_json_string(out, c.moves[i].to);
      out.push_back('}');
    }
    out += "],\"reason\":";
    append_json_string(out, c.reason);
    out += ",\"cursor\":";
    append_json_string(out, c.cursor);
    out.push_back('}');
    return;
  }
  out += "{\"type\":";
  switch (c.type) {
    case change_type::put: out += "\"put\""; break;
    case change_type::del: out += "\"delete\""; break;
    case change_type::expire: out += "\"expire\""; break;
    case change_type::moved: break;
  }
  out += ",\"id\":";
  append_json_string(out, c.id);
  if (c.type != change_type::expire) {
    out += ",\"version\":";
    append_json_string(out, c.version);
    out += ",\"origin\":";
    append_json_string(out, c.origin);
  }
  out += ",\"cursor\":";
  append_json_string(out, c.cursor);
  if (c.type == change_type::put && c.value.valid()) {
    out += ",\"session\":";
    render_session(out, c.value, owner);
  }
  out.push_back('}');
}

}  // namespace sessionmesh::http
