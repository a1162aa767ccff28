// serve: runs a node until SIGTERM/SIGINT (drain, flush, exit 0).
// SIGHUP re-reads the config file and applies runtime settings.
#pragma once

#include <map>
#include <string>

#include "node/config.hpp"

namespace sessionmesh::node {

// Returns the process exit code (API.md section 1).
// cli holds the flags given on the command line (re-resolved on reload).
int serve(const node_config& cfg, const std::map<std::string, std::string>& cli);

}  // namespace sessionmesh::node
