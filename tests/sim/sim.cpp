#include "tests/sim/sim.hpp"

#include "tests/sim/world.hpp"

namespace sessionmesh::sim {

std::string report::describe() const {
  std::string s = ok ? "ok" : "FAILED";
  s += " trace=" + std::to_string(trace_hash) + " converge_ms=" + std::to_string(converge_ms) +
       " messages=" + std::to_string(messages) + " bytes=" + std::to_string(bytes) +
       " acked=" + std::to_string(acked_writes) + " acked_replicated=" + std::to_string(acked_replicated) + " lost=" + std::to_string(lost) +
       " repaired=" + std::to_string(records_repaired) + " clock_refused=" + std::to_string(clock_refused) +
       " token_checks=" + std::to_string(token_checks) + " handed_off=" + std::to_string(handed_off);
  for (const auto& f : failures) s += "\n    " + f;
  return s;
}

report run(const params& p) {
  detail::world w(p);
  return w.run();
}

}  // namespace sessionmesh::sim
