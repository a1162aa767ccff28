// mp_reader: a bounds-checked MessagePack reader over a byte span.
// Every read checks the remaining length and a caller-given limit before it
// returns a view; nothing allocates. A failed read returns decode_error
// (malformed / truncated) or limit_exceeded (a length or count past its
// limit) and leaves the reader in an unspecified position.
// Thread: a plain value; views point into the caller's buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sessionmesh/result.hpp"

namespace sessionmesh::crdt {

class mp_reader {
 public:
  mp_reader(const void* data, size_t size)
      : p_(static_cast<const uint8_t*>(data)), end_(p_ + size) {}
  explicit mp_reader(std::string_view s) : mp_reader(s.data(), s.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }
  bool at_end() const { return p_ == end_; }

  result<uint64_t> read_uint();
  result<uint32_t> read_array(uint32_t max_count);
  result<uint32_t> read_map(uint32_t max_count);
  result<std::string_view> read_str(size_t max_bytes);
  // A str, or nil (returns nullopt).
  result<std::optional<std::string_view>> read_str_or_nil(size_t max_bytes);

 private:
  result<uint64_t> read_be(size_t n);
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace sessionmesh::crdt
