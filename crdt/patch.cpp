#include "crdt/patch.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "crdt/codec.hpp"
#include "crdt/mp_writer.hpp"
#include "crdt/trusted_reader.hpp"

namespace sessionmesh::crdt {
namespace {

// The record's node table and how many registers each of its tags stamps:
// a tag no register stamps any more would leave the table (and renumber the
// others), which only a full encode does.
class tag_refs {
 public:
  static constexpr size_t max_tags = 32;
  // Only the first n entries of the arrays are set, and only they are read.
  explicit tag_refs(std::string_view nodes) : n_(nodes.size() / 8) {
    for (size_t k = 0; k < n_ && k < max_tags; ++k) {
      uint64_t t = 0;
      for (size_t i = 0; i < 8; ++i) t = (t << 8) | static_cast<uint8_t>(nodes[k * 8 + i]);
      tags_[k] = t;
      refs_[k] = 0;
    }
  }
  bool fits() const { return n_ <= max_tags; }
  // The index of tag, or n when absent. A few tags (a cluster's nodes that
  // wrote this session) are scanned; more are searched (they are sorted).
  size_t index(uint64_t tag) const {
    if (n_ <= 4) {
      for (size_t k = 0; k < n_; ++k)
        if (tags_[k] == tag) return k;
      return n_;
    }
    const uint64_t* it = std::lower_bound(tags_, tags_ + n_, tag);
    return it != tags_ + n_ && *it == tag ? static_cast<size_t>(it - tags_) : n_;
  }
  bool has(const stamp& s) const { return s.is_bottom() || index(s.node) < n_; }
  uint64_t ni(const stamp& s) const { return s.is_bottom() ? 0 : index(s.node); }
  void add(const stamp& s, int d) {
    if (!s.is_bottom()) refs_[index(s.node)] += d;
  }
  // The stamp an entry wrote as (hlc, node index), and its count: the
  // index is the table's own, no search.
  stamp stamp_at(uint64_t hlc, uint64_t ni) const {
    if (hlc == 0) return stamp{};
    SM_ASSERT(ni < n_);
    return stamp{hlc, tags_[ni]};
  }
  void add_at(uint64_t hlc, uint64_t ni, int d) {
    if (hlc != 0) refs_[ni] += d;
  }
  bool all_referenced() const {
    for (size_t k = 0; k < n_; ++k)
      if (refs_[k] <= 0) return false;
    return true;
  }

 private:
  size_t n_;
  uint64_t tags_[max_tags];
  long refs_[max_tags];
};

// One register the delta raises: strictly above the record's (and its
// tombstone), so merge takes the delta's.
bool raises(const stamp& from, const stamp& into, const stamp& tombstone) {
  return from > into && from > tombstone;
}

}  // namespace

std::optional<merged_encoding> merge_encoded(std::string_view encoded, const session_record& delta) {
  merged_encoding m;
  auto f = merge_encoded(encoded, delta, m.bytes);
  if (!f) return std::nullopt;
  static_cast<merged_facts&>(m) = *f;
  return m;
}

// Over 80 lines on purpose: one pass over the header, one over the maps,
// each step mirroring encode() so the bytes come out the same.
std::optional<merged_facts> merge_encoded(std::string_view encoded, const session_record& delta, std::string& out) {
  const packed_header h = trusted_header(encoded);  // REQUIRES: valid
  if (h.id != delta.id || !delta.tombstone.is_bottom() || !delta.created.is_bottom()) return std::nullopt;
  tag_refs tags(h.nodes);
  if (!tags.fits()) return std::nullopt;
  for (const stamp* s : {&h.tombstone, &h.created, &h.touched, &h.ttl_ts, &h.worker_ts}) tags.add(*s, 1);

  const bool touch = !delta.touched.is_bottom(), ttl = !delta.ttl_ts.is_bottom(), wrk = !delta.worker_ts.is_bottom();
  if ((touch && !(raises(delta.touched, h.touched, h.tombstone) && tags.has(delta.touched))) ||
      (ttl && !(raises(delta.ttl_ts, h.ttl_ts, h.tombstone) && tags.has(delta.ttl_ts))) ||
      (wrk && !(raises(delta.worker_ts, h.worker_ts, h.tombstone) && tags.has(delta.worker_ts))))
    return std::nullopt;
  const stamp touched = touch ? delta.touched : h.touched;
  const stamp ttl_ts = ttl ? delta.ttl_ts : h.ttl_ts;
  const uint32_t ttl_s = ttl ? delta.ttl_s : h.ttl_s;
  const stamp worker_ts = wrk ? delta.worker_ts : h.worker_ts;
  const std::string_view worker = wrk ? std::string_view(delta.worker) : h.worker;
  // A raised register stamps with its new node, no longer its old one.
  for (const auto& [raised, was, now] : {std::tuple{touch, h.touched, touched}, std::tuple{ttl, h.ttl_ts, ttl_ts},
                                         std::tuple{wrk, h.worker_ts, worker_ts}})
    if (raised) {
      tags.add(was, -1);
      tags.add(now, 1);
    }

  merged_facts m;
  m.before.bytes = h.worker.size();
  m.after.bytes = worker.size();
  m.content_version = std::max({h.created, ttl_ts, worker_ts});
  // The most the result can take: the record's bytes (the header's stamps,
  // ttl and worker and the maps' heads each at their widest on top), and
  // every written entry whole at its widest.
  constexpr size_t stamp_max = 2 * mp_writer::uint_max;
  size_t bound = encoded.size() + 5 * stamp_max + mp_writer::uint_max + mp_writer::str_head_max + worker.size() +
                 section_count * mp_writer::map_head_max;
  for (const auto& writes : delta.sections)
    for (const auto& [name, e] : writes)
      bound += 2 * mp_writer::str_head_max + 1 + stamp_max + name.size() + (e.value ? e.value->size() : 0);
  out.resize(bound);
  mp_writer w{out.data()};
  auto put_stamp = [&](const stamp& s) {
    w.uint(s.hlc);
    w.uint(tags.ni(s));
  };
  // The header up to the nodes is unchanged: copy it.
  const size_t nodes_end = static_cast<size_t>(h.nodes.data() + h.nodes.size() - encoded.data());
  w.raw(encoded.data(), nodes_end);
  put_stamp(h.tombstone);
  put_stamp(h.created);
  put_stamp(touched);
  put_stamp(ttl_ts);
  w.uint(ttl_s);
  put_stamp(worker_ts);
  w.str(worker);
  m.header.tombstone = h.tombstone;
  m.header.created = h.created;
  m.header.touched = touched;
  m.header.ttl_ts = ttl_ts;
  m.header.ttl_s = ttl_s;
  m.header.worker_ts = worker_ts;
  m.header.maps_offset = static_cast<size_t>(w.p - out.data());

  const auto* p = reinterpret_cast<const uint8_t*>(encoded.data()) + h.maps_offset;
  const auto* end = reinterpret_cast<const uint8_t*>(encoded.data()) + encoded.size();
  for (int s = 0; s < section_count; ++s) {
    detail::trusted_reader head_rd{p, end};
    const uint32_t n = head_rd.map_size();
    p = head_rd.p;
    const entry_map& writes = delta.sections[static_cast<size_t>(s)];
    auto wr = writes.begin();
    uint32_t count = 0;
    // The map's head goes first at the width its largest count needs; a
    // narrower one is closed up once the count is known.
    const size_t head_width = mp_writer::map_head_size(n + writes.size());
    char* const head_at = w.p;
    w.p += head_width;
    auto put_entry = [&](std::string_view name, const entry& e) {
      w.str(name);
      w.byte(0x93);
      w.uint(e.ts.hlc);
      w.uint(tags.ni(e.ts));
      if (e.value) {
        w.str(*e.value);
        ++m.after.entries[static_cast<size_t>(s)];
        m.after.bytes += name.size() + e.value->size();
      } else {
        w.nil();
      }
      m.content_version = std::max(m.content_version, e.ts);
      tags.add(e.ts, 1);
      ++count;
    };
    auto put_new = [&](const std::string& name, const entry& e) {
      if (!tags.has(e.ts) || !raises(e.ts, stamp{}, h.tombstone)) return false;
      put_entry(name, e);
      return true;
    };
    for (uint32_t i = 0; i < n; ++i) {
      const uint8_t* start = p;
      const auto e = detail::trusted_reader::read_entry(p, end);
      p = e.next;
      const stamp ts = tags.stamp_at(e.hlc, e.ni);
      if (e.value != nullptr) {
        ++m.before.entries[static_cast<size_t>(s)];
        m.before.bytes += e.name.size() + e.value_size;
      }
      tags.add_at(e.hlc, e.ni, 1);
      for (; wr != writes.end() && std::string_view(wr->first) < e.name; ++wr)
        if (!put_new(wr->first, wr->second)) return std::nullopt;
      if (wr != writes.end() && std::string_view(wr->first) == e.name) {
        if (!tags.has(wr->second.ts) || !raises(wr->second.ts, ts, h.tombstone)) return std::nullopt;
        tags.add_at(e.hlc, e.ni, -1);
        put_entry(wr->first, wr->second);
        ++wr;
        continue;
      }
      w.raw(start, static_cast<size_t>(p - start));
      if (e.value != nullptr) {
        ++m.after.entries[static_cast<size_t>(s)];
        m.after.bytes += e.name.size() + e.value_size;
      }
      m.content_version = std::max(m.content_version, ts);
      ++count;
    }
    for (; wr != writes.end(); ++wr)
      if (!put_new(wr->first, wr->second)) return std::nullopt;
    const size_t width = mp_writer::map_head_size(count);
    if (width < head_width) {
      std::memmove(head_at + width, head_at + head_width, static_cast<size_t>(w.p - (head_at + head_width)));
      w.p -= head_width - width;
    }
    mp_writer hw{head_at};
    hw.map_head(count);
  }
  SM_ASSERT(p == end);  // REQUIRES: valid, so nothing after the maps
  const size_t size = static_cast<size_t>(w.p - out.data());
  SM_ASSERT(size <= bound);
  out.resize(size);
  if (!tags.all_referenced()) return std::nullopt;
  return m;
}

}  // namespace sessionmesh::crdt
