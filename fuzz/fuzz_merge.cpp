// libFuzzer: the merge laws ARCHITECTURE.md promises, over records built
// from the input (few ids, stamps and values, so that collisions — equal
// stamps, deletes racing writes — are common): merge is commutative,
// associative and idempotent, a merge result survives encode/decode, and a
// merge never loses the higher of two stamps of a register.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>

#include "crdt/codec.hpp"
#include "crdt/record.hpp"

namespace {

using namespace sessionmesh;
using namespace sessionmesh::crdt;

stamp any_stamp(FuzzedDataProvider& in) {
  const uint64_t ms = 1'700'000'000'000ull + in.ConsumeIntegralInRange<uint64_t>(0, 8);
  return {hlc_make(ms, in.ConsumeIntegralInRange<uint16_t>(0, 3)), in.ConsumeIntegralInRange<uint64_t>(0, 3)};
}

session_record any_record(FuzzedDataProvider& in) {
  session_record r;
  r.id = "s";
  if (in.ConsumeBool()) r.tombstone = any_stamp(in);
  if (in.ConsumeBool()) r.created = any_stamp(in);
  if (in.ConsumeBool()) r.touched = any_stamp(in);
  if (in.ConsumeBool()) {
    r.ttl_ts = any_stamp(in);
    r.ttl_s = in.ConsumeIntegralInRange<uint32_t>(0, 3);
  }
  if (in.ConsumeBool()) {
    r.worker_ts = any_stamp(in);
    r.worker = in.ConsumeBool() ? "w1" : "w2";
  }
  const int n = in.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < n; ++i) {
    auto& m = r.sections[in.ConsumeIntegralInRange<int>(0, section_count - 1)];
    entry e;
    e.ts = any_stamp(in);
    if (in.ConsumeBool()) e.value = std::to_string(in.ConsumeIntegralInRange<int>(0, 2));
    m[std::string(1, static_cast<char>('a' + in.ConsumeIntegralInRange<int>(0, 2)))] = e;
  }
  return r;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const session_record a = any_record(in), b = any_record(in), c = any_record(in);
  const session_record ab = merge(a, b), ba = merge(b, a);
  check(ab == ba);                                          // commutative
  check(merge(merge(a, b), c) == merge(a, merge(b, c)));  // associative
  check(merge(ab, ab) == ab);                              // idempotent
  check(merge(ab, a) == ab && merge(ab, b) == ab);         // absorbs its inputs
  auto back = decode(encode(ab));
  check(back.has_value() && *back == ab);  // survives the wire and the log
  // The tombstone is the max of both; a register above it keeps the max stamp.
  check(ab.tombstone == std::max(a.tombstone, b.tombstone));
  for (int s = 0; s < section_count; ++s)
    for (const auto& [name, e] : ab.sections[s]) {
      check(e.ts > ab.tombstone);
      for (const auto* src : {&a, &b})
        if (auto it = src->sections[s].find(name); it != src->sections[s].end()) check(e.ts >= it->second.ts);
    }
  return 0;
}
