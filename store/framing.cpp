#include "store/framing.hpp"

#include <xxhash.h>

#include <cstring>

namespace sessionmesh::store {
namespace {

void put_le(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t header_check(uint32_t len) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return static_cast<uint32_t>(XXH3_64bits(b, 4));
}

bool all_zero(std::string_view b) {
  for (char c : b)
    if (c != 0) return false;
  return true;
}

}  // namespace

void append_frame(std::string& out, std::string_view payload) {
  const auto len = static_cast<uint32_t>(payload.size());
  put_le(out, len, 4);
  put_le(out, header_check(len), 4);
  put_le(out, XXH3_64bits_withSeed(payload.data(), payload.size(), len), 8);
  out.append(payload);
}

scan_result scan_frames(std::string_view bytes,
                        const std::function<bool(std::string_view, uint64_t)>& fn) {
  scan_result r;
  uint64_t off = 0;
  const uint64_t size = bytes.size();
  while (off < size) {
    r.bad_offset = off;
    if (size - off < frame_header_bytes) {
      r.stop = scan_stop::torn;
      return r;
    }
    const char* h = bytes.data() + off;
    const auto len = static_cast<uint32_t>(get_le(h, 4));
    if (static_cast<uint32_t>(get_le(h + 4, 4)) != header_check(len) || len > frame_payload_max) {
      // An all-zero tail is what a crash leaves when the file grew before the
      // data landed; anything else is damage.
      r.stop = all_zero(bytes.substr(off)) ? scan_stop::torn : scan_stop::corrupt;
      return r;
    }
    const uint64_t end = off + frame_header_bytes + len;
    if (end > size) {
      r.stop = scan_stop::torn;
      return r;
    }
    std::string_view payload = bytes.substr(off + frame_header_bytes, len);
    if (XXH3_64bits_withSeed(payload.data(), payload.size(), len) != get_le(h + 8, 8)) {
      // The last record, or the last before reserved zeros (wal.hpp), was
      // cut short by a crash mid-append; a bad record with data after it is
      // damage.
      r.stop = all_zero(bytes.substr(end)) ? scan_stop::torn : scan_stop::corrupt;
      return r;
    }
    if (!fn(payload, off)) {
      r.stop = scan_stop::corrupt;
      return r;
    }
    off = end;
    r.good_bytes = off;
    ++r.frames;
  }
  r.stop = scan_stop::end;
  return r;
}

}  // namespace sessionmesh::store
