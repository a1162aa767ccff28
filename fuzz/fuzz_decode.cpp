// libFuzzer: record/delta decoding over arbitrary bytes. Whatever decodes
// must re-encode to the same bytes and merge with itself to itself.
#include <cstdint>
#include <cstdlib>

#include "crdt/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sessionmesh::crdt;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto r = decode(bytes);
  if (!r) return 0;
  if (encode(*r) != bytes) std::abort();
  auto m = merge(*r, *r);
  normalize(*r);
  if (!(m == *r)) std::abort();
  (void)is_live(*r, 1'700'000'000'000ull);
  (void)content_version(*r);
  return 0;
}
