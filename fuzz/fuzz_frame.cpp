// libFuzzer: the cluster transport's framing over arbitrary bytes. The reader
// never yields a frame past its limit and never buffers a payload it refused;
// a hello that decodes re-encodes to one that decodes alike; a MAC verifies
// only with the key, connection and sequence it was made with.
#include <cstdint>
#include <cstdlib>

#include "transport/frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sessionmesh::transport;
  if (size < 2) return 0;
  const size_t mac = (data[0] & 1) ? mac_bytes : 0;
  const uint32_t max = (data[0] & 2) ? frame_max : hello_frame_max;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  frame_reader r(mac, max);
  // Feed in uneven pieces, as a socket would.
  size_t at = 0, step = 1 + (data[1] % 7);
  while (at < bytes.size()) {
    const size_t n = std::min(step, bytes.size() - at);
    r.feed(bytes.data() + at, n);
    at += n;
    step = step * 3 % 1031 + 1;
    for (;;) {
      auto f = r.next();
      if (!f) {
        if (r.buffered() > bytes.size()) std::abort();
        return 0;
      }
      if (!*f) break;
      if ((*f)->first.size() > max || (*f)->second.size() != mac) std::abort();
      auto h = decode_hello((*f)->first);
      if (h) {
        auto again = decode_hello(encode_hello(*h));
        if (!again || again->node_id != h->node_id || again->cluster != h->cluster || again->nonce != h->nonce)
          std::abort();
      }
      const std::string conn(32, 'c');
      const std::string m = frame_mac("key", conn, 7, (*f)->first);
      if (!constant_time_equal(m, frame_mac("key", conn, 7, (*f)->first))) std::abort();
      if (constant_time_equal(m, frame_mac("key", conn, 8, (*f)->first))) std::abort();
    }
  }
  return 0;
}
