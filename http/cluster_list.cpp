// api: the cluster-wide list under placement (API.md section 3,
// "Placement"). Each partition is listed by one node, its serving
// replica; this node asks each such node for one page (the same query,
// marked forwarded so it answers from itself) and merges them by id.
//
// Paging stays exact: a node that has more past its page bounds the merged
// page at its page's last id (nothing past it is known), so the next page
// starts there and nothing is skipped or listed twice.
#include <simdjson.h>

#include <algorithm>

#include "gossip/placement.hpp"
#include "http/api.hpp"
#include "http/json_render.hpp"
#include "store/validate.hpp"

namespace sessionmesh::http {
namespace {

struct listed {
  std::string id;
  std::string json;  // the entry as its node rendered it
};

struct page_part {
  std::string_view body;
  std::bitset<256> parts;
  std::string node;
};

uint32_t partition_for(std::string_view id, bool programs) {
  if (!programs) return gossip::partition_of(id);
  std::string rid(store::global_record_prefix);
  rid.append(id);
  return gossip::partition_of(rid);
}

// Takes the entries of one node's page that fall in its partitions into
// out; bound: lowered to the page's last id when the node has more. An
// error names what was wrong.
result<void> take_page(const page_part& p, bool programs, std::vector<listed>& out, std::optional<std::string>& bound) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(p.body.data(), p.body.size()).get(doc) != simdjson::SUCCESS)
    return result<void>(errc::unavailable, "node " + p.node + " answered a list that is not JSON");
  simdjson::dom::array items;
  if (doc[programs ? "programs" : "sessions"].get(items) != simdjson::SUCCESS)
    return result<void>(errc::unavailable, "node " + p.node + " answered a list without its entries");
  std::string last;
  for (auto item : items) {
    std::string_view id;
    if (item["id"].get(id) != simdjson::SUCCESS)
      return result<void>(errc::unavailable, "node " + p.node + " answered an entry without an id");
    last.assign(id);
    if (!p.parts.test(partition_for(id, programs))) continue;
    out.push_back({std::string(id), simdjson::minify(item)});
  }
  simdjson::dom::element next;
  const bool more = doc["next_cursor"].get(next) == simdjson::SUCCESS && !next.is_null();
  if (more && !last.empty() && (!bound || last < *bound)) bound = last;
  return {};
}

}  // namespace

std::optional<response> api::cluster_list(const request_view& req, bool programs, std::string_view prefix,
                                          size_t limit, std::string_view cursor, const std::string& rid) {
  if (!hooks_.sources || !req.forwarded.empty()) return std::nullopt;
  auto src = hooks_.sources();
  if (src.nodes.empty()) return std::nullopt;
  if (src.uncovered)
    return error(503, "owner_unavailable",
                 std::to_string(src.uncovered) + " partitions have no alive replica: the list would miss them", rid);
  auto fan = std::make_shared<fan_out>();
  fan->target.assign(req.target);
  std::vector<std::pair<std::bitset<256>, std::string>> remote;  // per target: partitions, node
  std::optional<std::pair<std::bitset<256>, std::string>> here;  // this node's share, rendered
  for (auto& n : src.nodes) {
    if (!n.self) {
      fan->targets.push_back(n.http_addr);
      remote.emplace_back(n.parts, n.node_id);
      continue;
    }
    std::string body;
    if (programs) {
      auto page = store_.list_global_programs(prefix, limit, cursor);
      if (!page) return store_error(page.error(), rid);
      render_program_list(body, *page, page->size() == limit);
    } else {
      auto page = store_.list(prefix, limit, cursor);
      if (!page) return store_error(page.error(), rid);
      render_list(body, *page);
    }
    here.emplace(n.parts, std::move(body));
  }
  const std::string self_id = store_.node_id();
  fan->merge = [programs, limit, rid, remote = std::move(remote), here = std::move(here),
                self_id](std::vector<result<response>>& answers) -> response {
    std::vector<listed> all;
    std::optional<std::string> bound;
    std::vector<page_part> parts;
    if (here) parts.push_back({here->second, here->first, self_id});
    for (size_t i = 0; i < answers.size(); ++i) {
      const auto& [bits, node] = remote[i];
      if (!answers[i])
        return error(503, "owner_unavailable",
                     "the list needs node " + node + ", which did not answer: " + answers[i].describe(), rid);
      if (answers[i]->status != 200)
        return error(503, "owner_unavailable",
                     "the list needs node " + node + ", which answered " + std::to_string(answers[i]->status), rid);
      parts.push_back({answers[i]->body, bits, node});
    }
    for (const auto& p : parts)
      if (auto ok = take_page(p, programs, all, bound); !ok) return error(503, "owner_unavailable", ok.detail(), rid);
    std::sort(all.begin(), all.end(), [](const listed& a, const listed& b) { return a.id < b.id; });
    all.erase(std::unique(all.begin(), all.end(), [](const listed& a, const listed& b) { return a.id == b.id; }),
              all.end());
    if (bound) std::erase_if(all, [&](const listed& e) { return e.id > *bound; });
    std::optional<std::string> next = bound;
    if (all.size() >= limit) {
      all.resize(limit);
      next = all.back().id;
    }
    response r;
    r.body = programs ? "{\"programs\":[" : "{\"sessions\":[";
    for (size_t i = 0; i < all.size(); ++i) {
      if (i) r.body += ',';
      r.body += all[i].json;
    }
    r.body += "],\"next_cursor\":";
    if (next) append_json_string(r.body, *next);
    else r.body += "null";
    r.body += '}';
    return r;
  };
  response r;
  r.fan = std::move(fan);
  return r;
}

}  // namespace sessionmesh::http
