// open_replicated: the one way a replicated node is opened — by `serve`,
// by the online migrator (its target) and by the embedded adapter. It
// checks the data dir for staleness (a node out of contact with its cluster
// for longer than the tombstone grace resyncs from its peers instead of
// replaying data whose deletes the others have purged), opens the local
// store, starts the cluster driver and joins them in a replicated_store.
// Thread: call from any thread; the parts are thread-safe as documented.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "node/cluster.hpp"
#include "sessionmesh/options.hpp"
#include "store/replicated_store.hpp"

namespace sessionmesh::node {

struct replicated_node {
  std::unique_ptr<cluster> driver;                 // started; stop() before the store closes
  std::unique_ptr<store::replicated_store> store;  // owns the local store
  bool set_aside = false;                          // the data dir was stale and moved aside
};

// o.data_dir (when set) is checked against o.tombstone_grace_ms and holds
// the contact file; co.contact_file is set here. after_set_aside (optional)
// runs right after a stale dir was moved aside, before the fresh one is
// opened (serve re-locks it); returning false aborts with unavailable.
// Errors carry a detail (a store that cannot recover, a port in use).
result<replicated_node> open_replicated(const store_options& o, cluster_options co,
                                        const std::function<bool()>& after_set_aside = {});

// A replicated node's data dir whose last contact with the cluster is older
// than grace_ms is moved aside (kept for forensics, logged). Returns whether
// it was.
bool set_aside_if_stale(const std::string& dir, uint64_t grace_ms);

}  // namespace sessionmesh::node
