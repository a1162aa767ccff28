// Property tests of the session record lattice and its encoding.
#include <ostream>
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include <xxhash.h>

#include "crdt/codec.hpp"
#include "tests/crdt/gen.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;
using namespace sessionmesh::crdt;
using sessionmesh::testing::random_record;

TEST_CASE("merge is commutative, associative and idempotent") {
  std::mt19937_64 rng(testing::test_seed("merge laws"));
  const int n = testing::test_cases(10000);
  for (int i = 0; i < n; ++i) {
    auto a = random_record(rng), b = random_record(rng), c = random_record(rng);
    CHECK(merge(a, b) == merge(b, a));
    CHECK(merge(merge(a, b), c) == merge(a, merge(b, c)));
    CHECK(merge(a, a) == a);
    CHECK(merge(merge(a, b), b) == merge(a, b));
  }
}

TEST_CASE("deltas applied in any order, with duplicates, equal the merged states") {
  std::mt19937_64 rng(testing::test_seed("delta order"));
  const int n = testing::test_cases(10000);
  for (int i = 0; i < n; ++i) {
    std::vector<session_record> deltas(1 + rng() % 6);
    for (auto& d : deltas) d = random_record(rng);
    session_record expected{"sess-1"};
    for (const auto& d : deltas) merge_into(expected, d);
    auto shuffled = deltas;
    const size_t dups = rng() % 4;
    for (size_t k = 0; k < dups; ++k) shuffled.push_back(deltas[rng() % deltas.size()]);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    session_record got{"sess-1"};
    for (const auto& d : shuffled) merge_into(got, d);
    CHECK(got == expected);
    CHECK(digest(got) == digest(expected));
  }
}

TEST_CASE("the encoding round-trips and is canonical") {
  std::mt19937_64 rng(testing::test_seed("codec roundtrip"));
  const int n = testing::test_cases(10000);
  for (int i = 0; i < n; ++i) {
    auto r = random_record(rng, "id-" + std::to_string(rng() % 1000));
    const std::string bytes = encode(r);
    auto back = decode(bytes);
    REQUIRE(back.has_value());
    CHECK(*back == r);
    CHECK(encode(*back) == bytes);
  }
}

TEST_CASE("decoding garbage and truncations gives errors, never crashes") {
  std::mt19937_64 rng(testing::test_seed("codec garbage"));
  const int n = testing::test_cases(10000);
  int rejected = 0;
  for (int i = 0; i < n; ++i) {
    std::string bytes = encode(random_record(rng));
    switch (rng() % 3) {
      case 0: bytes.resize(rng() % bytes.size()); break;
      case 1: bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255); break;
      default: bytes.insert(rng() % bytes.size(), 1, static_cast<char>(rng())); break;
    }
    auto r = decode(bytes);
    if (!r) ++rejected;
    else CHECK(encode(*r) == bytes);  // whatever is accepted is canonical
  }
  CHECK(rejected > n / 2);
}

TEST_CASE("inspect reads what decode would, without allocating, and refuses what decode refuses") {
  std::mt19937_64 rng(testing::test_seed("codec inspect"));
  const int n = testing::test_cases(10000);
  int rejected = 0;
  for (int i = 0; i < n; ++i) {
    const auto r = random_record(rng, "id-" + std::to_string(rng() % 1000));
    const std::string bytes = encode(r);
    auto f = inspect(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header.id == r.id);
    CHECK(f->header.tombstone == r.tombstone);
    CHECK(f->header.created == r.created);
    CHECK(f->max_stamp == max_stamp(r));
    // Damaged bytes: whatever inspect accepts, decode accepts too (and an
    // extra byte at the end is refused by both).
    std::string bad = bytes;
    switch (rng() % 4) {
      case 0: bad.resize(rng() % bad.size()); break;
      case 1: bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255); break;
      case 2: bad.push_back('\0'); break;
      default: bad.insert(rng() % bad.size(), 1, static_cast<char>(rng())); break;
    }
    auto fi = inspect(bad);
    if (!fi) ++rejected;
    else CHECK(decode(bad, {}, false).has_value());
    if (bad.size() == bytes.size() + 1 && bad.compare(0, bytes.size(), bytes) == 0) CHECK_FALSE(fi.has_value());
  }
  CHECK(rejected > n / 2);
}

TEST_CASE("inspect refuses entry names out of order") {
  session_record r{"sess-1"};
  r.created = stamp{100, 7};
  r.map(section::variables)["a"] = entry{stamp{101, 7}, "1"};
  r.map(section::variables)["b"] = entry{stamp{102, 7}, "2"};
  std::string bytes = encode(r);
  REQUIRE(inspect(bytes).has_value());
  // The two names are one byte each, fixstr-encoded: swap them in place.
  const size_t a = bytes.find("\xa1" "a"), b = bytes.find("\xa1" "b");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  std::swap(bytes[a + 1], bytes[b + 1]);
  CHECK(inspect(bytes).error() == errc::decode_error);
  CHECK_FALSE(decode(bytes).has_value());
}

TEST_CASE("decoding checks lengths against limits before allocating") {
  // array(18), fmt 1, then a str32 claiming 4 GiB.
  std::string bytes("\xdc\x00\x12\x01\xdb\xff\xff\xff\xff", 9);
  bytes.resize(64, '\0');
  auto r = decode(bytes);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == errc::limit_exceeded);
  codec_limits small;
  small.value_bytes = 2;
  session_record rec{"x"};
  rec.created = {hlc_make(5, 0), 1};
  rec.map(section::variables)["v"] = entry{{hlc_make(5, 0), 1}, std::string("12345")};
  auto r2 = decode(encode(rec), small);
  REQUIRE_FALSE(r2.has_value());
  CHECK(r2.error() == errc::limit_exceeded);
}

TEST_CASE("a tombstone hides older registers; a later create revives") {
  session_record r{"s"};
  r.created = {hlc_make(10, 0), 1};
  r.touched = r.created;
  r.ttl_ts = r.created;
  r.ttl_s = 60;
  r.map(section::variables)["x"] = entry{r.created, std::string("1")};
  CHECK(exists(r));
  session_record del{"s"};
  del.tombstone = {hlc_make(20, 0), 2};
  auto after = merge(r, del);
  CHECK_FALSE(exists(after));
  CHECK(after.map(section::variables).empty());
  // A concurrent write stamped before the delete stays dead.
  session_record late{"s"};
  late.map(section::variables)["y"] = entry{{hlc_make(15, 0), 3}, std::string("2")};
  CHECK(merge(after, late) == after);
  session_record again{"s"};
  again.created = {hlc_make(30, 0), 1};
  again.ttl_ts = again.created;
  again.ttl_s = 5;
  auto revived = merge(after, again);
  CHECK(exists(revived));
  CHECK(expires_at_ms(revived) == 30 + 5000);
  CHECK(is_live(revived, 30 + 4999));
  CHECK_FALSE(is_live(revived, 30 + 5000));
}

TEST_CASE("concurrent writes to different entries both survive; same entry: higher stamp, node breaks ties") {
  session_record base{"s"};
  base.created = {hlc_make(1, 0), 1};
  session_record a = base, b = base;
  a.map(section::variables)["x"] = entry{{hlc_make(5, 0), 1}, std::string("\"a\"")};
  b.map(section::variables)["y"] = entry{{hlc_make(5, 0), 2}, std::string("\"b\"")};
  auto m = merge(a, b);
  CHECK(m.map(section::variables).size() == 2);
  session_record c = base, d = base;
  c.map(section::variables)["x"] = entry{{hlc_make(7, 0), 1}, std::string("1")};
  d.map(section::variables)["x"] = entry{{hlc_make(7, 0), 2}, std::string("2")};
  CHECK(*merge(c, d).map(section::variables).at("x").value == "2");
  CHECK(*merge(d, c).map(section::variables).at("x").value == "2");
}

TEST_CASE("find_value finds what the record holds, and nothing else; trusted_header reads what read_header does") {
  std::mt19937_64 rng(testing::test_seed("codec find"));
  const int n = testing::test_cases(5000);
  const char* names[] = {"a", "b", "c", "temperature", "0", "zz"};
  for (int i = 0; i < n; ++i) {
    const auto r = random_record(rng);
    const std::string bytes = encode(r);
    const auto h = read_header(bytes);
    REQUIRE(h.has_value());
    // The store's unchecked header read gives the checked one's fields.
    const packed_header t = trusted_header(bytes);
    REQUIRE(t.id == h->id);
    REQUIRE(t.nodes == h->nodes);
    REQUIRE((t.tombstone == h->tombstone && t.created == h->created && t.touched == h->touched));
    REQUIRE((t.ttl_ts == h->ttl_ts && t.ttl_s == h->ttl_s && t.worker_ts == h->worker_ts));
    REQUIRE(t.worker == h->worker);
    REQUIRE(t.maps_offset == h->maps_offset);
    for (int s = 0; s < section_count; ++s)
      for (const char* name : names) {
        const auto& m = r.sections[static_cast<size_t>(s)];
        const auto it = m.find(name);
        const std::optional<std::string_view> want =
            it == m.end() || !it->second.value ? std::nullopt : std::optional<std::string_view>(*it->second.value);
        REQUIRE(find_value(bytes, h->maps_offset, static_cast<section>(s), name) == want);
      }
  }
}

TEST_CASE("find_value reads names and values of every string width, and removed entries") {
  // Names of 1 to 40 bytes (fixstr and str8), values from empty to past
  // 64 KiB (fixstr, str8, str16, str32) or removed (nil), node indices past
  // 127 (not the one-byte form): the common-shape fast path and the field by
  // field one must agree with the record.
  std::mt19937_64 rng(testing::test_seed("codec find widths"));
  const int n = testing::test_cases(400);
  const size_t widths[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
  for (int i = 0; i < n; ++i) {
    session_record r = random_record(rng);
    for (auto& m : r.sections) {
      m.clear();
      const int entries = static_cast<int>(rng() % 6);
      for (int e = 0; e < entries; ++e) {
        std::string name(1 + rng() % 40, 'a');
        for (auto& c : name) c = static_cast<char>('a' + rng() % 3);
        entry en{testing::random_stamp(rng, false), std::nullopt};
        if (rng() % 5 != 0) en.value = std::string(widths[rng() % 8], static_cast<char>('0' + rng() % 10));
        m[name] = en;
      }
    }
    if (rng() % 4 == 0) {  // a node table past 127 entries: two-byte node indices
      for (auto& m : r.sections)
        for (auto& [name, en] : m) en.ts.node = 0x10000 + rng() % 200;
      for (stamp* st : {&r.created, &r.touched, &r.worker_ts})  // header stamps too, when set
        if (st->hlc != 0) st->node = 0x10000 + 199 + rng() % 2;
    }
    normalize(r);
    const std::string bytes = encode(r);
    const packed_header h = trusted_header(bytes);
    const auto checked = read_header(bytes);  // the header's stamps, whatever their form
    REQUIRE(checked.has_value());
    REQUIRE((h.tombstone == checked->tombstone && h.created == checked->created && h.touched == checked->touched));
    REQUIRE((h.ttl_ts == checked->ttl_ts && h.worker_ts == checked->worker_ts && h.maps_offset == checked->maps_offset));
    for (int s = 0; s < section_count; ++s) {
      const auto& m = r.sections[static_cast<size_t>(s)];
      for (const auto& [name, en] : m) {
        const std::optional<std::string_view> want =
            en.value ? std::optional<std::string_view>(*en.value) : std::nullopt;
        REQUIRE(find_value(bytes, h.maps_offset, static_cast<section>(s), name) == want);
      }
      REQUIRE(!find_value(bytes, h.maps_offset, static_cast<section>(s), "absent").has_value());
      REQUIRE(!find_value(bytes, h.maps_offset, static_cast<section>(s), "").has_value());
    }
  }
}

TEST_CASE("digest_bytes is the library's XXH3-64 (nodes of any build compare digests)") {
  // codec.cpp inlines xxhash; the library call here is the reference.
  std::string buf;
  for (size_t n = 0; n <= 1100; ++n) {
    CHECK(crdt::digest_bytes(buf) == XXH3_64bits(buf.data(), buf.size()));
    buf.push_back(static_cast<char>((n * 131 + 7) & 0xff));
  }
}
