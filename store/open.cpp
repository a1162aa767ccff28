#include "sessionmesh/sessionmesh.hpp"
#include "store/instrumented_store.hpp"
#include "store/local_store.hpp"

namespace sessionmesh {

result<std::unique_ptr<session_store>> open_store(const store_options& opts, std::string* why) {
  store_options o = opts;
  if (!o.telemetry_hub) o.telemetry_hub = std::make_shared<telemetry>();
  auto st = store::local_store::open(o, store::posix_fs());
  if (!st) {
    if (why) *why = st.describe();  // the compatibility shim (see sessionmesh.hpp)
    return failed<std::unique_ptr<session_store>>(st);
  }
  return std::unique_ptr<session_store>(
      new store::instrumented_store(std::move(st).value(), o.telemetry_hub));
}

std::shared_ptr<telemetry> telemetry_of(session_store& st) {
  if (auto* inst = dynamic_cast<store::instrumented_store*>(&st)) return inst->hub();
  return nullptr;
}

std::string_view version_string() { return "0.1.0"; }

}  // namespace sessionmesh
