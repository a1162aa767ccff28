// The record's msgpack encoding: its writer and its checked reader (decode,
// inspect). The writer's forms are crdt/mp_writer.hpp; the trusted reader
// the store's hot paths use is codec_trusted.cpp.
#include "crdt/codec.hpp"
#include "crdt/mp_writer.hpp"

// Inlined: every write digests the record it replaces and the one it
// installs, and the library's out-of-line build is its generic one.
#define XXH_INLINE_ALL
#include <xxhash.h>
#undef XXH_INLINE_ALL

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

namespace sessionmesh::crdt {
namespace {

// The record's node tags, sorted and unique. Up to `inline_tags` live on
// the stack (a record touched by a few nodes, the common case): encoding
// allocates nothing but its output.
class node_table {
 public:
  explicit node_table(const session_record& r) {
    auto add = [&](const stamp& s) {
      if (s.is_bottom()) return;
      if (spill_.empty() && n_ < inline_tags) {
        small_[n_++] = s.node;
        return;
      }
      if (spill_.empty()) spill_.assign(small_, small_ + n_);
      spill_.push_back(s.node);
    };
    add(r.tombstone); add(r.created); add(r.touched); add(r.ttl_ts); add(r.worker_ts);
    for (const auto& m : r.sections)
      for (const auto& kv : m) add(kv.second.ts);
    if (!spill_.empty()) {
      std::sort(spill_.begin(), spill_.end());
      spill_.erase(std::unique(spill_.begin(), spill_.end()), spill_.end());
      begin_ = spill_.data();
      n_ = spill_.size();
    } else {
      std::sort(small_, small_ + n_);
      n_ = static_cast<size_t>(std::unique(small_, small_ + n_) - small_);
    }
  }
  node_table(const node_table&) = delete;
  node_table& operator=(const node_table&) = delete;
  uint64_t index(const stamp& s) const {
    if (s.is_bottom()) return 0;
    SM_ASSERT(s.hlc != 0);  // a non-bottom stamp has a clock value
    return static_cast<uint64_t>(std::lower_bound(begin_, begin_ + n_, s.node) - begin_);
  }
  size_t size() const { return n_; }
  // Writes the 8-byte big-endian tags.
  void write_bytes(mp_writer& w) const {
    for (size_t k = 0; k < n_; ++k) {
      const uint64_t be = __builtin_bswap64(begin_[k]);
      w.raw(&be, 8);
    }
  }

 private:
  static constexpr size_t inline_tags = 16;
  uint64_t small_[inline_tags];
  size_t n_ = 0;
  std::vector<uint64_t> spill_;
  const uint64_t* begin_ = small_;
};

// An upper bound of the encoded size (MessagePack headers at their widest):
// one reservation for the whole record.
size_t encoded_size_bound(const session_record& r, size_t node_count) {
  constexpr size_t uint_max = 9, str_hdr = 5, stamp_max = 2 * uint_max;
  size_t n = 5 + uint_max + str_hdr + r.id.size() + str_hdr + node_count * 8 + 5 * stamp_max + uint_max + str_hdr +
             r.worker.size();
  for (const auto& m : r.sections) {
    n += 5;
    for (const auto& [name, e] : m) n += str_hdr + name.size() + 1 + stamp_max + str_hdr + (e.value ? e.value->size() : 0);
  }
  return n;
}

result<stamp> read_stamp(mp_reader& rd, std::string_view nodes) {
  auto hlc = rd.read_uint();
  if (!hlc) return hlc.error();
  auto ni = rd.read_uint();
  if (!ni) return ni.error();
  return resolve_stamp(nodes, *hlc, *ni);
}

}  // namespace

void encode(const session_record& r, std::string& out) {
  const node_table nodes(r);
  const size_t at = out.size(), bound = encoded_size_bound(r, nodes.size());
  out.resize(at + bound);
  mp_writer w{out.data() + at};
  auto put_stamp = [&](const stamp& s) {
    w.uint(s.hlc);
    w.uint(nodes.index(s));
  };
  w.array_head(record_field_count);
  w.uint(record_format_version);
  w.str(r.id);
  w.str_head(nodes.size() * 8);
  nodes.write_bytes(w);
  put_stamp(r.tombstone);
  put_stamp(r.created);
  put_stamp(r.touched);
  put_stamp(r.ttl_ts);
  w.uint(r.ttl_s);
  put_stamp(r.worker_ts);
  w.str(r.worker);
  for (const auto& m : r.sections) {
    w.map_head(m.size());
    for (const auto& [name, e] : m) {
      w.str(name);
      w.array_head(3);
      put_stamp(e.ts);
      if (e.value) w.str(*e.value);
      else w.nil();
    }
  }
  const size_t size = static_cast<size_t>(w.p - (out.data() + at));
  SM_ASSERT(size <= bound);
  out.resize(at + size);
}

std::string encode(const session_record& r) {
  std::string out;
  encode(r, out);
  return out;
}

result<packed_header> read_header(std::string_view bytes, const codec_limits& lim) {
  if (bytes.size() > lim.record_bytes) return errc::limit_exceeded;
  mp_reader rd(bytes);
  auto n = rd.read_array(record_field_count);
  if (!n) return n.error();
  if (*n != record_field_count) return errc::decode_error;
  auto fmt = rd.read_uint();
  if (!fmt) return fmt.error();
  if (*fmt != record_format_version) return errc::decode_error;
  packed_header h;
  auto id = rd.read_str(lim.id_bytes);
  if (!id) return id.error();
  h.id = *id;
  auto nodes = rd.read_str(size_t{lim.nodes} * 8);
  if (!nodes) return nodes.error();
  if (nodes->size() % 8 != 0) return errc::decode_error;
  for (size_t i = 8; i < nodes->size(); i += 8)  // strictly ascending big-endian tags
    if (nodes->substr(i - 8, 8) >= nodes->substr(i, 8)) return errc::decode_error;
  h.nodes = *nodes;
  for (stamp* s : {&h.tombstone, &h.created, &h.touched, &h.ttl_ts}) {
    auto st = read_stamp(rd, h.nodes);
    if (!st) return st.error();
    *s = *st;
  }
  auto ttl = rd.read_uint();
  if (!ttl) return ttl.error();
  if (*ttl > UINT32_MAX) return errc::decode_error;
  h.ttl_s = static_cast<uint32_t>(*ttl);
  auto wts = read_stamp(rd, h.nodes);
  if (!wts) return wts.error();
  h.worker_ts = *wts;
  auto worker = rd.read_str(lim.worker_bytes);
  if (!worker) return worker.error();
  h.worker = *worker;
  h.maps_offset = static_cast<size_t>(rd.position() - reinterpret_cast<const uint8_t*>(bytes.data()));
  return h;
}

result<session_record> decode(std::string_view bytes, const codec_limits& lim, bool verify_canonical) {
  auto h = read_header(bytes, lim);
  if (!h) return h.error();
  session_record r;
  r.id.assign(h->id);
  r.tombstone = h->tombstone;
  r.created = h->created;
  r.touched = h->touched;
  r.ttl_ts = h->ttl_ts;
  r.ttl_s = h->ttl_s;
  r.worker_ts = h->worker_ts;
  r.worker.assign(h->worker);
  bool ordered = true;
  const std::string* last[section_count] = {nullptr, nullptr, nullptr};
  auto done = for_each_entry(
      bytes, *h,
      [&](section s, std::string_view name, const stamp& ts, std::optional<std::string_view> v) {
        const int i = static_cast<int>(s);
        if (last[i] != nullptr && !(*last[i] < name)) {
          ordered = false;
          return false;
        }
        auto it = r.sections[i].emplace_hint(
            r.sections[i].end(), std::string(name),
            entry{ts, v ? std::optional<std::string>(std::string(*v)) : std::nullopt});
        last[i] = &it->first;
        return true;
      },
      lim);
  if (!done) return done.error();
  if (!ordered) return errc::decode_error;
  // Only the canonical form is accepted (shortest integers, no trailing
  // bytes), so a decoded record re-encodes to the very same bytes and digest.
  if (verify_canonical && encode(r) != bytes) return errc::decode_error;
  return r;
}

result<record_facts> inspect(std::string_view bytes, const codec_limits& lim) {
  auto h = read_header(bytes, lim);
  if (!h) return h.error();
  record_facts f{*h, std::max({h->tombstone, h->created, h->touched, h->ttl_ts, h->worker_ts})};
  std::string_view last[section_count];
  bool seen[section_count] = {false, false, false};
  bool ordered = true;
  size_t end = 0;
  auto walked = walk_entries<true>(
      bytes, h->maps_offset, h->nodes,
      [&](section s, std::string_view name, const stamp& ts, std::optional<std::string_view>) {
        const int i = static_cast<int>(s);
        if (seen[i] && !(last[i] < name)) {
          ordered = false;
          return false;
        }
        seen[i] = true;
        last[i] = name;
        f.max_stamp = std::max(f.max_stamp, ts);
        return true;
      },
      lim, &end);
  if (!walked) return walked.error();
  if (!ordered || end != bytes.size()) return errc::decode_error;
  return f;
}

uint64_t digest_bytes(std::string_view encoded) { return XXH3_64bits(encoded.data(), encoded.size()); }

uint64_t digest(const session_record& r) { return digest_bytes(encode(r)); }

}  // namespace sessionmesh::crdt

