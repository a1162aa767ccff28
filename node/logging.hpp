// Process logging through spdlog: text or one JSON object per line.
// Thread: configure once at start (and on reload for the level); spdlog's
// default logger is thread-safe afterwards.
#pragma once

#include <string>
#include <string_view>

namespace sessionmesh::node {

void setup_logging(const std::string& format, const std::string& level);
void set_log_level(const std::string& level);

}  // namespace sessionmesh::node
