// libFuzzer: the session token parser (X-Sessionmesh-Session-Token comes
// from any client). Whatever parses formats to text that parses to the same
// entries, within the limits; merging keeps at most token_max_entries.
#include <cstdint>
#include <cstdlib>

#include "gossip/session_token.hpp"

using namespace sessionmesh::gossip;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = parse_token(text);
  if (!t) return 0;
  if (t->entries.size() > token_max_entries) std::abort();
  const std::string once = format_token(*t);
  if (once.size() > token_max_bytes) std::abort();
  auto again = parse_token(once);
  if (!again || again->entries != t->entries) std::abort();
  for (const auto& e : t->entries) merge_token(*again, {e.node ^ 1, e.epoch, e.seq});
  if (again->entries.size() > token_max_entries) std::abort();
  if (!parse_token(format_token(*again))) std::abort();
  return 0;
}
