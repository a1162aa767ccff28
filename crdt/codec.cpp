// The record's msgpack encoding: its writer, its checked reader (decode,
// inspect) and the trusted one the store's hot paths use. Over 400 lines
// (451) on purpose: one format, with every reader beside the writer it
// mirrors.
#include "crdt/codec.hpp"

#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>
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

constexpr uint32_t record_fields = 18;
constexpr uint64_t format_version = 1;

struct string_sink {
  std::string& out;
  void write(const char* p, size_t n) { out.append(p, n); }
};

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
  // Appends the 8-byte big-endian tags.
  void append_bytes(std::string& out) const {
    for (size_t k = 0; k < n_; ++k)
      for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((begin_[k] >> (i * 8)) & 0xff));
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
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  const node_table nodes(r);
  out.reserve(out.size() + encoded_size_bound(r, nodes.size()));
  auto put_stamp = [&](const stamp& s) {
    pk.pack_uint64(s.hlc);
    pk.pack_uint64(nodes.index(s));
  };
  pk.pack_array(record_fields);
  pk.pack_uint64(format_version);
  pk.pack_str(static_cast<uint32_t>(r.id.size()));
  pk.pack_str_body(r.id.data(), static_cast<uint32_t>(r.id.size()));
  pk.pack_str(static_cast<uint32_t>(nodes.size() * 8));
  nodes.append_bytes(out);
  put_stamp(r.tombstone);
  put_stamp(r.created);
  put_stamp(r.touched);
  put_stamp(r.ttl_ts);
  pk.pack_uint32(r.ttl_s);
  put_stamp(r.worker_ts);
  pk.pack_str(static_cast<uint32_t>(r.worker.size()));
  pk.pack_str_body(r.worker.data(), static_cast<uint32_t>(r.worker.size()));
  for (const auto& m : r.sections) {
    pk.pack_map(static_cast<uint32_t>(m.size()));
    for (const auto& [name, e] : m) {
      pk.pack_str(static_cast<uint32_t>(name.size()));
      pk.pack_str_body(name.data(), static_cast<uint32_t>(name.size()));
      pk.pack_array(3);
      put_stamp(e.ts);
      if (e.value) {
        pk.pack_str(static_cast<uint32_t>(e.value->size()));
        pk.pack_str_body(e.value->data(), static_cast<uint32_t>(e.value->size()));
      } else {
        pk.pack_nil();
      }
    }
  }
}

std::string encode(const session_record& r) {
  std::string out;
  encode(r, out);
  return out;
}

result<packed_header> read_header(std::string_view bytes, const codec_limits& lim) {
  if (bytes.size() > lim.record_bytes) return errc::limit_exceeded;
  mp_reader rd(bytes);
  auto n = rd.read_array(record_fields);
  if (!n) return n.error();
  if (*n != record_fields) return errc::decode_error;
  auto fmt = rd.read_uint();
  if (!fmt) return fmt.error();
  if (*fmt != format_version) return errc::decode_error;
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

namespace {

uint64_t load_be64(const void* at) {
  static_assert(std::endian::native == std::endian::little, "load_be64 swaps bytes");
  uint64_t v;
  std::memcpy(&v, at, 8);
  return __builtin_bswap64(v);
}

// std::string_view::compare's order (bytes unsigned, then length) without
// its call to memcmp: names are short.
int compare_names(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]) ? -1 : 1;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

// A cursor over trusted bytes: a malformed encoding is a bug (asserted).
struct trusted_reader {
  const uint8_t* p;
  const uint8_t* end;
  void need(size_t n) const { SM_ASSERT(static_cast<size_t>(end - p) >= n); }
  // A big-endian length of 1, 2 or 4 bytes.
  size_t be(size_t n) {
    need(n);
    size_t v = n == 1 ? p[0] : n == 2 ? (size_t{p[0]} << 8) | p[1]
                                      : (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
    p += n;
    return v;
  }
  uint8_t byte() {
    need(1);
    return *p++;
  }
  uint32_t map_size() {
    const uint8_t b = byte();
    if ((b & 0xf0) == 0x80) return b & 0x0f;
    SM_ASSERT(b == 0xde || b == 0xdf);
    return static_cast<uint32_t>(be(b == 0xde ? 2 : 4));
  }
  uint64_t uint() {
    const uint8_t b = byte();
    if (b <= 0x7f) return b;
    if (b == 0xcf) {  // a clock value: always 64 bits wide
      need(8);
      const uint64_t v = load_be64(p);
      p += 8;
      return v;
    }
    SM_ASSERT(b >= 0xcc && b <= 0xce);
    const size_t n = size_t{1} << (b - 0xcc);
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
    p += n;
    return v;
  }
  void skip_uint() {
    const uint8_t b = byte();
    if (b <= 0x7f) return;
    SM_ASSERT(b >= 0xcc && b <= 0xcf);
    const size_t n = size_t{1} << (b - 0xcc);
    need(n);
    p += n;
  }
  // An entry's register head, [hlc, node index, ...: the common shape (a
  // 64-bit hlc, a node index under 128) in one check, else field by field.
  void skip_register_head() {
    if (end - p >= 11 && p[0] == 0x93 && p[1] == 0xcf && p[10] <= 0x7f) {
      p += 11;
      return;
    }
    const uint8_t arr = byte();
    SM_ASSERT(arr == 0x93);  // [hlc, node index, value]
    skip_uint();
    skip_uint();
  }
  // One map entry: its name, and its value (nullptr for nil: removed).
  struct entry_view {
    std::string_view name;
    const char* value;
    size_t value_size;
  };
  // The next entry. The common shape (a name under 32 bytes, a 64-bit hlc,
  // a node index under 128) is read in one step: every header byte it reads
  // lies within the 48 it first checks are left (1 + 31 + 11 + 5), and the
  // value's length is checked against the end. Any other shape is read
  // field by field, out of line, so the common path keeps its registers.
  entry_view next_entry() {
    if (end - p < 48 || (p[0] & 0xe0) != 0xa0) return slow_entry();
    const size_t nn = p[0] & 0x1f;
    const uint8_t* h = p + 1 + nn;
    if (h[0] != 0x93 || h[1] != 0xcf || h[10] > 0x7f) return slow_entry();
    const uint8_t* v = h + 12;
    size_t n;
    const uint8_t b = h[11];
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
    } else if (b == 0xd9) {
      n = *v++;
    } else if (b == 0xda) {
      n = (size_t{v[0]} << 8) | v[1];
      v += 2;
    } else if (b == 0xdb) {
      n = (size_t{v[0]} << 24) | (size_t{v[1]} << 16) | (size_t{v[2]} << 8) | v[3];
      v += 4;
    } else {
      SM_ASSERT(b == 0xc0);  // nil: a removed entry
      const entry_view e{{reinterpret_cast<const char*>(p + 1), nn}, nullptr, 0};
      p = v;
      return e;
    }
    SM_ASSERT(static_cast<size_t>(end - v) >= n);
    const entry_view e{{reinterpret_cast<const char*>(p + 1), nn}, reinterpret_cast<const char*>(v), n};
    p = v + n;
    return e;
  }
  __attribute__((noinline)) entry_view slow_entry() {
    entry_view e{*str(false), nullptr, 0};
    skip_register_head();
    if (const auto v = str(true)) {
      e.value = v->data();
      e.value_size = v->size();
    }
    return e;
  }
  // A string, or nullopt for nil when nil_ok.
  std::optional<std::string_view> str(bool nil_ok) {
    const uint8_t b = byte();
    size_t n = 0;
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
    } else if (b == 0xc0 && nil_ok) {
      return std::nullopt;
    } else {
      SM_ASSERT(b == 0xd9 || b == 0xda || b == 0xdb);
      n = be(b == 0xd9 ? 1 : b == 0xda ? 2 : 4);
    }
    need(n);
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
};

}  // namespace

packed_header trusted_header(std::string_view bytes) {
  const auto* base = reinterpret_cast<const uint8_t*>(bytes.data());
  trusted_reader rd{base, base + bytes.size()};
  const uint8_t arr = rd.byte();
  SM_ASSERT(arr == 0xdc && rd.be(2) == record_fields);
  SM_ASSERT(rd.uint() == format_version);
  packed_header h;
  h.id = *rd.str(false);
  h.nodes = *rd.str(false);
  const size_t n_nodes = h.nodes.size() / 8;
  auto read_stamp = [&] {
    const uint64_t hlc = rd.uint();
    const uint64_t ni = rd.uint();
    if (hlc == 0) return stamp{};
    SM_ASSERT(ni < n_nodes);
    return stamp{hlc, load_be64(h.nodes.data() + ni * 8)};
  };
  h.tombstone = read_stamp();
  h.created = read_stamp();
  h.touched = read_stamp();
  h.ttl_ts = read_stamp();
  const uint64_t ttl = rd.uint();
  SM_ASSERT(ttl <= UINT32_MAX);
  h.ttl_s = static_cast<uint32_t>(ttl);
  h.worker_ts = read_stamp();
  h.worker = *rd.str(false);
  h.maps_offset = static_cast<size_t>(rd.p - base);
  return h;
}

std::optional<std::string_view> find_value(std::string_view bytes, size_t maps_offset, section s,
                                           std::string_view name) {
  SM_ASSERT(maps_offset <= bytes.size());
  const auto* base = reinterpret_cast<const uint8_t*>(bytes.data());
  trusted_reader rd{base + maps_offset, base + bytes.size()};
  for (int sec = 0; sec < static_cast<int>(s); ++sec)  // the sections before: skipped whole
    for (uint32_t i = 0, n = rd.map_size(); i < n; ++i) (void)rd.next_entry();
  for (uint32_t i = 0, n = rd.map_size(); i < n; ++i) {
    const auto e = rd.next_entry();
    const int c = compare_names(e.name, name);
    if (c == 0) return e.value ? std::optional<std::string_view>(std::string_view(e.value, e.value_size)) : std::nullopt;
    if (c > 0) return std::nullopt;  // canonical order: past the name
  }
  return std::nullopt;
}

uint64_t digest_bytes(std::string_view encoded) { return XXH3_64bits(encoded.data(), encoded.size()); }

uint64_t digest(const session_record& r) { return digest_bytes(encode(r)); }

}  // namespace sessionmesh::crdt

