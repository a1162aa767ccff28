// Process logging through spdlog: text or one JSON object per line.
// Thread: configure once at start (and on reload for the level); spdlog's
// default logger is thread-safe afterwards.
#pragma once

#include <string>
#include <utility>
#include <string_view>

namespace sessionmesh::node {

// format json: every line is {"ts_ms","level","node_id",...,"msg"}.
void setup_logging(const std::string& format, const std::string& level, const std::string& node_id);

// A log payload that carries fields: fields_mark, then JSON object members
// ("k":v,...), fields_mark again, then the message. The json format puts
// the members at the top level of the line; only emit it in json format
// (text lines spell their fields in the message).
inline constexpr char fields_mark = '\x1f';

// The route of a request path with ids left out ("/v1/sessions/{id}/variables/{name}")
// and the session id it names ("" when none), for access logs.
std::pair<std::string, std::string_view> route_of(std::string_view path);
void set_log_level(const std::string& level);

}  // namespace sessionmesh::node
