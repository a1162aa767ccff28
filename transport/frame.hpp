// Wire framing of the cluster transport, pure functions (fuzzable).
//
//   frame := len:u32be payload[len] mac[32 if keyed]
//   mac   := HMAC-SHA256(key, conn_id || u64be seq || payload)
//   conn_id = dialer nonce || acceptor nonce (16 bytes each), so a frame
//   captured on one connection is refused on any other, and seq (counted by
//   both ends) refuses replays and reorders within one.
//   hello (the first frame each way, never MACed itself) := msgpack
//   [ "sessionmesh", protocol_version, cluster, node_id, advertise, nonce(16),
//     proof ] where proof = HMAC(key, "hello" || cluster || node_id || nonce)
//   (empty without a key).
// Limits: len <= frame_max, checked before allocating.
// Thread: pure; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sessionmesh/result.hpp"

namespace sessionmesh::transport {

inline constexpr uint32_t frame_max = 16u << 20;
// The hello is a few short strings: a peer that has not proved itself may
// not make us buffer more than this.
inline constexpr uint32_t hello_frame_max = 4096;
inline constexpr size_t mac_bytes = 32;
inline constexpr uint32_t wire_version = 1;

struct hello {
  std::string cluster;
  std::string node_id;
  std::string advertise;
  std::string nonce;  // 16 bytes
  std::string proof;  // 32 bytes or empty
  uint32_t version = wire_version;
};

std::string encode_hello(const hello& h);
result<hello> decode_hello(std::string_view bytes);

std::string hmac_sha256(std::string_view key, std::string_view data);
bool constant_time_equal(std::string_view a, std::string_view b);
std::string hello_proof(std::string_view key, const hello& h);
std::string frame_mac(std::string_view key, std::string_view conn_id, uint64_t seq, std::string_view payload);

// Appends a frame (with a MAC when key is non-empty).
void append_frame(std::string& out, std::string_view payload, std::string_view key, std::string_view conn_id,
                  uint64_t seq);

// Incremental parser over a byte stream.
class frame_reader {
 public:
  // Frames longer than max are limit_exceeded (checked on the length
  // prefix, before any payload is buffered beyond one read).
  explicit frame_reader(size_t mac_len, uint32_t max = hello_frame_max) : mac_len_(mac_len), max_(max) {}
  void set_mac_len(size_t n) { mac_len_ = n; }
  void set_max(uint32_t max) { max_ = max; }
  void feed(const char* data, size_t n) { buf_.append(data, n); }
  // Next whole frame: (payload, mac). decode_error/limit_exceeded on garbage.
  result<std::optional<std::pair<std::string, std::string>>> next();
  size_t buffered() const { return buf_.size(); }
  uint32_t max() const { return max_; }

 private:
  size_t mac_len_;
  uint32_t max_;
  std::string buf_;
};

}  // namespace sessionmesh::transport
