// Log framing shared by the WAL and snapshots.
//
//   frame := len:u32le  hdr_check:u32le  payload_check:u64le  payload[len]
//   hdr_check     = low 32 bits of xxh3(len bytes)   (a flipped length is caught)
//   payload_check = xxh3(payload, seed = len)
//
// scan_frames() walks a buffer and classifies where it stopped:
//   end      every byte belongs to a good frame;
//   torn     the last frame is incomplete (header cut short, payload runs
//            past the end, or the final frame's payload check fails), or
//            only zeros follow the last good frame or the bad one (a WAL
//            segment's reserved tail, wal.hpp): a crash mid-append; cut the
//            file at good_bytes;
//   corrupt  a bad frame with more bytes after it, or a bad header: stop
//            start-up and name the offset, never skip silently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sessionmesh::store {

inline constexpr size_t frame_header_bytes = 16;
inline constexpr uint32_t frame_payload_max = 64u << 20;

void append_frame(std::string& out, std::string_view payload);

enum class scan_stop { end, torn, corrupt };

struct scan_result {
  uint64_t good_bytes = 0;  // offset just past the last good frame
  uint64_t frames = 0;
  scan_stop stop = scan_stop::end;
  uint64_t bad_offset = 0;  // where the torn or corrupt frame starts
};

// Calls fn(payload, offset) for every good frame; fn returning false stops
// the scan as corrupt at that frame.
scan_result scan_frames(std::string_view bytes,
                        const std::function<bool(std::string_view, uint64_t)>& fn);

}  // namespace sessionmesh::store
