// mp_writer against msgpack-c's packer: the record's bytes must stay what
// the packer wrote before (nodes of different builds compare digests of
// them), so every form is checked at and around each width's edges.
#include <ostream>
#include <doctest/doctest.h>

#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "crdt/mp_writer.hpp"

using sessionmesh::crdt::mp_writer;

namespace {

struct string_sink {
  std::string& out;
  void write(const char* p, size_t n) { out.append(p, n); }
};

template <class Mine, class Theirs>
void same_bytes(uint64_t v, Mine mine, Theirs theirs) {
  std::string expected;
  string_sink sink{expected};
  msgpack::packer<string_sink> pk(sink);
  theirs(pk, v);
  std::string got(16, '\0');
  mp_writer w{got.data()};
  mine(w, v);
  got.resize(static_cast<size_t>(w.p - got.data()));
  INFO("value ", v);
  CHECK(got == expected);
}

std::vector<uint64_t> edges() {
  std::vector<uint64_t> v;
  for (uint64_t e : {0ull, 15ull, 16ull, 31ull, 32ull, 0x7full, 0x80ull, 0xffull, 0x100ull, 0xffffull, 0x10000ull,
                     0xffffffffull, 0x100000000ull})
    for (uint64_t d : {0ull, 1ull, 2ull}) {
      v.push_back(e + d);
      if (e >= d) v.push_back(e - d);
    }
  v.push_back(UINT64_MAX);
  v.push_back(0x0123456789abcdefull);
  return v;
}

}  // namespace

TEST_CASE("mp_writer writes the packer's shortest forms") {
  for (uint64_t v : edges()) {
    same_bytes(v, [](mp_writer& w, uint64_t x) { w.uint(x); },
               [](msgpack::packer<string_sink>& pk, uint64_t x) { pk.pack_uint64(x); });
    if (v > UINT32_MAX) continue;  // heads carry 32-bit counts
    const auto n = static_cast<uint32_t>(v);
    same_bytes(v, [](mp_writer& w, uint64_t x) { w.str_head(x); },
               [n](msgpack::packer<string_sink>& pk, uint64_t) { pk.pack_str(n); });
    same_bytes(v, [](mp_writer& w, uint64_t x) { w.map_head(x); },
               [n](msgpack::packer<string_sink>& pk, uint64_t) { pk.pack_map(n); });
    same_bytes(v, [](mp_writer& w, uint64_t x) { w.array_head(x); },
               [n](msgpack::packer<string_sink>& pk, uint64_t) { pk.pack_array(n); });
    std::string head(8, '\0');
    mp_writer w{head.data()};
    w.map_head(v);
    CHECK(static_cast<size_t>(w.p - head.data()) == mp_writer::map_head_size(v));
  }
  same_bytes(0, [](mp_writer& w, uint64_t) { w.nil(); }, [](msgpack::packer<string_sink>& pk, uint64_t) { pk.pack_nil(); });
}

TEST_CASE("mp_writer writes a string's head and bytes") {
  for (size_t n : {0, 1, 31, 32, 255, 256, 65535, 65536}) {
    const std::string s(n, 'q');
    std::string expected;
    string_sink sink{expected};
    msgpack::packer<string_sink> pk(sink);
    pk.pack_str(static_cast<uint32_t>(n));
    pk.pack_str_body(s.data(), static_cast<uint32_t>(n));
    std::string got(n + mp_writer::str_head_max, '\0');
    mp_writer w{got.data()};
    w.str(s);
    got.resize(static_cast<size_t>(w.p - got.data()));
    CHECK(got == expected);
  }
}
