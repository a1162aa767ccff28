// gossiper: what this node has applied of each peer's write stream, and the
// marks it sends each peer about its own (read-your-writes tokens; see
// gossiper::stream_state in the header).
#include "gossip/gossiper.hpp"

namespace sessionmesh::gossip {

namespace {

bool broken_streams = false;

// Raise through over the ranges that now join it.
void absorb(gossiper::stream_state& st) {
  while (!st.ranges.empty() && st.ranges.begin()->first <= st.through + 1) {
    st.through = std::max(st.through, st.ranges.begin()->second);
    st.ranges.erase(st.ranges.begin());
  }
}

// The current life moves to past; nothing is known of the next one yet.
void retire(gossiper::stream_state& st) {
  if (st.epoch != 0) st.past.emplace_back(st.epoch, st.through);
  if (st.past.size() > gossiper::stream_past_max) st.past.erase(st.past.begin());
  st.epoch = 0;
  st.through = 0;
  st.ranges.clear();
}

}  // namespace

void set_broken_streams_for_testing(bool broken) { broken_streams = broken; }

void gossiper::on_stream_applied(const std::string& from, uint64_t batch, uint64_t first, uint64_t through) {
  auto it = streams_.find(from);
  if (it == streams_.end() || it->second.epoch == 0) return;  // which life these belong to is not known yet
  auto& st = it->second;
  if ((batch >> 32) != (batch_life(st.epoch) >> 32)) return;  // another life's (or an older build's) batch
  if (through <= st.through) return;
  if (first <= st.through + 1 || broken_streams) {
    st.through = through;
    absorb(st);
  } else {
    auto [r, fresh] = st.ranges.try_emplace(first, through);
    if (!fresh) r->second = std::max(r->second, through);
    while (st.ranges.size() > stream_ranges_max) st.ranges.erase(std::prev(st.ranges.end()));
  }
  ++streams_version_;
}

void gossiper::on_stream_mark(const std::string& from, const stream_mark& m) {
  auto mit = members_.find(from);
  if (m.epoch == 0 || mit == members_.end()) return;
  mit->second.reads_marks = true;  // it sends them, so it reads them
  auto& st = streams_[from];
  if (m.epoch < st.epoch) return;  // a late mark of an earlier life
  for (const auto& [e, _] : st.past)
    if (e > m.epoch) return;  // the same, after its origin restarted
  if (m.epoch > st.epoch) {
    retire(st);
    st.epoch = m.epoch;
    // The same life again (its incarnation rose by a refutation, not a
    // restart): what we had counted of it still holds.
    for (auto p = st.past.begin(); p != st.past.end(); ++p)
      if (p->first == m.epoch) {
        st.through = p->second;
        st.past.erase(p);
        break;
      }
  }
  if (m.through > st.through) {
    st.through = m.through;
    absorb(st);
  }
  ++streams_version_;
}

void gossiper::forget_stream(const std::string& origin) {
  auto it = streams_.find(origin);
  if (it == streams_.end()) return;
  retire(it->second);
  ++streams_version_;
}

void gossiper::send_marks(uint64_t now) {
  next_mark_ms_ = now + cfg_.mark_interval_ms;
  for (auto& [id, m] : members_) {
    if (!m.reads_marks || (m.status != member_status::alive && m.status != member_status::suspect)) continue;
    // The first mark of this life goes out even at 0: it names the epoch,
    // and the peer starts counting our batches from it.
    if (m.marks_sent && m.marked_through == m.acked_through) continue;
    m.marked_through = m.acked_through;
    m.marks_sent = true;
    send(id, stream_mark{cfg_.incarnation, m.acked_through});
  }
}

}  // namespace sessionmesh::gossip
