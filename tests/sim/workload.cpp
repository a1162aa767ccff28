// world: the client workload and liveness (see world.hpp).
#include "tests/sim/world.hpp"

namespace sessionmesh::sim::detail {

uint64_t parse_hex(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return v;
}

// Sets sid.var on n (creating the session if needed) and records what was
// acknowledged for the model; one write in three also asks for acks=N.
void world::write_var(node& n, const std::string& sid, const std::string& var) {
  const std::string value = "\"" + n.id + "-" + std::to_string(++counter_) + "\"";
  if (!n.rs->exists(sid).value()) {
    create_request cr;
    cr.id = sid;
    cr.ttl_s = 86400;
    (void)n.rs->create(cr);
  }
  auto& a = writes_[{sid, var}];
  a.push_back({value, 0, 0, false});
  patch_request pr;
  pr.variables = {{var, value}};
  auto r = n.rs->patch(sid, pr);
  if (!r && r.error() == errc::clock_skew) ++rep_.clock_refused;
  if (p_.skew_ms && &n == nodes_.back().get()) check_skew_rule(n, r.has_value());
  if (r) {
    const std::string v = r->version();
    a.back().hlc = parse_hex(v.substr(0, 16));
    a.back().node = parse_hex(v.substr(16));
    a.back().acked = true;
    ++rep_.acked_writes;
    if (a.back().hlc <= n.last_stamp) fail(n.id + ": HLC went backwards");
    n.last_stamp = a.back().hlc;
    token_writes_.push_back({{gossip::token_node(n.id), n.d->gossip().epoch(), n.d->last_seq()}, n.id, sid, var,
                             crdt::stamp{a.back().hlc, a.back().node}, n.d->layout()});
    if (token_writes_.size() > 64) token_writes_.pop_front();
    if (rng_() % 3 == 0) {  // acks=N: the driver answers once N nodes applied it
      const unsigned acks = 2 + static_cast<unsigned>(rng_() % std::max<size_t>(1, nodes_.size() - 1));
      const crdt::stamp ts{a.back().hlc, a.back().node};
      n.d->when_acked(n.d->last_seq(), acks, *n.now + 200 + rng_() % 2000,
                      [this, origin = n.id, sid, var, ts, acks](bool met) {
                        if (met) check_acked(origin, sid, var, ts, acks);
                      });
    }
  }
}

node* world::route(node& n, const std::string& id) {
  if (!p_.replicas) return &n;
  const auto layout = n.d->layout();
  const uint32_t part = gossip::partition_of(id);
  if (layout->nodes().empty() || layout->holds(part, n.id)) return &n;
  for (const auto& r : layout->replicas(part))
    if (node* t = by_id(r); t && t->up && !cut_.count({n.id, r}) && !cut_.count({r, n.id})) return t;
  return nullptr;
}

void world::client_op() {
  std::vector<node*> up;
  for (auto& n : nodes_)
    if (n->up && (!p_.liveness || n.get() != nodes_.back().get())) up.push_back(n.get());
  if (up.empty()) return;
  node& n = *up[rng_() % up.size()];
  const int kind = static_cast<int>(rng_() % 10);
  const std::string sid = "s" + std::to_string(rng_() % 8);
  if (kind < 6 && rng_() % 4 == 0) {  // a conflict: every up node writes one register at once
    const std::string var = "v" + std::to_string(rng_() % 3);
    for (auto* m : up)
      if (node* t = route(*m, sid)) write_var(*t, sid, var);
  } else if (kind < 6) {  // set a variable
    if (node* t = route(n, sid)) write_var(*t, sid, "v" + std::to_string(rng_() % 3));
  } else if (kind < 8) {  // a session created, then deleted: must stay gone
    const std::string did = "d" + std::to_string(++counter_);
    create_request cr;
    cr.id = did;
    cr.ttl_s = 86400;
    if (node* t = route(n, did); t && t->rs->create(cr) && t->rs->remove(did)) deleted_.insert(did);
  } else if (kind == 8 && rng_() % 2 == 0) {  // reads (lazy touch) and explicit touches
    if (node* t = route(n, sid); t && rng_() % 2)
      (void)t->rs->get(sid);
    else if (t)
      (void)t->rs->touch(sid);
  } else {  // a short-lived session: must expire everywhere
    const std::string eid = "e" + std::to_string(++counter_);
    create_request cr;
    cr.id = eid;
    cr.ttl_s = 1;
    if (node* t = route(n, eid))
      if (auto r = t->rs->create(cr)) expiring_[eid] = r->value.expires_at_ms();
  }
  mix(sid.data(), sid.size());
}

void world::check_skew_rule(node& n, bool acked) {
  if (p_.partitions || p_.crashes || p_.skew_ms <= static_cast<int64_t>(p_.max_clock_offset_ms)) return;
  if (acked && ahead_since_ && now_ >= ahead_since_ + p_.skew_detect_ms)
    fail(n.id + ": a write was acknowledged " + std::to_string(now_ - ahead_since_) +
         " ms after its clock ran ahead of most peers beyond max_clock_offset_ms");
  if (!acked && !ahead_since_ && in_range_since_ && now_ >= in_range_since_ + p_.skew_detect_ms)
    fail(n.id + ": writes still refused " + std::to_string(now_ - in_range_since_) +
         " ms after its clock came back in range");
  if (acked && ahead_since_) ++acked_while_ahead_;
  if (acked && !ahead_since_ && in_range_since_) ++acked_after_range_;
  if (!acked && ahead_since_) ++refused_while_ahead_;
}

void world::check_liveness() {
  // With a stable majority (all but the last node) connected, a write on
  // one of them reaches the others within 3 s.
  if (now_ < next_liveness_ || nodes_.size() < 3) return;
  next_liveness_ = now_ + 1000;
  node& a = *nodes_[0];
  const std::string id = "live" + std::to_string(++counter_);
  create_request cr;
  cr.id = id;
  cr.ttl_s = 86400;
  if (!a.rs->create(cr)) {
    fail("liveness: a write on the majority was refused");
    return;
  }
  pending_live_.emplace_back(id, now_ + 3000);
  std::erase_if(pending_live_, [&](const auto& pl) {
    bool everywhere = true;
    for (size_t i = 0; i + 1 < nodes_.size(); ++i)
      everywhere &= nodes_[i]->up && nodes_[i]->st->peek(pl.first).has_value();
    if (everywhere) return true;
    if (now_ > pl.second) {
      fail("liveness: " + pl.first + " did not reach the majority within 3 s");
      return true;
    }
    return false;
  });
}

}  // namespace sessionmesh::sim::detail
