// placement: which nodes hold which sessions under --replicas R.
//
// The key space is cut into 256 partitions: a record's partition is the top
// 8 bits of its id hash (store::id_hash64), which is exactly its Merkle
// level-2 node, so anti-entropy between two replicas compares the level-2
// hashes of the partitions they share and goes down the usual leaf path
// under each one that differs. Each partition lives on the R nodes with the
// highest xxh3(partition, node id) among the owners (alive and suspect
// members, this node included): rendezvous hashing, so a join or a leave
// moves about R/N of the partitions and nothing else. A partition's first
// replica is the owner of every session in it.
//
// R = 0 means full replication (every node holds every partition; the
// owner is then the rendezvous owner of the id itself).
// Pure values; thread-safe to read.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sessionmesh::gossip {

inline constexpr uint32_t partition_count = 256;

inline uint32_t partition_of_hash(uint64_t id_hash) { return static_cast<uint32_t>(id_hash >> 56); }
uint32_t partition_of(std::string_view record_id);

class placement {
 public:
  placement() = default;
  // nodes: the owners, sorted and unique; r: replicas per partition (0: all).
  placement(std::vector<std::string> nodes, unsigned r);

  bool full() const { return r_ == 0; }
  unsigned r() const { return r_; }
  const std::vector<std::string>& nodes() const { return nodes_; }
  // The replicas of p, best first (every owner when full; none when there
  // are no owners).
  std::vector<std::string> replicas(uint32_t p) const;
  using mask = std::bitset<256>;
  // The partitions node replicates (every one for an owner when full; none
  // for a node that is not an owner).
  const mask& held_by(std::string_view node) const;
  // Whether node replicates p (every owner does when full).
  bool holds(uint32_t p, std::string_view node) const { return held_by(node).test(p % partition_count); }
  // How many replicas p has (min(R, owners); owners when full).
  size_t replica_count(uint32_t p) const;
  // The partition's first replica ("" with no owners).
  std::string first(uint32_t p) const;
  // The owner of a session or global program record: the first replica of
  // its partition, or (full) the rendezvous owner of the id.
  std::string owner_of(std::string_view record_id) const;
  bool operator==(const placement& o) const { return r_ == o.r_ && nodes_ == o.nodes_; }

 private:
  int index_of(std::string_view node) const;
  std::vector<std::string> nodes_;
  unsigned r_ = 0;
  std::vector<std::vector<uint16_t>> sets_;  // per partition: indexes into nodes_, best first
  std::vector<mask> held_;                   // per node (index into nodes_)
};

}  // namespace sessionmesh::gossip
