#include "store/recovery.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "store/framing.hpp"
#include "store/wal.hpp"

namespace sessionmesh::store {
namespace {

constexpr std::string_view snap_magic = "SMSNAP01";
constexpr uint64_t max_file_bytes = 1ull << 36;

bool parse_index(const std::string& name, std::string_view prefix, std::string_view suffix,
                 uint64_t& out) {
  if (name.size() != prefix.size() + 20 + suffix.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = prefix.size(); i < prefix.size() + 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  out = v;
  return true;
}

std::string describe(const std::string& path, uint64_t offset, std::string_view what) {
  return path + ": " + std::string(what) + " at offset " + std::to_string(offset);
}

result<uint64_t> load_snapshot(file_system& fs, const std::string& path,
                               const std::function<bool(std::string_view)>& apply,
                               const std::function<bool(const std::vector<std::string_view>&)>& apply_all) {
  auto data = fs.read_whole(path, max_file_bytes);
  if (!data) {
    return {data.error(), path + ": cannot read snapshot"};
  }
  std::string_view bytes = (*data)->bytes();
  if (bytes.substr(0, snap_magic.size()) != snap_magic) {
    return {errc::corrupt_data, describe(path, 0, "bad snapshot header")};
  }
  bytes.remove_prefix(snap_magic.size());
  uint64_t records = 0;
  bool ended = false;
  uint64_t end_count = 0;
  uint64_t bad_at = 0;
  std::vector<std::string_view> held;  // apply_all: every record, applied once the file checked out
  auto r = scan_frames(bytes, [&](std::string_view payload, uint64_t off) {
    if (ended) {
      bad_at = off;
      return false;  // frames after the end marker
    }
    if (payload.substr(0, 4) == "end:") {
      ended = true;
      end_count = std::strtoull(std::string(payload.substr(4)).c_str(), nullptr, 10);
      return true;
    }
    ++records;
    bad_at = off;
    if (apply_all) {
      held.push_back(payload);
      return true;
    }
    return apply(payload);
  });
  if (r.stop != scan_stop::end || !ended || end_count != records) {
    const uint64_t off = snap_magic.size() + (r.stop == scan_stop::end ? r.good_bytes : r.bad_offset);
    (void)bad_at;
    return {errc::corrupt_data, describe(path, off, ended || r.stop != scan_stop::end ? "corrupt snapshot record"
                                                                                       : "snapshot has no end marker")};
  }
  if (apply_all && !apply_all(held)) return {errc::corrupt_data, path + ": corrupt snapshot record"};
  return records;
}

}  // namespace

std::string snapshot_name(uint64_t covered_segment) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "snap-%020llu.snap", static_cast<unsigned long long>(covered_segment));
  return buf;
}

result<recovery_report> recover(file_system& fs, const std::string& dir,
                                const std::function<bool(std::string_view)>& apply,
                                const std::function<bool(const std::vector<std::string_view>&)>& apply_snapshot) {
  if (auto r = fs.make_dir(dir); !r) {
    return {r.error(), dir + ": cannot create data directory"};
  }
  auto names = fs.list_dir(dir);
  if (!names) {
    return {names.error(), dir + ": cannot list data directory"};
  }
  std::vector<uint64_t> segments, snapshots;
  for (const auto& n : *names) {
    uint64_t idx = 0;
    if (parse_index(n, "wal-", ".log", idx)) segments.push_back(idx);
    else if (parse_index(n, "snap-", ".snap", idx)) snapshots.push_back(idx);
    else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) (void)fs.remove(dir + "/" + n);
  }
  std::sort(segments.begin(), segments.end());
  std::sort(snapshots.begin(), snapshots.end());

  recovery_report rep;
  if (!snapshots.empty()) {
    rep.snapshot_segment = snapshots.back();
    auto n = load_snapshot(fs, dir + "/" + snapshot_name(rep.snapshot_segment), apply, apply_snapshot);
    if (!n) return failed<recovery_report>(n);
    rep.snapshot_records = *n;
  }
  uint64_t last = rep.snapshot_segment;
  for (size_t i = 0; i < segments.size(); ++i) {
    const uint64_t idx = segments[i];
    last = std::max(last, idx);
    if (idx <= rep.snapshot_segment) continue;
    const std::string path = dir + "/" + wal_segment_name(idx);
    auto data = fs.read_file(path, max_file_bytes);
    if (!data) {
      return {data.error(), path + ": cannot read WAL segment"};
    }
    // A segment's records go in as one batch, like a snapshot's: merging is
    // a join, so their order does not matter, and the batch checks them on
    // two threads and indexes them at once.
    std::vector<std::string_view> held;
    auto r = scan_frames(*data, [&](std::string_view payload, uint64_t) {
      if (!apply_snapshot) return apply(payload);
      held.push_back(payload);
      return true;
    });
    if (apply_snapshot && !held.empty() && !apply_snapshot(held))
      return {errc::corrupt_data, path + ": corrupt WAL record"};
    rep.wal_records += r.frames;
    ++rep.segments_replayed;
    const bool is_last = i + 1 == segments.size();
    if (r.stop == scan_stop::corrupt || (r.stop == scan_stop::torn && !is_last)) {
      return {errc::corrupt_data, describe(path, r.bad_offset, "corrupt WAL record (checksum or structure)")};
    }
    if (r.stop == scan_stop::torn) {
      rep.torn_bytes_cut = data->size() - r.good_bytes;
      if (auto t = fs.truncate(path, r.good_bytes); !t) {
        return {t.error(), path + ": cannot cut torn tail"};
      }
    }
  }
  rep.next_segment = last + 1;
  return rep;
}

result<uint64_t> write_snapshot(
    file_system& fs, const std::string& dir, uint64_t covered_segment,
    const std::function<void(const std::function<void(std::string_view)>& emit)>& produce) {
  const std::string final_path = dir + "/" + snapshot_name(covered_segment);
  const std::string tmp_path = final_path + ".tmp";
  (void)fs.remove(tmp_path);
  auto f = fs.open_append(tmp_path);
  if (!f) return f.error();
  std::string buf(snap_magic);
  uint64_t count = 0;
  bool ok = true;
  produce([&](std::string_view payload) {
    append_frame(buf, payload);
    ++count;
    if (ok && buf.size() >= (1u << 20)) {
      ok = static_cast<bool>((*f)->append(buf));
      buf.clear();
    }
  });
  append_frame(buf, "end:" + std::to_string(count));
  if (ok) ok = static_cast<bool>((*f)->append(buf));
  if (ok) ok = static_cast<bool>((*f)->sync());
  f->reset();
  if (!ok || !fs.rename(tmp_path, final_path) || !fs.sync_dir(dir)) {
    (void)fs.remove(tmp_path);
    return errc::io_error;
  }
  // The snapshot now covers these: drop them.
  if (auto names = fs.list_dir(dir)) {
    for (const auto& n : *names) {
      uint64_t idx = 0;
      if ((parse_index(n, "wal-", ".log", idx) && idx <= covered_segment) ||
          (parse_index(n, "snap-", ".snap", idx) && idx < covered_segment))
        (void)fs.remove(dir + "/" + n);
    }
    (void)fs.sync_dir(dir);
  }
  return count;
}

}  // namespace sessionmesh::store
