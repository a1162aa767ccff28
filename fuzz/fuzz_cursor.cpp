// libFuzzer: what the cluster-wide feed reads from outside (cluster_cursor.hpp):
// a watcher's cursor (any client), a partition set (another node's header)
// and a followed node's event text. A cursor that parses renders to one that
// parses to the same; an event's cursor lies inside the message; a partition
// set round-trips.
#include <cstdint>
#include <cstdlib>

#include "http/cluster_cursor.hpp"
#include "http/path.hpp"

using namespace sessionmesh::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto c = parse_cluster_cursor(text)) {
    if (c->at.size() > 256) std::abort();
    std::vector<std::pair<std::string_view, std::string_view>> at(c->at.begin(), c->at.end());
    const std::string once = render_cluster_cursor(c->hash, at);
    if (percent_encode(once) != once) std::abort();
    auto again = parse_cluster_cursor(once);
    if (!again || again->hash != c->hash || again->at != c->at) std::abort();
  }
  if (auto e = read_event(text)) {
    if (e->type.data() < text.data() || e->type.data() + e->type.size() > text.data() + text.size()) std::abort();
    if (e->cursor_at != std::string::npos && e->cursor_at + e->cursor_len > text.size()) std::abort();
  }
  if (auto p = parse_partitions_hex(text)) {
    if (auto back = parse_partitions_hex(partitions_hex(*p)); !back || *back != *p) std::abort();
  }
  return 0;
}
