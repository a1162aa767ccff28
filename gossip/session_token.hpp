// session_token: the read-your-writes token a write answers with
// (X-Sessionmesh-Session-Token) and a read presents. It names, per node
// that took one of the caller's writes, the last of them in that node's
// write stream: (node, epoch, seq) — node: xxh3_64 of the node id (the
// stamp's node tag); epoch: that node's start incarnation (one life of
// its stream); seq: the write's number in it (replication::local_delta).
// A node may answer a read carrying it once it has applied every write of
// each named stream through its seq (gossiper::applied_through).
//
// Text form: entries "<node:16 hex>.<epoch hex>.<seq hex>" joined by ","
// (at most max_entries, at most one per (node, epoch); an entry of a later
// epoch of a node does not replace one of an earlier epoch: the streams of
// two lives are checked apart). Opaque to callers: they store what they
// are answered and send it back.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessionmesh::gossip {

struct token_entry {
  uint64_t node = 0;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  friend bool operator==(const token_entry&, const token_entry&) = default;
};

struct session_token {
  std::vector<token_entry> entries;  // sorted by (node, epoch), one each
};

inline constexpr size_t token_max_entries = 16;
inline constexpr size_t token_max_bytes = token_max_entries * 52;

// nullopt: malformed (bad hex, empty entry, too long, too many entries).
// An empty text is an empty token.
std::optional<session_token> parse_token(std::string_view text);
std::string format_token(const session_token& t);
// Adds e (keeping the greater seq for its (node, epoch)). Past
// max_entries the entries of the oldest epochs go first: a node's earliest
// life, then the next (that life's writes are in its later lives' logs).
void merge_token(session_token& t, const token_entry& e);
// The tag a node id has in stamps and tokens.
uint64_t token_node(std::string_view node_id);

}  // namespace sessionmesh::gossip
