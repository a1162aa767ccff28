// world: the checkers (see world.hpp).
#include "tests/sim/world.hpp"

namespace sessionmesh::sim::detail {

std::set<std::string> world::view_of(node& n) {
  std::set<std::string> v;
  if (n.d->gossip().self().status == gossip::member_status::alive) v.insert(n.id);
  for (const auto& [id, m] : n.d->gossip().members())
    if (m.status == gossip::member_status::alive) v.insert(id);
  return v;
}

bool world::views_agree() {
  for (auto& n : nodes_)
    if (!n->up || view_of(*n).size() != nodes_.size()) return false;
  return true;
}

std::string world::views() {
  std::string s;
  for (auto& n : nodes_) {
    s += n->id + ":{";
    if (n->up) {
      for (const auto& [id, m] : n->d->gossip().members()) s += id + "=" + gossip::status_name(m.status) + " ";
    }
    s += "} ";
  }
  return s;
}

bool world::replicates(const std::string& node_id, const std::string& record_id) {
  if (!p_.replicas || !nodes_.front()->up) return true;
  return nodes_.front()->d->layout()->holds(gossip::partition_of(record_id), node_id);
}

bool world::converged() {
  if (p_.replicas) {
    // Every partition on its replicas alone, equal on each of them.
    for (auto& n : nodes_)
      if (!n->up) return false;
    const auto layout = nodes_.front()->d->layout();
    std::vector<const gossip::placement::mask*> held;
    for (auto& n : nodes_) held.push_back(&layout->held_by(n->id));
    for (uint32_t p = 0; p < gossip::partition_count; ++p) {
      std::optional<uint64_t> h;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        auto& n = nodes_[i];
        const uint64_t mine = n->st->merkle().node(2, p);
        if (!held[i]->test(p)) {
          if (mine != 0) return false;
          continue;
        }
        if (h && *h != mine) return false;
        h = mine;
      }
    }
    return true;
  }
  uint64_t root = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->up) return false;
    const uint64_t r = nodes_[i]->st->merkle().root();
    if (i == 0)
      root = r;
    else if (r != root)
      return false;
  }
  return true;
}

void world::check_model() {
  for (auto& n : nodes_) {
    n->st->cleanup_expired();
    for (const auto& [key, as] : writes_) {
      const auto& [sid, var] = key;
      uint64_t best_hlc = 0, best_node = 0;
      bool any_acked = false;
      for (const auto& a : as)
        if (a.acked && std::tie(a.hlc, a.node) > std::tie(best_hlc, best_node))
          best_hlc = a.hlc, best_node = a.node, any_acked = true;
      if (!any_acked || !replicates(n->id, sid)) continue;
      auto s = n->st->peek(sid);
      if (!s) {
        fail(n->id + ": lost session " + sid);
        ++rep_.lost;
        continue;
      }
      auto v = s->find(section::variables, var);
      if (!v) {
        fail(n->id + ": lost " + sid + "." + var);
        ++rep_.lost;
        continue;
      }
      // The value must be the acknowledged write with the highest stamp,
      // or a write (acked or in flight at a crash) stamped above it.
      bool fine = false;
      for (const auto& a : as)
        if (a.value == *v && (!a.acked || std::tie(a.hlc, a.node) >= std::tie(best_hlc, best_node)))
          fine = true;
      if (!fine) fail(n->id + ": " + sid + "." + var + " = " + std::string(*v) + " is not the last write");
    }
    for (const auto& d : deleted_)
      if (n->st->peek(d)) fail(n->id + ": deleted session " + d + " came back");
    // Nothing touches these: their expiry never moves, and once a node's
    // own clock passed it they are gone there (a node whose clock runs
    // behind may still serve one: TTLs are wall-clock time).
    for (const auto& [e, expiry] : expiring_)
      if (auto s = n->st->peek(e); s && (s->expires_at_ms() != expiry || n->now->load() >= expiry))
        fail(n->id + ": expired session " + e + " came back");
  }
}

void world::check_tokens() {
  for (auto& n : nodes_) {
    if (!n->up) continue;
    const auto view = n->d->applied();
    // Each session decoded once per node (the writes are to a few sessions).
    std::map<std::string, std::optional<crdt::session_record>, std::less<>> held;
    for (const auto& w : token_writes_) {
      // As a read of w.sid here would count it (placement: in a partition
      // this node replicates and holds whole).
      const uint32_t part = p_.replicas ? gossip::partition_of(w.sid) : gossip::partition_count;
      if (p_.replicas && !n->d->layout()->holds(part, n->id)) continue;
      if (view->first_unmet(gossip::session_token{{w.e}}, part)) continue;
      if (w.origin != n->id) ++rep_.token_checks;
      auto h = held.find(w.sid);
      if (h == held.end()) {
        auto raw = n->st->raw_records({w.sid});
        std::optional<crdt::session_record> rec;
        if (!raw.empty())
          if (auto r = crdt::decode(raw.front())) rec = std::move(r).value();
        h = held.emplace(w.sid, std::move(rec)).first;
      }
      const crdt::entry_map* vars = h->second ? &h->second->map(section::variables) : nullptr;
      auto it = vars ? vars->find(w.var) : decltype(vars->end()){};
      if (!vars || it == vars->end() || it->second.ts < w.ts)
        fail(n->id + ": counts " + w.origin + "'s write " + std::to_string(w.e.seq) + " (life " +
             std::to_string(w.e.epoch) + ", " + w.sid + "." + w.var + ") applied but does not hold it" +
             (p_.replicas ? (w.layout->holds(gossip::partition_of(w.sid), n->id) ? " (a replica then)" : " (not a replica then)") : ""));
    }
  }
}

void world::check_ownership() {
  for (int i = 0; i < 20; ++i) {
    const std::string id = "own" + std::to_string(i);
    std::set<std::string> owners;
    for (auto& n : nodes_) owners.insert(n->d->owner_of(id));
    if (owners.size() != 1) fail("nodes disagree on the owner of " + id);
  }
}

}  // namespace sessionmesh::sim::detail
