#include "sessionmesh/sessionmesh.hpp"
#include "store/local_store.hpp"

namespace sessionmesh {

result<std::unique_ptr<session_store>> open_store(const store_options& opts, std::string* why) {
  auto st = store::local_store::open(opts, store::posix_fs(), why);
  if (!st) return st.error();
  return std::unique_ptr<session_store>(std::move(st).value());
}

std::string_view version_string() { return "0.1.0"; }

}  // namespace sessionmesh
