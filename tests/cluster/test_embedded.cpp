// The embedded replicated adapter, linked from libsessionmesh.a as an
// embedder would: two stores in one process on loopback TCP ports join,
// replicate a write each way and agree on the owner. Real sockets and
// threads, so it waits on the wall clock (bounded polling).
#include <doctest/doctest.h>
#include <ostream>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "sessionmesh/replicated.hpp"
#include "sessionmesh/sessionmesh.hpp"

using namespace sessionmesh;

namespace {

uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t n = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

template <class P>
bool eventually(P pred, int ms = 10000) {
  for (int waited = 0; waited < ms; waited += 20) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace

TEST_CASE("embedded replicated adapter: two in-process nodes replicate over TCP") {
  const uint16_t pa = free_port(), pb = free_port();
  store_options oa, ob;
  oa.node_id = "emb-a";
  ob.node_id = "emb-b";
  replication_options ra, rb;
  ra.gossip_port = pa;
  ra.seeds = {"127.0.0.1:" + std::to_string(pa)};
  rb.gossip_port = pb;
  rb.seeds = {"127.0.0.1:" + std::to_string(pa)};
  std::string why;
  auto a = open_replicated_store(oa, ra, &why);
  REQUIRE_MESSAGE(a.has_value(), why);
  auto b = open_replicated_store(ob, rb, &why);
  REQUIRE_MESSAGE(b.has_value(), why);
  CHECK((*a)->adapter_name() == "replicated");

  REQUIRE((*a)->create(create_request{"e1", 600, {}, {{"v", "1"}}, {}, {}}).has_value());
  CHECK(eventually([&] { return (*b)->peek("e1").has_value(); }));
  patch_request p;
  p.variables = {{"w", std::string("\"from-b\"")}};
  REQUIRE((*b)->patch("e1", p).has_value());
  CHECK(eventually([&] {
    auto s = (*a)->peek("e1");
    return s && s->find(section::variables, "w") == std::optional<std::string_view>("\"from-b\"");
  }));
  CHECK(
      eventually([&] { return (*a)->owner_of("e1") == (*b)->owner_of("e1") && (*a)->owner_of("e1") != ""; }));
  CHECK((*a)->wait_replicated(2, 5000).has_value());  // acks=2: b applied a's last write
  CHECK(telemetry_of(**a) != nullptr);

  // The same gossip port twice: a clear error, not a crash.
  store_options oc;
  oc.node_id = "emb-c";
  auto c = open_replicated_store(oc, ra, &why);
  CHECK_FALSE(c.has_value());
  CHECK_FALSE(why.empty());
  (*b)->close();
  (*a)->close();
}

TEST_CASE("an embedded replicated node away past the tombstone grace resyncs instead of resurrecting") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sm-emb-stale-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  for (auto& e : fs::directory_iterator(fs::temp_directory_path()))
    if (e.path().filename().string().rfind(dir.filename().string() + ".stale-", 0) == 0) fs::remove_all(e.path());
  const uint16_t pa = free_port(), pb = free_port();
  store_options oa, ob;
  oa.node_id = "stale-a";
  oa.data_dir = dir.string();
  oa.tombstone_grace_ms = 2000;
  oa.fsync = fsync_mode::always;
  ob.node_id = "stale-b";
  replication_options ra, rb;
  ra.gossip_port = pa;
  ra.seeds = {"127.0.0.1:" + std::to_string(pb)};
  rb.gossip_port = pb;
  rb.seeds = {"127.0.0.1:" + std::to_string(pb)};
  std::string why;
  auto b = open_replicated_store(ob, rb, &why);
  REQUIRE_MESSAGE(b.has_value(), why);
  {
    auto a = open_replicated_store(oa, ra, &why);
    REQUIRE_MESSAGE(a.has_value(), why);
    REQUIRE((*a)->create(create_request{"doomed", 600, {}, {}, {}, {}}).has_value());
    CHECK(eventually([&] { return (*b)->peek("doomed").has_value(); }));
    // a records its contact with b (every few seconds while a peer is alive).
    CHECK(eventually([&] { return fs::exists(dir / "last_contact"); }, 15000));
    (*a)->close();
  }
  // While a is away, b deletes the session and, past the grace, purges the
  // tombstone (here: b forgets it by never having more than the delete).
  REQUIRE((*b)->remove("doomed").has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // a is away longer than the grace
  auto a = open_replicated_store(oa, ra, &why);
  REQUIRE_MESSAGE(a.has_value(), why);
  bool aside = false;
  for (auto& e : fs::directory_iterator(fs::temp_directory_path()))
    aside |= e.path().filename().string().rfind(dir.filename().string() + ".stale-", 0) == 0;
  CHECK_MESSAGE(aside, "the stale data dir was moved aside");
  CHECK_FALSE((*a)->peek("doomed").has_value());  // not replayed from the old log
  CHECK(eventually([&] { return !(*b)->peek("doomed").has_value(); }));
  (*a)->close();
  (*b)->close();
  fs::remove_all(dir);
  for (auto& e : fs::directory_iterator(fs::temp_directory_path()))
    if (e.path().filename().string().rfind(dir.filename().string() + ".stale-", 0) == 0) fs::remove_all(e.path());
}
