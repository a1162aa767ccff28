// world: the fault schedule (see world.hpp).
#include "tests/sim/world.hpp"

namespace sessionmesh::sim::detail {

void world::chaos() {
  const auto pick = [&] { return nodes_[rng_() % nodes_.size()]->id; };
  const int kind = static_cast<int>(rng_() % 10);
  auto cut_both = [&](const std::string& a, const std::string& b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  };
  switch (kind) {
    case 0:
    case 1:
      cut_.clear();  // heal
      break;
    case 2:  // isolate one
      if (!p_.partitions) break;
      {
        const std::string x = p_.liveness ? nodes_.back()->id : pick();
        for (auto& n : nodes_)
          if (n->id != x) cut_both(x, n->id);
      }
      break;
    case 3:  // symmetric halves
      if (!p_.partitions || p_.liveness) break;
      for (size_t i = 0; i < nodes_.size(); ++i)
        for (size_t j = 0; j < nodes_.size(); ++j)
          if ((i % 2) != (j % 2)) cut_.insert({nodes_[i]->id, nodes_[j]->id});
      break;
    case 4:  // asymmetric: a hears b, b does not hear a
      if (!p_.partitions || p_.liveness) break;
      cut_.insert({pick(), pick()});
      break;
    case 5:  // clog a link for a while
      clog_until_[{pick(), pick()}] = now_ + 200 + rng_() % 1000;
      break;
    case 6:  // crash or restart
      if (!p_.crashes) break;
      {
        node& n = p_.liveness ? *nodes_.back() : *nodes_[rng_() % nodes_.size()];
        if (n.up)
          crash(n);
        else
          restart(n);
      }
      break;
    case 7:  // clock jump within the tolerated offset (with the initial offsets,
             // clocks stay less than max_clock_offset_ms apart)
      nodes_[rng_() % nodes_.size()]->clock.jump_ms = static_cast<int64_t>(rng_() % 200) - 100;
      break;
    case 9:  // a clock jump beyond it, forward or back (in liveness mode
             // on the node outside the stable majority)
      if (p_.skew_ms) break;
      {
        node& n = p_.liveness ? *nodes_.back() : *nodes_[rng_() % nodes_.size()];
        const auto j = static_cast<int64_t>(p_.max_clock_offset_ms + 100 + rng_() % 2500);
        n.clock.jump_ms = rng_() % 3 == 0 ? -j : j;
      }
      break;
    case 8:  // majorities ring: each node hears only its two neighbours
      if (!p_.partitions || p_.liveness || nodes_.size() < 4) break;
      for (size_t i = 0; i < nodes_.size(); ++i)
        for (size_t j = 0; j < nodes_.size(); ++j) {
          const size_t d = (i + nodes_.size() - j) % nodes_.size();
          if (d != 0 && d != 1 && d != nodes_.size() - 1) cut_.insert({nodes_[i]->id, nodes_[j]->id});
        }
      break;
  }
  const uint64_t k = static_cast<uint64_t>(kind);
  mix(&k, sizeof k);
}

void world::scripted_skew() {
  if (!p_.skew_ms) return;
  node& n = *nodes_.back();
  if (now_ == t0_ms + 500) n.clock.jump_ms = p_.skew_ms;
  if (now_ == t0_ms + p_.skew_fix_ms) n.clock.jump_ms = 0;
  if (!n.up) return;
  size_t others = 0, ahead = 0;
  const uint64_t mine = std::max(n.st->clock_ms(), n.now->load());
  for (auto& o : nodes_) {
    if (o.get() == &n || !o->up) continue;
    ++others;
    if (mine > *o->now + p_.max_clock_offset_ms) ++ahead;
  }
  const bool truly = others > 0 && 2 * ahead > others;
  if (truly && !ahead_since_) ahead_since_ = now_;
  if (!truly && ahead_since_) ahead_since_ = 0, in_range_since_ = now_;
}

}  // namespace sessionmesh::sim::detail
