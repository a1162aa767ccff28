// serve_setup: what `sessionmesh serve` derives from its configuration
// before it runs: store options, API settings, tokens, which settings a
// reload cannot apply (the stale-data-dir check is in open_replicated.hpp).
// Pure functions but for reading files (tokens, last contact) and
// set_aside_if_stale's rename. Thread: any.
#pragma once

#include <string>
#include <vector>

#include "http/api.hpp"
#include "node/cluster.hpp"
#include "node/config.hpp"
#include "sessionmesh/options.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::node {

bool loopback(const std::string& host);
// The first line of path (trailing blanks cut); "" for an empty path.
result<std::string> read_token(const std::string& path);
// The limits a write is held to (--max-value-bytes, --max-entries, --max-programs).
store_limits store_limits_of(const node_config& cfg);
store_options store_options_of(const node_config& cfg);
// The cluster driver's options of a node (serve and the online migrator).
cluster_options cluster_options_of(const node_config& cfg, const std::string& cluster_key);
result<http::api_settings> api_settings_of(const node_config& cfg);
// The settings that differ between a and b and need a restart to apply.
std::vector<std::string> restart_needed(const node_config& a, const node_config& b);

}  // namespace sessionmesh::node
