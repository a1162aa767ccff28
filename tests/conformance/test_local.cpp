// The local adapter passes the contract suite, in memory and on disk.
#include "tests/conformance/suite.hpp"
#include "tests/conformance/suite_programs.hpp"
#include "tests/conformance/suite_quota.hpp"

#include <cstdlib>
#include <filesystem>

#include "store/local_store.hpp"
#include "store/replicated_store.hpp"

namespace {

using namespace sessionmesh;

std::string fresh_dir() {
  char tmpl[] = "/tmp/sm-conf-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

struct local_in_memory {
  static std::unique_ptr<session_store> open(store_options o) {
    auto st = store::local_store::open(o, store::posix_fs());
    REQUIRE(st.has_value());
    return std::move(st).value();
  }
};

struct local_on_disk {
  static std::unique_ptr<session_store> open(store_options o) {
    o.data_dir = fresh_dir();
    o.fsync = fsync_mode::always;
    auto st = store::local_store::open(o, store::posix_fs());
    REQUIRE_MESSAGE(st.has_value(), st.describe());
    return std::move(st).value();
  }
};

// The replicated adapter on a one-node cluster: its replication layer has
// no peers (every delta handed over, owner = this node, acks <= 1 only).
class lone_replication final : public store::replication {
 public:
  explicit lone_replication(std::string node) : node_(std::move(node)) {}
  uint64_t local_delta(std::string_view, std::string_view delta) override {
    REQUIRE_FALSE(delta.empty());
    return static_cast<uint64_t>(++deltas);
  }
  uint64_t last_seq() override { return static_cast<uint64_t>(deltas.load()); }
  void when_acked(uint64_t, unsigned acks, uint32_t, std::function<void(bool)> done) override { done(acks <= 1); }
  std::string owner_of(std::string_view) override { return node_; }
  bool clock_ahead() override { return false; }
  std::atomic<int> deltas{0};

 private:
  std::string node_;
};

struct replicated_on_disk {
  static std::unique_ptr<session_store> open(store_options o) {
    o.data_dir = fresh_dir();
    o.fsync = fsync_mode::batch;
    auto st = store::local_store::open(o, store::posix_fs());
    REQUIRE_MESSAGE(st.has_value(), st.describe());
    static std::vector<std::unique_ptr<lone_replication>> repls;  // outlive the stores
    repls.push_back(std::make_unique<lone_replication>(o.node_id));
    return std::make_unique<store::replicated_store>(std::move(st).value(), *repls.back());
  }
};

}  // namespace

TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance, local_in_memory, local_on_disk, replicated_on_disk);
TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance_quota, local_in_memory, local_on_disk, replicated_on_disk);
TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance_quota_concurrent, local_in_memory, local_on_disk, replicated_on_disk);
TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance_programs, local_in_memory, local_on_disk, replicated_on_disk);
