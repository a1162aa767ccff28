#include "gossip/replication_driver.hpp"

#include <algorithm>

namespace sessionmesh::gossip {

namespace {
bool broken_ack = false;
}  // namespace

void set_broken_ack_for_testing(bool broken) { broken_ack = broken; }

size_t replication_driver::acked_count(uint64_t seq) const {
  if (broken_ack) {
    size_t n = 1;
    for (const auto& [_, m] : g_.members()) n += m.status == member_status::alive;
    return n;
  }
  return 1 + g_.acked(seq);
}

replication_driver::replication_driver(config c, store_port& store, size_t max_ack_waiters)
    : g_(std::move(c), store), store_(store), max_waiters_(max_ack_waiters) {
  refresh_applied();
}

void replication_driver::start(uint64_t now_ms) {
  g_.start(now_ms);
  settle(now_ms);
}

void replication_driver::on_message(const std::string& from_node, const message& m, uint64_t now_ms,
                                    const std::string& from_addr) {
  g_.on_message(from_node, m, now_ms, from_addr);
  settle(now_ms);
}

void replication_driver::on_tick(uint64_t now_ms) {
  g_.on_tick(now_ms);
  settle(now_ms);
}

uint64_t replication_driver::local_delta(std::string encoded, uint32_t partition) {
  return g_.local_delta(std::move(encoded), partition);
}

void replication_driver::when_acked(uint64_t seq, unsigned acks, uint64_t deadline_ms, ack_callback done) {
  const bool met = acked_count(seq) >= acks;
  if (met || stopped_ || waiters_.size() >= max_waiters_ || deadline_ms <= now_ms_) {
    out_.acks.emplace_back(std::move(done), met);
    return;
  }
  waiters_.push_back({seq, acks, deadline_ms, std::move(done)});
}

void replication_driver::when_applied(session_token t, uint64_t deadline_ms, ack_callback done) {
  const bool met = !applied_->first_unmet(t);
  if (met || stopped_ || apply_waiters_.size() >= max_waiters_ || deadline_ms <= now_ms_) {
    out_.acks.emplace_back(std::move(done), met);
    return;
  }
  apply_waiters_.push_back({std::move(t), deadline_ms, std::move(done)});
}

void replication_driver::refresh_applied() {
  if (g_.streams_version() != applied_version_) {
    applied_version_ = g_.streams_version();
    auto v = std::make_shared<applied_view>();
    v->self_node = token_node(g_.node_id());
    v->self_epoch = g_.epoch();
    v->incomplete = g_.incomplete();
    for (const auto& [id, st] : g_.streams()) {
      const uint64_t node = token_node(id);
      for (const auto& [e, through] : st.past) v->facts.push_back({node, e, through});
      if (st.epoch) v->facts.push_back({node, st.epoch, st.through});
    }
    std::sort(v->facts.begin(), v->facts.end(), [](const auto& a, const auto& b) {
      return std::pair(a.node, a.epoch) < std::pair(b.node, b.epoch);
    });
    applied_ = std::move(v);
  }
}

// Answers (into the output) every waiter that is met or past its deadline.
template <class W, class Met>
void replication_driver::answer_due(std::vector<W>& ws, uint64_t now_ms, Met met_of) {
  for (size_t i = 0; i < ws.size();) {
    auto& w = ws[i];
    const bool met = met_of(w);
    if (met || now_ms >= w.deadline_ms) {
      out_.acks.emplace_back(std::move(w.done), met);
      w = std::move(ws.back());
      ws.pop_back();
    } else {
      ++i;
    }
  }
}

void replication_driver::check_apply_waiters(uint64_t now_ms) {
  refresh_applied();
  answer_due(apply_waiters_, now_ms, [&](const apply_waiter& w) { return !applied_->first_unmet(w.t); });
  if (!empty_waiters_.empty()) {
    const bool empty = store_.merkle_root() == 0;
    answer_due(empty_waiters_, now_ms, [&](const empty_waiter&) { return empty; });
  }
}

void replication_driver::when_handed_off(uint64_t deadline_ms, ack_callback done) {
  const bool met = store_.merkle_root() == 0;
  if (met || stopped_ || empty_waiters_.size() >= max_waiters_ || deadline_ms <= now_ms_) {
    out_.acks.emplace_back(std::move(done), met);
    return;
  }
  empty_waiters_.push_back({deadline_ms, std::move(done)});
}

namespace {
const applied_view::fact* find_fact(const std::vector<applied_view::fact>& facts, const token_entry& e) {
  auto it = std::lower_bound(facts.begin(), facts.end(), std::pair(e.node, e.epoch),
                             [](const applied_view::fact& f, const std::pair<uint64_t, uint64_t>& k) {
                               return std::pair(f.node, f.epoch) < k;
                             });
  return it != facts.end() && it->node == e.node && it->epoch == e.epoch ? &*it : nullptr;
}
}  // namespace

bool applied_view::covers(const token_entry& e) const {
  if (e.node == self_node) return e.epoch <= self_epoch;
  const fact* f = find_fact(facts, e);
  return f && f->through >= e.seq;
}

bool applied_view::knows(const token_entry& e) const { return e.node == self_node || find_fact(facts, e); }

std::optional<token_entry> applied_view::first_unmet(const session_token& t, uint32_t p) const {
  const bool partial = p < partition_count && incomplete.test(p);
  for (const auto& e : t.entries)
    if (partial || !covers(e)) return e;
  return std::nullopt;
}

void replication_driver::on_durable(uint64_t lsn, uint64_t now_ms) {
  g_.on_durable(lsn);
  settle(now_ms);
}

void replication_driver::leave(uint64_t now_ms) {
  g_.leave(now_ms);
  settle(now_ms);
}

void replication_driver::stop() {
  stopped_ = true;
  for (auto& w : waiters_) out_.acks.emplace_back(std::move(w.done), acked_count(w.seq) >= w.acks);
  waiters_.clear();
  for (auto& w : apply_waiters_) out_.acks.emplace_back(std::move(w.done), !applied_->first_unmet(w.t));
  apply_waiters_.clear();
  for (auto& w : empty_waiters_) out_.acks.emplace_back(std::move(w.done), store_.merkle_root() == 0);
  empty_waiters_.clear();
}

driver_output replication_driver::take_output() { return std::exchange(out_, {}); }

cluster_view replication_driver::view() const {
  cluster_view v;
  v.self = g_.self();
  for (const auto& [_, m] : g_.members()) v.members.push_back(m);
  v.owners = layout_->nodes();
  v.layout = layout_;
  v.stats = g_.stats();
  v.pending = g_.pending_deltas();
  v.clock_ahead = g_.clock_ahead();
  v.clock_behind = g_.clock_behind();
  v.clock_lead_ms = g_.clock_lead_ms();
  return v;
}

std::string replication_driver::owner_of(std::string_view id) const {
  if (layout_->nodes().empty()) return g_.node_id();
  return layout_->owner_of(id);
}

void replication_driver::settle(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  for (auto& e : g_.take_outbox()) out_.outbox.push_back(std::move(e));
  if (const uint64_t lsn = g_.take_sync_wanted()) out_.sync = std::max(out_.sync.value_or(0), lsn);
  std::string reason;
  for (auto& [node, st] : g_.take_changes()) {
    if (st == member_status::dead)
      reason = "node_dead";
    else if (st == member_status::left && reason.empty())
      reason = "node_left";
    else if (st == member_status::alive && reason.empty())
      reason = "node_joined";
    out_.changes.emplace_back(std::move(node), st);
  }
  for (auto& h : g_.take_handoffs()) out_.handoffs.push_back(std::move(h));
  if (g_.layout_version() != layout_version_) {
    layout_version_ = g_.layout_version();
    auto before = std::exchange(layout_, std::make_shared<const placement>(g_.layout()));
    if (before->nodes() != layout_->nodes()) publish_moves(*before, reason.empty() ? "node_joined" : reason);
  }
  if (g_.clock_ahead() != gate_ahead_) {
    gate_ahead_ = g_.clock_ahead();
    out_.clock_ahead = gate_ahead_;
  }
  check_waiters(now_ms_);
  check_apply_waiters(now_ms_);
}

void replication_driver::check_waiters(uint64_t now_ms) {
  answer_due(waiters_, now_ms, [&](const waiter& w) { return acked_count(w.seq) >= w.acks; });
}

// Batched `moved` events for every live session whose owner changed.
void replication_driver::publish_moves(const placement& before, const std::string& reason) {
  if (before.nodes().empty() || layout_->nodes().empty()) return;
  std::vector<session_move> moves;
  store_.for_each_live([&](std::string_view id) {
    auto from = before.owner_of(id), to = layout_->owner_of(id);
    if (from != to) moves.push_back({std::string(id), std::move(from), std::move(to)});
  });
  for (size_t i = 0; i < moves.size(); i += moved_batch_max) {
    const size_t end = std::min(moves.size(), i + moved_batch_max);
    out_.moves.push_back(
        {reason, std::vector<session_move>(
                     std::make_move_iterator(moves.begin() + static_cast<std::ptrdiff_t>(i)),
                     std::make_move_iterator(moves.begin() + static_cast<std::ptrdiff_t>(end)))});
  }
}

}  // namespace sessionmesh::gossip
