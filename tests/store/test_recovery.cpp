// Durability of the local adapter: reopen, snapshots, torn tails, corruption, disk full.
// Over 400 lines on purpose: every case here reopens a data directory through
// the same helpers (fresh_dir, disk_opts, open_ok, write_n/check_n below).
#include <ostream>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <map>
#include <filesystem>
#include <thread>
#include <vector>
#include <fstream>

#include "crdt/codec.hpp"
#include "store/framing.hpp"
#include "store/local_store.hpp"
#include "store/wal.hpp"
#include "tests/store/faulty_fs.hpp"
#include "tests/test_seed.hpp"

using namespace sessionmesh;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir() {
  char tmpl[] = "/tmp/sm-rec-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

store_options disk_opts(const std::string& dir) {
  store_options o;
  o.node_id = "n1";
  o.data_dir = dir;
  o.fsync = fsync_mode::always;
  o.reaper_interval_ms = 0;
  return o;
}

std::unique_ptr<store::local_store> open_ok(const store_options& o, store::file_system& f = store::posix_fs()) {
  auto st = store::local_store::open(o, f);
  REQUIRE_MESSAGE(st.has_value(), st.describe());
  return std::move(st).value();
}

void write_n(session_store& st, int from, int to) {
  for (int i = from; i < to; ++i) {
    create_request req;
    req.id = "s" + std::to_string(i);
    req.variables = {{"v", std::to_string(i)}};
    REQUIRE(st.create(req).has_value());
  }
}

void check_n(session_store& st, int from, int to) {
  for (int i = from; i < to; ++i) {
    auto s = st.get("s" + std::to_string(i));
    REQUIRE_MESSAGE(s.has_value(), "s" << i);
    CHECK(*s->find(section::variables, "v") == std::to_string(i));
  }
}

std::vector<fs::path> files_with(const std::string& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("frames: torn tails and corruption are told apart") {
  std::string log;
  for (int i = 0; i < 5; ++i) store::append_frame(log, "payload-" + std::to_string(i));
  auto count = [](std::string_view b) { return store::scan_frames(b, [](auto, auto) { return true; }); };
  auto ok = count(log);
  CHECK(ok.stop == store::scan_stop::end);
  CHECK(ok.frames == 5);
  for (size_t cut = 1; cut < 25; ++cut) {  // a frame here is 16 + 9 bytes
    auto r = count(std::string_view(log).substr(0, log.size() - cut));
    CHECK(r.stop == store::scan_stop::torn);
    CHECK(r.frames == 4);
  }
  std::string mid = log;
  mid[30] ^= 0x40;  // inside the 2nd frame's payload or header
  auto r = count(mid);
  CHECK(r.stop == store::scan_stop::corrupt);
  std::string zeros = log + std::string(100, '\0');
  CHECK(count(zeros).stop == store::scan_stop::torn);
  CHECK(count(zeros).frames == 5);
  // A crash mid-append into a reserved tail: the last record's end is still
  // zeros, and zeros follow it.
  std::string cut_in_reserve = log;
  std::fill(cut_in_reserve.end() - 4, cut_in_reserve.end(), '\0');
  cut_in_reserve += std::string(100, '\0');
  auto t = count(cut_in_reserve);
  CHECK(t.stop == store::scan_stop::torn);
  CHECK(t.frames == 4);
  // ...but a byte of data after the zeros, or after the bad record, is damage.
  std::string damaged = cut_in_reserve;
  damaged[damaged.size() - 10] = 'x';
  CHECK(count(damaged).stop == store::scan_stop::corrupt);
  std::string bad_then_data = log + log;
  bad_then_data[log.size() - 2] ^= 0x01;
  CHECK(count(bad_then_data).stop == store::scan_stop::corrupt);
}

TEST_CASE("the WAL reserves zeros ahead of the writer and seals a segment it leaves") {
  const std::string dir = fresh_dir();
  {
    store::wal w(store::posix_fs(), dir, fsync_mode::always, 10, 64u << 20);
    REQUIRE(w.start(1).has_value());
    auto lsn = w.append("first");
    REQUIRE(lsn.has_value());
    REQUIRE(w.commit(*lsn).has_value());
    const auto seg = dir + "/" + store::wal_segment_name(1);
    // On disk: the record, then reserved zeros (what a kill -9 leaves).
    CHECK(fs::file_size(seg) >= store::wal_reserve_bytes);
    auto bytes = store::posix_fs().read_file(seg, 64u << 20);
    REQUIRE(bytes.has_value());
    auto r = store::scan_frames(*bytes, [](auto, auto) { return true; });
    CHECK(r.frames == 1);
    CHECK(r.stop == store::scan_stop::torn);
    CHECK(r.good_bytes == store::frame_header_bytes + 5);
    // rotate() cuts the zeros off the segment it closes.
    REQUIRE(w.rotate().has_value());
    CHECK(fs::file_size(seg) == store::frame_header_bytes + 5);
    REQUIRE(w.append("second").has_value());
    w.close();  // and so does close()
    CHECK(fs::file_size(dir + "/" + store::wal_segment_name(2)) == store::frame_header_bytes + 6);
  }
}

TEST_CASE("a store killed with reserved zeros on disk reopens with every record") {
  const std::string dir = fresh_dir();
  {
    auto st = open_ok(disk_opts(dir));
    write_n(*st, 0, 20);
    // What kill -9 leaves: copy the segment before close() seals it.
    const auto seg = files_with(dir, ".log").back();
    CHECK(fs::file_size(seg) >= store::wal_reserve_bytes);
    fs::copy_file(seg, dir + "/killed.copy");
  }
  const auto seg = files_with(dir, ".log").back();
  fs::remove(seg);
  fs::rename(dir + "/killed.copy", seg);
  {
    auto st = open_ok(disk_opts(dir));
    check_n(*st, 0, 20);
    write_n(*st, 20, 25);
  }
  auto st = open_ok(disk_opts(dir));
  check_n(*st, 0, 25);
}

TEST_CASE("a reopened store holds every acknowledged write, deletes included") {
  const std::string dir = fresh_dir();
  std::string version;
  {
    auto st = open_ok(disk_opts(dir));
    write_n(*st, 0, 50);
    REQUIRE(st->remove("s7").has_value());
    patch_request pr;
    pr.variables = {{"v", std::nullopt}, {"w", "\"x\""}};
    version = st->patch("s8", pr)->version();
  }
  auto st = open_ok(disk_opts(dir));
  check_n(*st, 0, 7);
  check_n(*st, 9, 50);
  CHECK(st->get("s7").error() == errc::not_found);
  auto s8 = st->get("s8");
  CHECK_FALSE(s8->find(section::variables, "v").has_value());
  CHECK(s8->version() == version);
  CHECK(st->stats().current_sessions == 49);
  // The clock resumes past what is on disk: new writes win over old ones.
  patch_request pr;
  pr.variables = {{"w", "\"y\""}};
  CHECK(st->patch("s8", pr)->version() > version);
}

TEST_CASE("recovery rebuilds every record byte for byte: snapshot, WAL tail, deletes, re-creates") {
  // Recovery packs a snapshot record as it is when its id is new and it has
  // no tombstone, and merges otherwise: both ways must give the very bytes
  // the store held (the Merkle root covers tombstones too).
  const uint64_t seed = sessionmesh::testing::test_seed("recovery byte for byte");
  std::mt19937_64 rng(seed);
  const std::string dir = fresh_dir();
  std::map<std::string, std::string> before;
  uint64_t root = 0;
  std::string sketch_bytes;
  {
    auto st = open_ok(disk_opts(dir));
    auto step = [&](int i) {
      const std::string id = "r" + std::to_string(rng() % 60);
      switch (rng() % 5) {
        case 0: {
          create_request c;
          c.id = id;
          c.metadata = {{"m", std::to_string(i)}};
          (void)st->create(std::move(c));
          break;
        }
        case 1:
        case 2: {
          patch_request p;
          p.variables = {{"v" + std::to_string(rng() % 4), std::to_string(i)}};
          if (rng() % 3 == 0) p.variables.push_back({"v0", std::nullopt});
          (void)st->patch(id, std::move(p));
          break;
        }
        case 3:
          (void)st->remove(id);
          break;
        default:
          (void)st->touch(id);
      }
    };
    for (int i = 0; i < 400; ++i) step(i);
    REQUIRE(st->snapshot_now().has_value());
    for (int i = 400; i < 700; ++i) step(i);
    for (int k = 0; k < 60; ++k) {
      const std::string id = "r" + std::to_string(k);
      if (auto s = st->peek(id)) before[id] = std::string(s->encoded());
    }
    root = st->merkle().root();
    sketch_bytes = st->merkle().fold_sketch(store::sketch::max_bits).to_bytes();
  }
  auto st = open_ok(disk_opts(dir));
  for (int k = 0; k < 60; ++k) {
    const std::string id = "r" + std::to_string(k);
    auto s = st->peek(id);
    auto it = before.find(id);
    CHECK_MESSAGE(s.has_value() == (it != before.end()), id);
    if (s && it != before.end()) CHECK_MESSAGE(std::string(s->encoded()) == it->second, id);
  }
  CHECK(st->merkle().root() == root);
  CHECK(st->merkle().fold_sketch(store::sketch::max_bits).to_bytes() == sketch_bytes);
  CHECK(st->stats().current_sessions == before.size());
}

TEST_CASE("a large snapshot is checked on two threads and recovered byte for byte") {
  const std::string dir = fresh_dir();
  auto o = disk_opts(dir);
  o.fsync = fsync_mode::off;
  o.max_sessions = 100000;
  std::vector<std::string> before;
  uint64_t root = 0;
  std::string sketch_bytes;
  const int n = 6000;  // above apply_snapshot's threshold for a second thread
  {
    auto st = open_ok(o);
    for (int i = 0; i < n; ++i) {
      create_request c;
      c.id = "big" + std::to_string(i);
      c.variables = {{"v", std::to_string(i)}};
      REQUIRE(st->create(std::move(c)).has_value());
    }
    REQUIRE(st->remove("big7").has_value());  // a tombstone in the snapshot: merged, not packed
    REQUIRE(st->snapshot_now().has_value());
    for (int i = 0; i < n; ++i) {
      auto s = st->peek("big" + std::to_string(i));
      before.push_back(s ? std::string(s->encoded()) : std::string());
    }
    root = st->merkle().root();
    sketch_bytes = st->merkle().fold_sketch(store::sketch::max_bits).to_bytes();
  }
  auto st = open_ok(o);
  for (int i = 0; i < n; ++i) {
    auto s = st->peek("big" + std::to_string(i));
    CHECK((s ? std::string(s->encoded()) : std::string()) == before[static_cast<size_t>(i)]);
  }
  // The Merkle tree and the diff sketch, built in bulk on two threads, equal
  // those the writes built one by one.
  CHECK(st->merkle().root() == root);
  CHECK(st->merkle().fold_sketch(store::sketch::max_bits).to_bytes() == sketch_bytes);
  CHECK(st->stats().current_sessions == static_cast<uint64_t>(n - 1));
}

TEST_CASE("a large WAL tail goes in as one batch and is recovered byte for byte, repeats and deletes merged") {
  // No snapshot: every write is in the WAL, the same ids written many times
  // over, some deleted and created again: the batch (two threads above its
  // threshold) must merge what repeats exactly as the writes did.
  const uint64_t seed = sessionmesh::testing::test_seed("recovery wal batch");
  std::mt19937_64 rng(seed);
  const std::string dir = fresh_dir();
  auto o = disk_opts(dir);
  o.fsync = fsync_mode::off;
  o.max_sessions = 100000;
  const int ids = 3000;
  std::vector<std::string> before(ids);
  uint64_t root = 0, live = 0;
  std::string sketch_bytes;
  {
    auto st = open_ok(o);
    for (int i = 0; i < 9000; ++i) {
      const std::string id = "w" + std::to_string(rng() % ids);
      if (rng() % 10 == 0) {
        (void)st->remove(id);
      } else if (!st->peek(id)) {
        create_request c;
        c.id = id;
        c.variables = {{"v", std::to_string(i)}};
        (void)st->create(std::move(c));
      } else {
        patch_request p;
        p.variables = {{"v" + std::to_string(rng() % 3), std::to_string(i)}};
        (void)st->patch(id, std::move(p));
      }
    }
    for (int i = 0; i < ids; ++i) {
      auto s = st->peek("w" + std::to_string(i));
      before[static_cast<size_t>(i)] = s ? std::string(s->encoded()) : std::string();
    }
    root = st->merkle().root();
    sketch_bytes = st->merkle().fold_sketch(store::sketch::max_bits).to_bytes();
    live = st->stats().current_sessions;
  }
  auto st = open_ok(o);
  for (int i = 0; i < ids; ++i) {
    auto s = st->peek("w" + std::to_string(i));
    CHECK_MESSAGE((s ? std::string(s->encoded()) : std::string()) == before[static_cast<size_t>(i)], i);
  }
  CHECK(st->merkle().root() == root);
  CHECK(st->merkle().fold_sketch(store::sketch::max_bits).to_bytes() == sketch_bytes);
  CHECK(st->stats().current_sessions == live);
  CHECK(st->stats().tombstones > 0);
}

TEST_CASE("a change that arrives before its session's create is kept, across a restart, until the grace") {
  // A peer's patch can overtake the create (another node's, or repaired in
  // part): its registers make no session yet, and the reaper keeps them as
  // long as it would a tombstone, so the create finds them (before: dropped
  // at the next pass, and the node had acknowledged a write it then lost).
  const std::string dir = fresh_dir();
  auto o = disk_opts(dir);
  std::atomic<uint64_t> now{1'764'225'600'000ull};
  o.clock = [&now] { return now.load(); };
  o.tombstone_grace_ms = 60000;
  crdt::session_record patch;
  patch.id = "early";
  patch.map(section::variables)["v"] = crdt::entry{crdt::stamp{crdt::hlc_make(now.load(), 0), 7}, "1"};
  {
    auto st = open_ok(o);
    REQUIRE(st->apply_remote(crdt::encode(patch), "peer").has_value());
    CHECK(!st->peek("early").has_value());  // no session yet
    (void)st->cleanup_expired();
    CHECK(st->raw_records({"early"}).size() == 1);
  }
  now += 30000;
  auto st = open_ok(o);  // the start's own reaper pass
  CHECK(st->raw_records({"early"}).size() == 1);
  crdt::session_record create;
  create.id = "early";
  create.created = create.touched = create.ttl_ts = crdt::stamp{crdt::hlc_make(now.load(), 0), 8};
  create.ttl_s = 3600;
  REQUIRE(st->apply_remote(crdt::encode(create), "peer").has_value());
  auto v = st->peek("early");
  REQUIRE(v.has_value());
  CHECK(v->find(section::variables, "v").has_value());
  // Registers that never get a session go once the grace has passed.
  crdt::session_record lone;
  lone.id = "lone";
  lone.map(section::variables)["v"] = crdt::entry{crdt::stamp{crdt::hlc_make(now.load(), 0), 7}, "2"};
  REQUIRE(st->apply_remote(crdt::encode(lone), "peer").has_value());
  now += 61000;
  (void)st->cleanup_expired();
  CHECK(st->raw_records({"lone"}).empty());
}

TEST_CASE("snapshots bound replay and drop covered segments") {
  const std::string dir = fresh_dir();
  {
    auto st = open_ok(disk_opts(dir));
    write_n(*st, 0, 100);
    auto n = st->snapshot_now();
    REQUIRE(n.has_value());
    CHECK(*n == 100);
    write_n(*st, 100, 120);
    REQUIRE(st->remove("s3").has_value());
  }
  CHECK(files_with(dir, ".snap").size() == 1);
  auto st = open_ok(disk_opts(dir));
  check_n(*st, 4, 120);
  CHECK(st->get("s3").error() == errc::not_found);
  REQUIRE(st->snapshot_now().has_value());
  st->close();
  auto st2 = open_ok(disk_opts(dir));
  check_n(*st2, 4, 120);
  CHECK(files_with(dir, ".snap").size() == 1);
}

TEST_CASE("a torn tail is cut at the last good record; later writes append") {
  const std::string dir = fresh_dir();
  {
    auto st = open_ok(disk_opts(dir));
    write_n(*st, 0, 10);
  }
  auto segs = files_with(dir, ".log");
  REQUIRE(!segs.empty());
  const auto last = segs.back();
  const auto size = fs::file_size(last);
  fs::resize_file(last, size - 7);  // the last record loses its end
  {
    auto st = open_ok(disk_opts(dir));
    check_n(*st, 0, 9);
    CHECK(st->get("s9").error() == errc::not_found);
    write_n(*st, 9, 12);
  }
  auto st = open_ok(disk_opts(dir));
  check_n(*st, 0, 12);
}

TEST_CASE("a flipped byte in the middle stops start-up naming file and offset") {
  const std::string dir = fresh_dir();
  {
    auto st = open_ok(disk_opts(dir));
    write_n(*st, 0, 10);
  }
  const auto seg = files_with(dir, ".log").back();
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(seg) / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(seg) / 2));
    c = static_cast<char>(c ^ 0x10);
    f.write(&c, 1);
  }
  auto st = store::local_store::open(disk_opts(dir), store::posix_fs());
  const std::string why = st.detail();
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error() == errc::corrupt_data);
  CHECK(why.find(seg.filename().string()) != std::string::npos);
  CHECK(why.find("offset") != std::string::npos);
}

TEST_CASE("a damaged snapshot stops start-up too") {
  const std::string dir = fresh_dir();
  {
    auto st = open_ok(disk_opts(dir));
    write_n(*st, 0, 10);
    REQUIRE(st->snapshot_now().has_value());
  }
  const auto snap = files_with(dir, ".snap").back();
  fs::resize_file(snap, fs::file_size(snap) - 3);
  auto st = store::local_store::open(disk_opts(dir), store::posix_fs());
  const std::string why = st.detail();
  REQUIRE_FALSE(st.has_value());
  CHECK(why.find(".snap") != std::string::npos);
}

TEST_CASE("disk full: the caller gets io_error, nothing half-applied, the store stays readable") {
  const std::string dir = fresh_dir();
  testing::faulty_fs ffs;
  {
    auto st = open_ok(disk_opts(dir), ffs);
    write_n(*st, 0, 20);
    ffs.budget = 150;  // room for about one more record
    int failed = 0, ok = 20;
    for (int i = 20; i < 40; ++i) {
      create_request req;
      req.id = "s" + std::to_string(i);
      req.variables = {{"v", std::to_string(i)}};
      auto r = st->create(req);
      if (r) ++ok;
      else {
        CHECK(r.error() == errc::io_error);
        CHECK(st->get(req.id).error() == errc::not_found);  // not applied
        ++failed;
      }
    }
    CHECK(failed > 0);
    check_n(*st, 0, ok);
    CHECK(st->list("", 100, "")->sessions.size() == static_cast<size_t>(ok));
    ffs.budget = INT64_MAX;
    write_n(*st, 100, 105);  // space is back: writes go on
  }
  auto st = open_ok(disk_opts(dir));
  check_n(*st, 0, 20);
  check_n(*st, 100, 105);
}

TEST_CASE("the fsync mode and reaper interval change on a running store; every write survives a reopen") {
  const std::string dir = fresh_dir();
  {
    auto st = open_ok(disk_opts(dir));
    std::atomic<bool> done{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t)
      writers.emplace_back([&, t] { write_n(*st, t * 300, t * 300 + 300); });
    std::thread flipper([&] {
      const fsync_mode modes[] = {fsync_mode::batch, fsync_mode::off, fsync_mode::always};
      for (int i = 0; !done; ++i) {
        runtime_settings rs;
        rs.fsync = modes[i % 3];
        rs.reaper_interval_ms = 1000 + static_cast<uint32_t>(i % 5);
        st->reconfigure(rs);
      }
    });
    for (auto& w : writers) w.join();
    done = true;
    flipper.join();
    runtime_settings rs;
    rs.fsync = fsync_mode::always;
    st->reconfigure(rs);
    const auto before = st->stats().wal_fsyncs;
    write_n(*st, 900, 901);  // under always, answered after its fsync
    CHECK(st->stats().wal_fsyncs > before);
  }
  auto st = open_ok(disk_opts(dir));
  check_n(*st, 0, 901);
}
