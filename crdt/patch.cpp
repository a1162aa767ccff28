#include "crdt/patch.hpp"

#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>

#include <algorithm>
#include <tuple>

#include "crdt/codec.hpp"

namespace sessionmesh::crdt {
namespace {

struct string_sink {
  std::string& out;
  void write(const char* p, size_t n) { out.append(p, n); }
};

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
  size_t grows = 64 + delta.worker.size();  // at most: the new registers, whole
  for (const auto& writes : delta.sections)
    for (const auto& [name, e] : writes) grows += 24 + name.size() + (e.value ? e.value->size() : 0);
  out.clear();
  out.reserve(encoded.size() + grows);
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  auto put_stamp = [&](const stamp& s) {
    pk.pack_uint64(s.hlc);
    pk.pack_uint64(tags.ni(s));
  };
  // The header up to the nodes is unchanged: copy it.
  const size_t nodes_end = static_cast<size_t>(h.nodes.data() + h.nodes.size() - encoded.data());
  out.append(encoded.data(), nodes_end);
  put_stamp(h.tombstone);
  put_stamp(h.created);
  put_stamp(touched);
  put_stamp(ttl_ts);
  pk.pack_uint32(ttl_s);
  put_stamp(worker_ts);
  pk.pack_str(static_cast<uint32_t>(worker.size()));
  pk.pack_str_body(worker.data(), static_cast<uint32_t>(worker.size()));
  m.header.tombstone = h.tombstone;
  m.header.created = h.created;
  m.header.touched = touched;
  m.header.ttl_ts = ttl_ts;
  m.header.ttl_s = ttl_s;
  m.header.worker_ts = worker_ts;
  m.header.maps_offset = out.size();

  mp_reader rd(encoded.data() + h.maps_offset, encoded.size() - h.maps_offset);
  const codec_limits lim;
  std::string section_out;
  for (int s = 0; s < section_count; ++s) {
    auto n = rd.read_map(lim.entries_per_map);
    if (!n) return std::nullopt;
    const entry_map& writes = delta.sections[static_cast<size_t>(s)];
    auto w = writes.begin();
    uint32_t count = 0;
    // A map that stays under 16 entries has a one-byte head: its entries
    // go straight into out behind a placeholder. A larger one is built
    // aside, its head (whose width depends on the count) written first.
    const bool fixmap = *n + writes.size() < 16;
    const size_t head_at = out.size();
    if (fixmap) out.push_back('\x80');
    else section_out.clear();
    string_sink ssink{fixmap ? out : section_out};
    msgpack::packer<string_sink> spk(ssink);
    auto put_entry = [&](std::string_view name, const entry& e) {
      spk.pack_str(static_cast<uint32_t>(name.size()));
      spk.pack_str_body(name.data(), static_cast<uint32_t>(name.size()));
      spk.pack_array(3);
      spk.pack_uint64(e.ts.hlc);
      spk.pack_uint64(tags.ni(e.ts));
      if (e.value) {
        spk.pack_str(static_cast<uint32_t>(e.value->size()));
        spk.pack_str_body(e.value->data(), static_cast<uint32_t>(e.value->size()));
        ++m.after.entries[static_cast<size_t>(s)];
        m.after.bytes += name.size() + e.value->size();
      } else {
        spk.pack_nil();
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
    for (uint32_t i = 0; i < *n; ++i) {
      const uint8_t* start = rd.position();
      auto name = rd.read_str(lim.name_bytes);
      if (!name) return std::nullopt;
      auto arr = rd.read_array(3);
      auto hlc = rd.read_uint();
      auto ni = rd.read_uint();
      auto value = rd.read_str_or_nil(lim.value_bytes);
      if (!arr || *arr != 3 || !hlc || !ni || !value) return std::nullopt;
      auto ts = resolve_stamp(h.nodes, *hlc, *ni);
      if (!ts) return std::nullopt;
      if (*value) {
        ++m.before.entries[static_cast<size_t>(s)];
        m.before.bytes += name->size() + (*value)->size();
      }
      tags.add(*ts, 1);
      for (; w != writes.end() && std::string_view(w->first) < *name; ++w)
        if (!put_new(w->first, w->second)) return std::nullopt;
      if (w != writes.end() && std::string_view(w->first) == *name) {
        if (!tags.has(w->second.ts) || !raises(w->second.ts, *ts, h.tombstone)) return std::nullopt;
        tags.add(*ts, -1);
        put_entry(w->first, w->second);
        ++w;
        continue;
      }
      ssink.out.append(reinterpret_cast<const char*>(start), static_cast<size_t>(rd.position() - start));
      if (*value) {
        ++m.after.entries[static_cast<size_t>(s)];
        m.after.bytes += name->size() + (*value)->size();
      }
      m.content_version = std::max(m.content_version, *ts);
      ++count;
    }
    for (; w != writes.end(); ++w)
      if (!put_new(w->first, w->second)) return std::nullopt;
    if (fixmap) {
      out[head_at] = static_cast<char>(0x80 | count);
    } else {
      pk.pack_map(count);
      out.append(section_out);
    }
  }
  if (!rd.at_end() || !tags.all_referenced()) return std::nullopt;
  return m;
}

}  // namespace sessionmesh::crdt
