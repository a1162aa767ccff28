// name_this_thread: the calling thread takes the name, cut to the kernel's
// 15 bytes; other threads keep theirs.
#include <pthread.h>

#include <string>
#include <thread>

#include <doctest/doctest.h>
#include "store/thread_name.hpp"

using sessionmesh::store::name_this_thread;

namespace {
std::string name_of(pthread_t t) {
  char buf[32] = {};
  REQUIRE(pthread_getname_np(t, buf, sizeof buf) == 0);
  return buf;
}
}  // namespace

TEST_CASE("name_this_thread names the caller only, cut to 15 bytes") {
  const std::string before = name_of(pthread_self());
  std::string short_name, long_name;
  std::thread t([&] {
    name_this_thread("sm-test-1");
    short_name = name_of(pthread_self());
    name_this_thread("sm-a-name-longer-than-fifteen-bytes");
    long_name = name_of(pthread_self());
  });
  t.join();
  CHECK(short_name == "sm-test-1");
  CHECK(long_name == "sm-a-name-longe");
  CHECK(name_of(pthread_self()) == before);
}
