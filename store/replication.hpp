// replication: what the replicated adapter needs from the cluster layer.
// The store includes nothing from gossip/; node/ implements this interface
// over the gossiper and the transport.
// Thread: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sessionmesh::store {

class replication {
 public:
  virtual ~replication() = default;
  // Hands over a local write's encoded delta. Called under the session's
  // shard lock, in write order per session: must be quick. Returns the
  // delta's sequence number in this node's stream (1, 2, ...).
  virtual uint64_t local_delta(std::string_view id, std::string_view delta) = 0;
  // The sequence number of the last delta handed over (0: none).
  virtual uint64_t last_seq() = 0;
  // Calls done(true) once `acks` nodes (this one included) have applied
  // every delta up to seq, or done(false) once timeout_ms passed first.
  // Never waits; done runs on any thread (often the driver's) and must be quick.
  virtual void when_acked(uint64_t seq, unsigned acks, uint32_t timeout_ms, std::function<void(bool)> done) = 0;
  virtual std::string owner_of(std::string_view id) = 0;
  // The clock gate: true while this node's write clock runs so far ahead of
  // most peers that they would refuse its stamps. The replicated adapter
  // then refuses every local write (errc::clock_skew) and reads stop
  // recording touches, so nothing is acknowledged that peers cannot take.
  virtual bool clock_ahead() = 0;
};

}  // namespace sessionmesh::store
