// open_replicated_store: the embedded replicated adapter (see
// include/sessionmesh/replicated.hpp).
#include "sessionmesh/replicated.hpp"

#include "node/open_replicated.hpp"
#include "store/instrumented_store.hpp"
#include "store/replicated_store.hpp"

namespace sessionmesh {

result<std::unique_ptr<session_store>> open_replicated_store(const store_options& opts,
                                                             const replication_options& repl,
                                                             std::string* why) {
  store_options o = opts;
  if (!o.telemetry_hub) o.telemetry_hub = std::make_shared<telemetry>();
  node::cluster_options co;
  co.node_id = o.node_id;
  co.listen_host = repl.gossip_host;
  co.listen_port = repl.gossip_port;
  co.advertise =
      repl.advertise.empty() ? repl.gossip_host + ":" + std::to_string(repl.gossip_port) : repl.advertise;
  co.http_addr = repl.http_addr;
  co.seeds = repl.seeds;
  co.cluster_key = repl.cluster_key;
  co.cluster_name = repl.cluster_name;
  co.max_clock_offset_ms = o.max_clock_offset_ms;
  auto n = node::open_replicated(o, std::move(co));
  if (!n) {
    if (why) *why = n.describe();  // the compatibility shim (see replicated.hpp)
    return failed<std::unique_ptr<session_store>>(n);
  }
  std::shared_ptr<node::cluster> cl = std::move(n->driver);
  auto rs = std::move(n->store);
  auto inst = std::make_unique<store::instrumented_store>(std::move(rs), o.telemetry_hub);
  node::cluster* raw = cl.get();
  inst->own(std::move(cl), [raw] { raw->stop(); });
  return std::unique_ptr<session_store>(std::move(inst));
}

}  // namespace sessionmesh
