// migrate_offline: `sessionmesh migrate --from DATA_DIR --to URL --report F`
// (API.md section 6). Opens a stopped node's data dir (locked, so a running
// node's dir is refused), creates each live session on the running node
// through the REST API (an existing session there is left as it is: the
// target's data is newer), records last_worker_id, then reads every
// session back and compares content digests. Writes the report (also on
// failure) and returns the exit code: 0 ok, 1 failed (see the report's
// reason), 2 bad usage or an unreadable data dir (a one-line reason).
// Thread: runs on the calling thread.
#pragma once

#include <string>

namespace sessionmesh::node {

struct offline_migration {
  std::string from;            // data dir of a stopped node
  std::string to;              // http://host:port of a running node
  std::string report;          // where the JSON report goes; empty: stdout only
  std::string api_token_file;  // the target's API token, if it needs one
};

int migrate_offline(const offline_migration& m);

}  // namespace sessionmesh::node
