#include "transport/frame.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <msgpack.hpp>

#include "crdt/mp_reader.hpp"

namespace sessionmesh::transport {
namespace {
struct sink {
  std::string& out;
  void write(const char* p, size_t n) { out.append(p, n); }
};
void put_str(msgpack::packer<sink>& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
}  // namespace

std::string encode_hello(const hello& h) {
  std::string out;
  sink s{out};
  msgpack::packer<sink> pk(s);
  pk.pack_array(7);
  put_str(pk, "sessionmesh");
  pk.pack_uint32(h.version);
  put_str(pk, h.cluster);
  put_str(pk, h.node_id);
  put_str(pk, h.advertise);
  put_str(pk, h.nonce);
  put_str(pk, h.proof);
  return out;
}

result<hello> decode_hello(std::string_view bytes) {
  crdt::mp_reader rd(bytes);
  auto n = rd.read_array(7);
  if (!n || *n != 7) return errc::decode_error;
  auto magic = rd.read_str(16);
  if (!magic || *magic != "sessionmesh") return errc::decode_error;
  auto v = rd.read_uint();
  if (!v) return errc::decode_error;
  hello h;
  h.version = static_cast<uint32_t>(*v);
  std::string* fields[] = {&h.cluster, &h.node_id, &h.advertise, &h.nonce, &h.proof};
  for (auto* f : fields) {
    auto s = rd.read_str(1024);
    if (!s) return errc::decode_error;
    f->assign(*s);
  }
  if (!rd.at_end() || h.node_id.empty() || h.nonce.size() != 16) return errc::decode_error;
  return h;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string hello_proof(std::string_view key, const hello& h) {
  if (key.empty()) return {};
  std::string d = "hello";
  d += h.cluster;
  d.push_back('\0');
  d += h.node_id;
  d.push_back('\0');
  d += h.nonce;
  return hmac_sha256(key, d);
}

std::string frame_mac(std::string_view key, std::string_view conn_id, uint64_t seq, std::string_view payload) {
  std::string d(conn_id);
  for (int i = 7; i >= 0; --i) d.push_back(static_cast<char>((seq >> (8 * i)) & 0xff));
  d.append(payload);
  return hmac_sha256(key, d);
}

void append_frame(std::string& out, std::string_view payload, std::string_view key, std::string_view conn_id,
                  uint64_t seq) {
  const auto len = static_cast<uint32_t>(payload.size());
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  out.append(payload);
  if (!key.empty()) out += frame_mac(key, conn_id, seq, payload);
}

result<std::optional<std::pair<std::string, std::string>>> frame_reader::next() {
  if (buf_.size() < 4) return std::optional<std::pair<std::string, std::string>>{};
  uint32_t len = 0;
  for (int i = 0; i < 4; ++i) len = (len << 8) | static_cast<uint8_t>(buf_[static_cast<size_t>(i)]);
  if (len > max_) return errc::limit_exceeded;
  if (buf_.size() < 4 + len + mac_len_) return std::optional<std::pair<std::string, std::string>>{};
  std::pair<std::string, std::string> f{buf_.substr(4, len), buf_.substr(4 + len, mac_len_)};
  buf_.erase(0, 4 + len + mac_len_);
  return std::optional<std::pair<std::string, std::string>>{std::move(f)};
}

}  // namespace sessionmesh::transport
