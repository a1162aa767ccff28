// thread_name: names the calling thread, as `top -H`, `ps -L`, perf and
// gdb show it ("sm-http-0", "sm-wal-sync", ...). Linux keeps 15 bytes of a
// name: a longer one is cut there. Best effort: a refusal is ignored (the
// name is for people reading a process, nothing depends on it).
// Thread: names only the caller.
#pragma once

#include <string_view>

namespace sessionmesh::store {

void name_this_thread(std::string_view name);

}  // namespace sessionmesh::store
