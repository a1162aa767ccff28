// libFuzzer: the gossip message decoder over arbitrary bytes, and the
// replication driver fed what decodes (as a peer's message would be, after
// the transport authenticated it). Whatever decodes re-encodes to bytes that
// decode to the same encoding; the driver neither crashes nor asserts, and
// its output stays bounded.
#include <cstdint>
#include <cstdlib>

#include "gossip/messages.hpp"
#include "gossip/replication_driver.hpp"

namespace {

using namespace sessionmesh;
using namespace sessionmesh::gossip;

// A store with nothing in it that accepts every merge.
class empty_port final : public store_port {
 public:
  uint64_t merkle_root() override { return 0; }
  std::vector<uint64_t> merkle_level(int level) override { return std::vector<uint64_t>(level == 2 ? 256 : 4096, 0); }
  std::vector<leaf_item> leaf(uint32_t) override { return {}; }
  std::vector<std::string> records(const std::vector<std::string>&) override { return {}; }
  std::vector<std::pair<uint64_t, std::string>> records_with_hash(const std::vector<uint64_t>&) override { return {}; }
  store::sketch sketch(int bits) override { return store::sketch(bits); }
  std::optional<uint64_t> apply(std::string_view encoded, std::string_view) override {
    if (encoded.empty()) return std::nullopt;
    return ++lsn;
  }
  uint64_t clock_ms() override { return now; }
  void for_each_live(const std::function<void(std::string_view)>& fn) override { fn("s1"); }
  std::optional<size_t> forget_partition(uint32_t, uint64_t expected) override {
    return expected == 0 ? std::optional<size_t>(0) : std::nullopt;
  }
  uint64_t lsn = 0, now = 1'700'000'000'000ull;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = decode(bytes);
  if (!m) return 0;
  std::string once, twice;
  encode(*m, once);
  auto again = decode(once);
  if (!again) std::abort();
  encode(*again, twice);
  if (once != twice) std::abort();

  static empty_port port;
  config c;
  c.node_id = "self";
  c.gossip_addr = "self:1";
  c.seeds = {"p1:1"};
  c.replicas = size % 2 ? 2 : 0;  // placement and full replication alike
  replication_driver d(c, port);
  d.start(port.now);
  (void)d.local_delta("x", size % 256);
  d.when_acked(1, 2, port.now + 100, [](bool) {});
  for (const char* from : {"p1", "p2", "self"}) {
    d.on_message(from, *m, port.now, std::string(from) + ":1");
    d.on_message(from, *again, port.now + 1, std::string(from) + ":1");
  }
  d.on_tick(port.now + 10);
  auto out = d.take_output();
  if (out.sync) d.on_durable(*out.sync, port.now + 11);
  d.on_tick(port.now + 1000);
  d.stop();
  out = d.take_output();
  if (out.outbox.size() > 100000) std::abort();
  return 0;
}
