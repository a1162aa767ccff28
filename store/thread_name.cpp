#include "store/thread_name.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstring>

namespace sessionmesh::store {

void name_this_thread(std::string_view name) {
  char buf[16];  // the kernel's TASK_COMM_LEN, its terminating zero included
  const size_t n = std::min(name.size(), sizeof buf - 1);
  std::memcpy(buf, name.data(), n);
  buf[n] = '\0';
  (void)pthread_setname_np(pthread_self(), buf);
}

}  // namespace sessionmesh::store
