#include "gossip/messages.hpp"

#include <msgpack.hpp>

#include "crdt/mp_reader.hpp"
#include "store/diff_sketch.hpp"

namespace sessionmesh::gossip {
namespace {

constexpr uint32_t max_items = 1u << 20;
constexpr size_t max_str = 64u << 20;
constexpr size_t max_name = 1024;

struct sink {
  std::string& out;
  void write(const char* p, size_t n) { out.append(p, n); }
};
using packer = msgpack::packer<sink>;

void put_str(packer& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void put_updates(packer& pk, const std::vector<member_update>& us) {
  pk.pack_array(static_cast<uint32_t>(us.size()));
  for (const auto& u : us) {
    pk.pack_array(5);
    put_str(pk, u.node_id);
    put_str(pk, u.gossip_addr);
    put_str(pk, u.http_addr);
    pk.pack_uint64(u.incarnation);
    pk.pack_uint8(static_cast<uint8_t>(u.status));
  }
}

template <class T>
void put_uints(packer& pk, const std::vector<T>& v) {
  pk.pack_array(static_cast<uint32_t>(v.size()));
  for (auto x : v) pk.pack_uint64(x);
}

void put_strs(packer& pk, const std::vector<std::string>& v) {
  pk.pack_array(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) put_str(pk, s);
}

using crdt::mp_reader;

#define TRY(var, expr)            \
  auto var##_r = (expr);          \
  if (!var##_r) return var##_r.error(); \
  auto var = std::move(var##_r).value()

result<std::string> get_str(mp_reader& rd, size_t max) {
  TRY(s, rd.read_str(max));
  return std::string(s);
}

result<std::vector<member_update>> get_updates(mp_reader& rd) {
  TRY(n, rd.read_array(4096));
  std::vector<member_update> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    TRY(k, rd.read_array(5));
    if (k != 5) return errc::decode_error;
    member_update u;
    TRY(id, get_str(rd, max_name));
    TRY(ga, get_str(rd, max_name));
    TRY(ha, get_str(rd, max_name));
    TRY(inc, rd.read_uint());
    TRY(st, rd.read_uint());
    if (st > 3 || id.empty()) return errc::decode_error;
    u.node_id = std::move(id);
    u.gossip_addr = std::move(ga);
    u.http_addr = std::move(ha);
    u.incarnation = inc;
    u.status = static_cast<member_status>(st);
    out.push_back(std::move(u));
  }
  return out;
}

template <class T>
result<std::vector<T>> get_uints(mp_reader& rd, uint32_t max) {
  TRY(n, rd.read_array(max));
  std::vector<T> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    TRY(v, rd.read_uint());
    if (v > std::numeric_limits<T>::max()) return errc::decode_error;
    out.push_back(static_cast<T>(v));
  }
  return out;
}

result<std::vector<std::string>> get_strs(mp_reader& rd, uint32_t max) {
  TRY(n, rd.read_array(max));
  std::vector<std::string> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    TRY(s, get_str(rd, max_str));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

const char* status_name(member_status s) {
  switch (s) {
    case member_status::alive: return "alive";
    case member_status::suspect: return "suspect";
    case member_status::dead: return "dead";
    case member_status::left: return "left";
  }
  return "?";
}

msg_type type_of(const message& m) { return static_cast<msg_type>(m.index() + 1); }

void encode(const message& m, std::string& out) {
  sink s{out};
  packer pk(s);
  pk.pack_array(2);
  pk.pack_uint8(static_cast<uint8_t>(type_of(m)));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, ping> || std::is_same_v<T, ack>) {
          pk.pack_array(3);
          pk.pack_uint64(v.seq);
          put_updates(pk, v.updates);
          pk.pack_uint64(v.clock_ms);
        } else if constexpr (std::is_same_v<T, ping_req>) {
          pk.pack_array(3);
          pk.pack_uint64(v.seq);
          put_str(pk, v.target);
          put_updates(pk, v.updates);
        } else if constexpr (std::is_same_v<T, sync> || std::is_same_v<T, sync_reply>) {
          pk.pack_array(1);
          put_updates(pk, v.members);
        } else if constexpr (std::is_same_v<T, deltas>) {
          pk.pack_array(v.first ? 4 : 3);
          pk.pack_uint64(v.batch);
          pk.pack_uint64(v.through);
          put_strs(pk, v.records);
          if (v.first) pk.pack_uint64(v.first);
        } else if constexpr (std::is_same_v<T, deltas_ack>) {
          pk.pack_array(2);
          pk.pack_uint64(v.batch);
          pk.pack_uint64(v.through);
        } else if constexpr (std::is_same_v<T, ae_l2>) {
          pk.pack_array(3);
          pk.pack_uint64(v.exchange);
          pk.pack_uint64(v.root);
          put_uints(pk, v.hashes);
        } else if constexpr (std::is_same_v<T, ae_l3>) {
          pk.pack_array(3);
          pk.pack_uint64(v.exchange);
          put_uints(pk, v.nodes);
          put_uints(pk, v.leaf_hashes);
        } else if constexpr (std::is_same_v<T, ae_leaves>) {
          pk.pack_array(2);
          pk.pack_uint64(v.exchange);
          pk.pack_array(static_cast<uint32_t>(v.leaves.size()));
          for (const auto& l : v.leaves) {
            pk.pack_array(3);
            pk.pack_uint32(l.leaf);
            put_uints(pk, l.id_hashes);
            put_uints(pk, l.digests);
          }
        } else if constexpr (std::is_same_v<T, ae_records>) {
          pk.pack_array(3);
          pk.pack_uint64(v.exchange);
          put_strs(pk, v.records);
          put_uints(pk, v.want);
        } else if constexpr (std::is_same_v<T, ae_sketch>) {
          pk.pack_array(4);
          pk.pack_uint64(v.exchange);
          pk.pack_uint64(v.root);
          pk.pack_uint32(v.bits);
          put_str(pk, v.cells);  // raw bytes in a str, like records
        } else if constexpr (std::is_same_v<T, ae_diff>) {
          pk.pack_array(5);
          pk.pack_uint64(v.exchange);
          put_strs(pk, v.records);
          put_uints(pk, v.want);
          put_uints(pk, v.both_ids);
          put_uints(pk, v.both_hlc);
        } else if constexpr (std::is_same_v<T, stream_mark>) {
          pk.pack_array(2);
          pk.pack_uint64(v.epoch);
          pk.pack_uint64(v.through);
        } else if constexpr (std::is_same_v<T, ae_part>) {
          pk.pack_array(3);
          pk.pack_uint64(v.exchange);
          put_uints(pk, v.parts);
          put_uints(pk, v.hashes);
        } else if constexpr (std::is_same_v<T, ae_part_equal>) {
          pk.pack_array(2);
          pk.pack_uint64(v.exchange);
          put_uints(pk, v.parts);
        }
      },
      m);
}

// Over 80 lines on purpose: one short case per message type, each checking
// its counts and lengths before it allocates; split, the checks would drift
// from the types they guard.
result<message> decode(std::string_view bytes) {
  mp_reader rd(bytes);
  TRY(outer, rd.read_array(2));
  if (outer != 2) return errc::decode_error;
  TRY(type, rd.read_uint());
  TRY(n, rd.read_array(16));
  auto need = [&](uint32_t k) { return n == k; };
  message m;
  switch (static_cast<msg_type>(type)) {
    case msg_type::ping:
    case msg_type::ack: {
      if (!need(2) && !need(3)) return errc::decode_error;
      TRY(seq, rd.read_uint());
      TRY(us, get_updates(rd));
      uint64_t clock = 0;
      if (n == 3) {
        TRY(c, rd.read_uint());
        clock = c;
      }
      if (type == 1) m = ping{seq, std::move(us), clock};
      else m = ack{seq, std::move(us), clock};
      break;
    }
    case msg_type::ping_req: {
      if (!need(3)) return errc::decode_error;
      TRY(seq, rd.read_uint());
      TRY(target, get_str(rd, max_name));
      TRY(us, get_updates(rd));
      m = ping_req{seq, std::move(target), std::move(us)};
      break;
    }
    case msg_type::sync:
    case msg_type::sync_reply: {
      if (!need(1)) return errc::decode_error;
      TRY(us, get_updates(rd));
      if (type == 4) m = sync{std::move(us)};
      else m = sync_reply{std::move(us)};
      break;
    }
    case msg_type::deltas: {
      if (!need(3) && !need(4)) return errc::decode_error;
      TRY(batch, rd.read_uint());
      TRY(through, rd.read_uint());
      TRY(recs, get_strs(rd, 65536));
      uint64_t first = 0;
      if (n == 4) {
        TRY(f, rd.read_uint());
        // A range that holds its records and starts at 1 or later.
        if (f == 0 || f > through || through - f + 1 < recs.size()) return errc::decode_error;
        first = f;
      }
      m = deltas{batch, through, std::move(recs), first};
      break;
    }
    case msg_type::deltas_ack: {
      if (!need(2)) return errc::decode_error;
      TRY(batch, rd.read_uint());
      TRY(through, rd.read_uint());
      m = deltas_ack{batch, through};
      break;
    }
    case msg_type::ae_l2: {
      if (!need(3)) return errc::decode_error;
      TRY(ex, rd.read_uint());
      TRY(root, rd.read_uint());
      TRY(h, get_uints<uint64_t>(rd, 4096));
      m = ae_l2{ex, root, std::move(h)};
      break;
    }
    case msg_type::ae_l3: {
      if (!need(3)) return errc::decode_error;
      TRY(ex, rd.read_uint());
      TRY(nodes, get_uints<uint32_t>(rd, 4096));
      TRY(h, get_uints<uint64_t>(rd, 65536));
      m = ae_l3{ex, std::move(nodes), std::move(h)};
      break;
    }
    case msg_type::ae_leaves: {
      if (!need(2)) return errc::decode_error;
      TRY(ex, rd.read_uint());
      TRY(count, rd.read_array(4096));
      ae_leaves al{ex, {}};
      for (uint32_t i = 0; i < count; ++i) {
        TRY(k, rd.read_array(3));
        if (k != 3) return errc::decode_error;
        TRY(leaf, rd.read_uint());
        if (leaf >= 4096) return errc::decode_error;
        TRY(ids, get_uints<uint64_t>(rd, max_items));
        TRY(digests, get_uints<uint64_t>(rd, max_items));
        if (ids.size() != digests.size()) return errc::decode_error;
        al.leaves.push_back({static_cast<uint32_t>(leaf), std::move(ids), std::move(digests)});
      }
      m = std::move(al);
      break;
    }
    case msg_type::ae_records: {
      if (!need(3)) return errc::decode_error;
      TRY(ex, rd.read_uint());
      TRY(recs, get_strs(rd, 65536));
      TRY(want, get_uints<uint64_t>(rd, max_items));
      m = ae_records{ex, std::move(recs), std::move(want)};
      break;
    }
    case msg_type::ae_sketch: {
      if (!need(4)) return errc::decode_error;
      TRY(ex, rd.read_uint());
      TRY(root, rd.read_uint());
      TRY(bits, rd.read_uint());
      if (bits < store::sketch::min_bits || bits > store::sketch::max_bits) return errc::decode_error;
      const size_t size = (size_t{store::sketch::k} << bits) * store::sketch::wire_cell;
      TRY(cells, rd.read_str(size));
      if (cells.size() != size) return errc::decode_error;
      m = ae_sketch{ex, root, static_cast<uint32_t>(bits), std::string(cells)};
      break;
    }
    case msg_type::ae_diff: {
      if (!need(5)) return errc::decode_error;
      TRY(ex, rd.read_uint());
      TRY(recs, get_strs(rd, 65536));
      TRY(want, get_uints<uint64_t>(rd, max_items));
      TRY(ids, get_uints<uint64_t>(rd, max_items));
      TRY(hlcs, get_uints<uint64_t>(rd, max_items));
      if (ids.size() != hlcs.size()) return errc::decode_error;
      m = ae_diff{ex, std::move(recs), std::move(want), std::move(ids), std::move(hlcs)};
      break;
    }
    case msg_type::stream_mark: {
      if (!need(2)) return errc::decode_error;
      TRY(epoch, rd.read_uint());
      TRY(through, rd.read_uint());
      m = stream_mark{epoch, through};
      break;
    }
    case msg_type::ae_part:
    case msg_type::ae_part_equal: {
      const bool eq = type == static_cast<uint64_t>(msg_type::ae_part_equal);
      if (!need(eq ? 2 : 3)) return errc::decode_error;
      TRY(ex, rd.read_uint());
      TRY(parts, get_uints<uint32_t>(rd, 256));
      for (size_t i = 0; i < parts.size(); ++i)
        if (parts[i] >= 256 || (i && parts[i] <= parts[i - 1])) return errc::decode_error;
      if (eq) {
        m = ae_part_equal{ex, std::move(parts)};
        break;
      }
      TRY(h, get_uints<uint64_t>(rd, 256));
      if (h.size() != parts.size()) return errc::decode_error;
      m = ae_part{ex, std::move(parts), std::move(h)};
      break;
    }
    default:
      return errc::decode_error;
  }
  if (!rd.at_end()) return errc::decode_error;
  return m;
}

}  // namespace sessionmesh::gossip
