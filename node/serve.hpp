// serve: runs a node until SIGTERM/SIGINT (drain, flush, exit 0).
// SIGHUP re-reads the config file and applies runtime settings.
#pragma once

#include "node/config.hpp"

namespace sessionmesh::node {

// Returns the process exit code (API.md section 1).
int serve(const node_config& cfg);

}  // namespace sessionmesh::node
