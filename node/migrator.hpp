// migrator: the online adapter switch of API.md section 6, local ->
// replicated, on a running node with no downtime.
//
//   POST /v1/admin/migrate {"to":"replicated","seeds":"h:p,h:p"}  -> start()
//        (optional "join_timeout_ms", default 15000)
//   GET  /v1/admin/migrate                                       -> status()
//
// On its own thread: opens the target (a local store in DATA_DIR/replicated
// plus the cluster driver on the node's --gossip address), joins through
// the seeds (none: a new one-node cluster; "seeds" may also be an array), turns on dual writes, copies
// every session's CRDT record (stamps and all) into the target, then
// validates: every live source session must be live on the target with the
// same content digest (target sessions the source lacks are listed as
// `extra`, not an error: they are the cluster's). Then it writes
// DATA_DIR/MIGRATED (so a restart comes back replicated, from
// DATA_DIR/replicated) and moves reads and writes to the target. Anything
// failing — the gossip port, joining within 15 s, a copy, the validation —
// rolls back: the source kept every write, the target is closed and its
// directory removed, and the report says why.
// Thread: public methods are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "node/cluster.hpp"
#include "node/config.hpp"
#include "node/migration_report.hpp"
#include "store/migrating_store.hpp"
#include "store/replicated_store.hpp"

namespace sessionmesh::node {

// DATA_DIR/MIGRATED: written when a node switched to the replicated adapter.
std::string migrated_marker(const std::string& data_dir);
// DATA_DIR/migration-report.json: the last report, kept across restarts
// (GET /v1/admin/migrate answers it on a node that switched earlier).
std::string report_file(const std::string& data_dir);
// Its contents, or empty.
std::string read_last_report(const std::string& data_dir);
// If the marker exists: switches cfg to the replicated adapter on
// DATA_DIR/replicated (seeds from the marker unless cfg has some) and
// returns true.
bool apply_migrated_marker(node_config& cfg);

class migrator {
 public:
  struct deps {
    node_config cfg;
    std::string cluster_key;
    store_options target_options;  // the source's options; data_dir is replaced
    store::migrating_store* store = nullptr;
    // Called once the target serves: the cluster the node now runs.
    std::function<void(cluster*)> on_switched;
  };
  explicit migrator(deps d);
  ~migrator();

  // (HTTP status, JSON body): 202 + the running report, or an error body
  // made by the caller from (status, code, message) when status >= 400.
  struct answer {
    unsigned status;
    std::string code;  // error code when status >= 400
    std::string body;  // report JSON, or the error message
  };
  answer start(std::string_view body);
  answer status();
  // Stops a running migration (rolls back) and the cluster of a switched one.
  void stop();

 private:
  // The migration, step by step; a failed step's detail is the rollback's reason.
  void run(std::vector<std::string> seeds, std::string seeds_text, uint64_t join_timeout_ms);
  result<void> open_target(const std::vector<std::string>& seeds);
  result<void> join(const std::string& seeds_text, uint64_t join_timeout_ms);
  result<uint64_t> copy_all();
  result<void> validate();
  result<void> switch_over(const std::string& seeds_text, uint64_t copied);
  std::string target_dir_;  // the target's data dir (on disk)
  bool rollback(const std::string& reason);
  void set_phase(const std::string& p);

  deps d_;
  std::mutex mu_;
  bool running_ = false, switched_ = false, ran_ = false;
  migration_report report_;
  std::chrono::steady_clock::time_point t0_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // Kept until the node stops (calls in flight may still reach them).
  std::vector<std::unique_ptr<cluster>> clusters_;
  std::vector<std::unique_ptr<store::replicated_store>> targets_;
};

}  // namespace sessionmesh::node
