// merge_encoded against the long way (decode, merge, encode) on random
// records and random local-style deltas: equal bytes whenever it answers,
// and it answers for the writes a local patch makes.
#include <ostream>
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "crdt/codec.hpp"
#include "crdt/patch.hpp"
#include "tests/crdt/gen.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;
using namespace sessionmesh::crdt;
using sessionmesh::testing::random_record;

namespace {

live_counts counts_of(const session_record& r) {
  live_counts c;
  c.bytes = r.worker.size();
  for (int s = 0; s < section_count; ++s)
    for (const auto& [name, e] : r.sections[static_cast<size_t>(s)])
      if (e.value) {
        ++c.entries[static_cast<size_t>(s)];
        c.bytes += name.size() + e.value->size();
      }
  return c;
}

bool same(const live_counts& a, const live_counts& b) { return a.entries == b.entries && a.bytes == b.bytes; }

// A delta as a write makes it: one stamp on every register it sets. Its
// node is usually one the record knows, its clock usually above the record.
session_record random_write(std::mt19937_64& rng, const session_record& r) {
  const uint64_t nodes[] = {0x1111, 0x2222, 0xfffffffffffffff0ull, 0x3333};
  const uint64_t hlc = rng() % 4 == 0 ? hlc_make(1'700'000'000'000ull + rng() % 8, rng() % 3)
                                      : hlc_make(1'700'000'000'100ull, rng() % 3);
  const stamp ts{hlc, nodes[rng() % 8 == 0 ? 3 : rng() % 3]};
  session_record d;
  d.id = r.id;
  if (rng() % 5 != 0) d.touched = ts;
  if (rng() % 6 == 0) {
    d.ttl_ts = ts;
    d.ttl_s = static_cast<uint32_t>(rng() % 100000);
  }
  if (rng() % 6 == 0) {
    d.worker_ts = ts;
    d.worker = "worker-" + std::to_string(rng() % 3);
  }
  const char* names[] = {"a", "b", "c", "temperature", "0", "zz", "b2"};
  for (auto& m : d.sections) {
    const int n = static_cast<int>(rng() % 3);
    for (int i = 0; i < n; ++i) {
      entry e{ts, std::nullopt};
      if (rng() % 4 != 0) e.value = std::string(rng() % 3 == 0 ? 300 : 3, static_cast<char>('a' + rng() % 3));
      m[names[rng() % 7]] = e;
    }
  }
  return d;
}

}  // namespace

TEST_CASE("merge_encoded gives the bytes of decode, merge, encode") {
  std::mt19937_64 rng(testing::test_seed("merge encoded"));
  const int n = testing::test_cases(20000);
  int answered = 0;
  for (int i = 0; i < n; ++i) {
    const session_record r = random_record(rng);
    const session_record d = random_write(rng, r);
    const std::string bytes = encode(r);
    const session_record next = merge(r, d);
    const auto got = merge_encoded(bytes, d);
    if (!got) continue;
    ++answered;
    REQUIRE(got->bytes == encode(next));
    CHECK(same(got->before, counts_of(r)));
    CHECK(same(got->after, counts_of(next)));
    CHECK(got->content_version == content_version(next));
    const auto h = read_header(got->bytes);
    REQUIRE(h.has_value());
    CHECK(got->header.maps_offset == h->maps_offset);
    CHECK(got->header.touched == h->touched);
    CHECK(got->header.created == h->created);
    CHECK(got->header.tombstone == h->tombstone);
    CHECK(got->header.ttl_ts == h->ttl_ts);
    CHECK(got->header.ttl_s == h->ttl_s);
    CHECK(got->header.worker_ts == h->worker_ts);
  }
  // Most writes take the short way; the rest fall back (stamps below the
  // record's, an unknown node, a node that leaves the table).
  CHECK(answered > n / 4);
  CHECK(answered < n);
}

TEST_CASE("merge_encoded with 5 to 32 nodes in the record's table (searched, not scanned)") {
  // Register nK is stamped by node tag(K) alone; a write to nK from tag(K)
  // keeps every tag referenced, so it takes the short way; a write from a
  // node the table lacks falls back. The random record adds up to 3 tags.
  std::mt19937_64 rng(testing::test_seed("merge encoded many nodes"));
  const int n = testing::test_cases(2000);
  auto tag = [](uint64_t k) { return 0x5000 + k * 0x101; };
  int answered = 0, known = 0;
  for (int i = 0; i < n; ++i) {
    session_record r = random_record(rng);
    const uint64_t nodes = 2 + rng() % 28;
    for (uint64_t k = 0; k < nodes; ++k)
      r.map(section::variables)["n" + std::to_string(k)] =
          entry{{hlc_make(1'700'000'000'100ull, 0), tag(k)}, std::string("1")};  // above the random stamps
    normalize(r);
    const bool from_known = rng() % 4 != 0;
    known += from_known;
    const uint64_t k = rng() % nodes;
    const stamp ts{hlc_make(1'700'000'000'500ull, 0), from_known ? tag(k) : 0x9999};
    session_record d;
    d.id = r.id;
    d.map(section::variables)["n" + std::to_string(k)] = entry{ts, std::string("2")};
    const std::string bytes = encode(r);
    const auto got = merge_encoded(bytes, d);
    if (!got) continue;
    ++answered;
    REQUIRE(got->bytes == encode(merge(r, d)));
  }
  CHECK(answered == known);
}

TEST_CASE("merge_encoded takes a write from a node the record knows, above its stamps") {
  session_record r;
  r.id = "sess-1";
  r.created = {hlc_make(1000, 0), 0x1111};
  r.touched = r.created;
  r.map(section::variables)["v"] = entry{r.created, std::string("1")};
  session_record d;
  d.id = r.id;
  const stamp ts{hlc_make(2000, 0), 0x1111};
  d.touched = ts;
  d.map(section::variables)["v"] = entry{ts, std::string(300, 'x')};
  d.map(section::metadata)["m"] = entry{ts, std::string("\"x\"")};
  auto got = merge_encoded(encode(r), d);
  REQUIRE(got.has_value());
  CHECK(got->bytes == encode(merge(r, d)));
  CHECK(got->after.entries[static_cast<size_t>(section::variables)] == 1);
  CHECK(got->after.entries[static_cast<size_t>(section::metadata)] == 1);
  CHECK(got->after.bytes == 1 + 300 + 1 + 3);
  // A stamp of a node the record does not know, or one below the record's: the long way.
  d.touched.node = d.map(section::variables)["v"].ts.node = d.map(section::metadata)["m"].ts.node = 0x9999;
  CHECK_FALSE(merge_encoded(encode(r), d).has_value());
  session_record low;
  low.id = r.id;
  low.touched = {hlc_make(500, 0), 0x1111};
  CHECK_FALSE(merge_encoded(encode(r), low).has_value());
}

TEST_CASE("merge_encoded into a reused buffer: maps of 16 or more entries, names that share prefixes or pass ASCII") {
  std::mt19937_64 rng(testing::test_seed("merge encoded wide"));
  const int n = testing::test_cases(5000);
  std::vector<std::string> names;
  for (int i = 0; i < 24; ++i) names.push_back("k" + std::to_string(i));
  for (const char* s : {"a", "ab", "abc", "b", "\xc3\xa9t\xc3\xa9", "\x7f", "zz", "temperature"}) names.push_back(s);
  std::string out;  // one buffer for every call, as a store shard keeps
  int answered = 0, wide = 0;
  for (int i = 0; i < n; ++i) {
    session_record r = random_record(rng);
    for (auto& m : r.sections) {
      const int k = static_cast<int>(rng() % 24);  // with the write's, often across 16
      for (int j = 0; j < k; ++j)
        m[names[rng() % names.size()]] = entry{testing::random_stamp(rng, false), std::to_string(rng() % 1000)};
    }
    normalize(r);
    session_record d = random_write(rng, r);
    for (auto& m : d.sections)
      if (!m.empty() && rng() % 2 == 0) {
        const stamp ts = m.begin()->second.ts;
        m[names[rng() % names.size()]] = entry{ts, rng() % 4 ? std::optional<std::string>("\"v\"") : std::nullopt};
      }
    const std::string bytes = encode(r);
    const session_record next = merge(r, d);
    const auto got = merge_encoded(bytes, d, out);
    if (!got) continue;
    ++answered;
    for (const auto& m : next.sections) wide += m.size() >= 16;
    REQUIRE(out == encode(next));
    CHECK(same(got->after, counts_of(next)));
    CHECK(got->content_version == content_version(next));
    const auto h = read_header(out);
    REQUIRE(h.has_value());
    CHECK(got->header.maps_offset == h->maps_offset);
    // The read path's walk finds each name in these wide maps too.
    for (int s = 0; s < section_count; ++s)
      for (const auto& name : names) {
        const auto& m = next.sections[static_cast<size_t>(s)];
        const auto it = m.find(name);
        const std::optional<std::string_view> want =
            it == m.end() || !it->second.value ? std::nullopt : std::optional<std::string_view>(*it->second.value);
        REQUIRE(find_value(out, h->maps_offset, static_cast<section>(s), name) == want);
      }
  }
  CHECK(answered > n / 4);
  CHECK(wide > n / 10);
}
