// The cluster-wide change feed's cursor and event reading (API.md section
// 4, "Under placement"; cluster_watch.hpp follows the nodes). Pure
// functions; thread-safe.
//
// A cluster cursor is "m" + 16 hex digits (the placement's hash) and, per
// followed node in id order, "_" + the node id in hex + "~" + that node's
// own cursor. Only URL-unreserved characters.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/api.hpp"

namespace sessionmesh::http {

// The hash a cluster cursor names: the nodes followed and the partitions
// each is followed for (the order of s.nodes does not matter).
uint64_t placement_hash(const placement_sources& s);

struct cluster_cursor {
  uint64_t hash = 0;
  std::map<std::string, std::string> at;  // node -> its own cursor (not empty)
};
// nullopt when c is not one (at most 256 nodes).
std::optional<cluster_cursor> parse_cluster_cursor(std::string_view c);
// at: (node, its cursor), any order.
std::string render_cluster_cursor(uint64_t hash, std::vector<std::pair<std::string_view, std::string_view>> at);

// What a node's feed message says: its type, and where its own "cursor"
// value is (npos: none). The messages come from our renderer
// (json_render.cpp): the type first, the event's cursor before any session
// data. nullopt when the message does not start that way.
struct event_text {
  std::string_view type;
  size_t cursor_at = std::string::npos, cursor_len = 0;
};
std::optional<event_text> read_event(std::string_view m);

}  // namespace sessionmesh::http
