// replication: what the replicated adapter needs from the cluster layer.
// The store includes nothing from gossip/; node/ implements this interface
// over the gossiper and the transport.
// Thread: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sessionmesh::store {

class replication {
 public:
  virtual ~replication() = default;
  // Hands over a local write's encoded delta. Called under the session's
  // shard lock, in write order per session: must be quick.
  virtual void local_delta(std::string_view id, std::string_view delta) = 0;
  // Waits until `acks` nodes (this one included) applied the calling
  // thread's last write; false on timeout.
  virtual bool wait_acks(unsigned acks, uint32_t timeout_ms) = 0;
  virtual std::string owner_of(std::string_view id) = 0;
};

}  // namespace sessionmesh::store
