// Snapshots and start-up recovery of a data directory.
//
// Layout: wal-<n>.log segments and snap-<n>.snap snapshots; snap-<n> holds
// every record of the segments up to and including n (it may hold later
// ones too: records are CRDT states and deltas, so replaying one twice is
// harmless). A snapshot is written to a .tmp file, fsynced, renamed and the
// directory fsynced, so a snapshot file is either whole or absent.
//
//   snapshot := "SMSNAP01" frame(record)* frame("end:<count>")
//
// recover(): loads the newest snapshot, replays later segments in order,
// cuts a torn tail of the last segment at its last good record, and fails
// with a message naming file and offset on any other damage.
// Thread: called by one thread at open / snapshot time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>
#include <string_view>

#include "store/file_io.hpp"

namespace sessionmesh::store {

std::string snapshot_name(uint64_t covered_segment);

struct recovery_report {
  uint64_t snapshot_segment = 0;  // 0: no snapshot
  uint64_t snapshot_records = 0;
  uint64_t wal_records = 0;
  uint64_t segments_replayed = 0;
  uint64_t torn_bytes_cut = 0;
  uint64_t next_segment = 1;      // where the writer should append
};

// apply(payload) must accept a record; returning false marks it corrupt.
// apply_snapshot (optional): the snapshot's records all at once, after its
// frames and end marker checked out, and then each WAL segment's good
// records at once (views into the file's bytes, valid during the call), in
// place of one apply per record (merging is a join: order does not matter);
// false marks the file corrupt.
result<recovery_report> recover(
    file_system& fs, const std::string& dir, const std::function<bool(std::string_view)>& apply,
    const std::function<bool(const std::vector<std::string_view>&)>& apply_snapshot = nullptr);

// Writes snap-<covered>.snap from the records produce() hands to emit(),
// then removes segments <= covered and older snapshots.
result<uint64_t> write_snapshot(
    file_system& fs, const std::string& dir, uint64_t covered_segment,
    const std::function<void(const std::function<void(std::string_view)>& emit)>& produce);

}  // namespace sessionmesh::store
