// Gossip protocol messages and their MessagePack encoding.
// WARNING: ONLY APPEND to msg_type: the values are part of the protocol.
// Every decoder checks counts and lengths against limits before use.
// Pure values; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "sessionmesh/result.hpp"

namespace sessionmesh::gossip {

inline constexpr uint32_t protocol_version = 1;

enum class msg_type : uint8_t {
  ping = 1,
  ack = 2,
  ping_req = 3,
  sync = 4,        // push-pull of the member table
  sync_reply = 5,
  deltas = 6,
  deltas_ack = 7,
  ae_l2 = 8,       // anti-entropy: root + level-2 hashes
  ae_l3 = 9,       // leaf hashes under differing level-2 nodes
  ae_leaves = 10,  // (id hash, digest) entries of differing leaves
  ae_records = 11, // records, and the id hashes wanted back
  ae_sketch = 12,  // the responder's diff sketch, to an initiator that offered (ae_sketch_offer)
  ae_diff = 13,    // the initiator's decoded difference: records, wants, stamps of ids both hold
  stream_mark = 14,  // "you applied my write stream through": only to a peer that set ae_streams
  ae_part = 15,        // placement (--replicas R): level-2 hashes of the partitions named
  ae_part_equal = 16,  // the partitions of an ae_part found equal here, every merge durable
};

// Set in ae_l2's exchange id by an initiator that can take an ae_sketch
// reply; a responder that cannot echoes the id in an ae_l3 as before.
inline constexpr uint64_t ae_sketch_offer = uint64_t{1} << 63;
// Set in ae_l2's exchange id by a node that reads stream_mark messages (a
// node built before them would drop the connection on an unknown type, so
// marks go only to peers seen setting it).
inline constexpr uint64_t ae_streams = uint64_t{1} << 62;
// Set in ae_l2's exchange id by an initiator whose every merge was durable
// when it took the root it sends: only then may the responder, finding
// the roots equal, count it as holding every write of the responder's
// (acks=N, stream marks). A root that counts merges a crash would lose
// must not (a peer that then restarted would be counted for writes it lost).
inline constexpr uint64_t ae_durable = uint64_t{1} << 61;
inline constexpr uint64_t ae_flags = ae_sketch_offer | ae_streams | ae_durable;

enum class member_status : uint8_t { alive = 0, suspect = 1, dead = 2, left = 3 };
const char* status_name(member_status s);

struct member_update {
  std::string node_id;
  std::string gossip_addr;
  std::string http_addr;
  uint64_t incarnation = 0;
  member_status status = member_status::alive;
};

// clock_ms: the sender's physical clock when it sent (0: not measured, as
// in a relayed ack). A prober compares the ack's clock with its own to see
// whether its peers would refuse its stamps (see gossiper::clock_ahead).
// Decoders accept the older two-field form.
struct ping { uint64_t seq = 0; std::vector<member_update> updates; uint64_t clock_ms = 0; };
struct ack { uint64_t seq = 0; std::vector<member_update> updates; uint64_t clock_ms = 0; };
struct ping_req { uint64_t seq = 0; std::string target; std::vector<member_update> updates; };
struct sync { std::vector<member_update> members; };
struct sync_reply { std::vector<member_update> members; };
// The batch names the sender's writes first..through (first 0: through + 1
// - records.size(), the older three-field form). Under placement a batch
// may name more writes than it carries: those of partitions the receiver
// does not replicate, which are not for it.
struct deltas {
  uint64_t batch = 0;
  uint64_t through = 0;
  std::vector<std::string> records;
  uint64_t first = 0;
  uint64_t first_seq() const { return first ? first : through + 1 - records.size(); }
};
struct deltas_ack { uint64_t batch = 0; uint64_t through = 0; };
struct ae_l2 { uint64_t exchange = 0; uint64_t root = 0; std::vector<uint64_t> hashes; };
struct ae_l3 { uint64_t exchange = 0; std::vector<uint32_t> nodes; std::vector<uint64_t> leaf_hashes; };
struct leaf_entries { uint32_t leaf = 0; std::vector<uint64_t> id_hashes; std::vector<uint64_t> digests; };
struct ae_leaves { uint64_t exchange = 0; std::vector<leaf_entries> leaves; };
struct ae_records { uint64_t exchange = 0; std::vector<std::string> records; std::vector<uint64_t> want; };
// cells: store::sketch::to_bytes() of 2^bits cells per sub-table.
struct ae_sketch { uint64_t exchange = 0; uint64_t root = 0; uint32_t bits = 0; std::string cells; };
// records: held only by the initiator; want: id hashes held only by the
// responder; both_ids/both_hlc: ids both hold in different versions, with
// the initiator's greatest HLC in each (the responder sends its version
// where its own is as great or greater, and wants the initiator's otherwise).
struct ae_diff {
  uint64_t exchange = 0;
  std::vector<std::string> records;
  std::vector<uint64_t> want;
  std::vector<uint64_t> both_ids;
  std::vector<uint64_t> both_hlc;
};

// From a write's origin to a peer: the peer has applied every write of the
// origin's stream `epoch` (its start incarnation) numbered 1..through (what
// the origin counts from the peer's acks and from anti-entropy finding the
// two equal). Read-your-writes tokens are checked against it.
struct stream_mark { uint64_t epoch = 0; uint64_t through = 0; };

// Placement: an anti-entropy exchange over some partitions (level-2 nodes)
// only: parts ascending, one hash each. The responder answers an ae_l3 for
// those that differ (then the usual leaves and records) and, when every
// merge it made is durable, an ae_part_equal naming those that are equal.
struct ae_part { uint64_t exchange = 0; std::vector<uint32_t> parts; std::vector<uint64_t> hashes; };
struct ae_part_equal { uint64_t exchange = 0; std::vector<uint32_t> parts; };

using message = std::variant<ping, ack, ping_req, sync, sync_reply, deltas, deltas_ack, ae_l2, ae_l3,
                             ae_leaves, ae_records, ae_sketch, ae_diff, stream_mark, ae_part, ae_part_equal>;

msg_type type_of(const message& m);
void encode(const message& m, std::string& out);
result<message> decode(std::string_view bytes);

}  // namespace sessionmesh::gossip
