// The local adapter passes the contract suite, in memory and on disk.
#include "tests/conformance/suite.hpp"

#include <cstdlib>
#include <filesystem>

#include "store/local_store.hpp"

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
    auto st = store::local_store::open(o, store::posix_fs(), nullptr);
    REQUIRE(st.has_value());
    return std::move(st).value();
  }
};

struct local_on_disk {
  static std::unique_ptr<session_store> open(store_options o) {
    o.data_dir = fresh_dir();
    o.fsync = fsync_mode::always;
    std::string why;
    auto st = store::local_store::open(o, store::posix_fs(), &why);
    REQUIRE_MESSAGE(st.has_value(), why);
    return std::move(st).value();
  }
};

}  // namespace

TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance, local_in_memory, local_on_disk);
TEST_CASE_TEMPLATE_INVOKE(sessionmesh_conformance_quota, local_in_memory, local_on_disk);
