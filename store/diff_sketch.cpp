#include "store/diff_sketch.hpp"

// Inlined: a 16-byte input hashes in a few instructions instead of a call
// (the same function: sketches of every build agree).
#define XXH_INLINE_ALL
#include <xxhash.h>
#undef XXH_INLINE_ALL

#include <cassert>
#include <cstring>

namespace sessionmesh::store {
namespace {

uint64_t hash_pair(uint64_t id_hash, uint64_t digest, uint64_t seed) {
  const uint64_t both[2] = {id_hash, digest};
  return XXH3_64bits_withSeed(both, sizeof both, seed);
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

bool is_zero(const sketch_cell& c) { return !c.id && !c.digest && !c.check && !c.count; }

// Sub-table t's cell in a hash of (id hash, digest): 21 bits apart.
uint32_t index_in(uint64_t h, int t) { return static_cast<uint32_t>(h >> (21 * t)) & ((1u << sketch::max_bits) - 1); }

}  // namespace

uint32_t sketch::index_of(uint64_t id_hash, uint64_t digest, int t) {
  return index_in(hash_pair(id_hash, digest, 0x1b17), t);
}

uint32_t sketch::check_of(uint64_t id_hash, uint64_t digest) {
  return static_cast<uint32_t>(hash_pair(id_hash, digest, 0xc4ec));
}

sketch::place sketch::place_of(uint64_t id_hash, uint64_t digest) {
  const uint64_t h = hash_pair(id_hash, digest, 0x1b17);
  place p;
  for (int t = 0; t < k; ++t) p.index[static_cast<size_t>(t)] = index_in(h, t);
  p.check = check_of(id_hash, digest);
  return p;
}

sketch::sketch(int bits) : bits_(bits), cells_(size_t{k} << bits) {
  assert(bits >= min_bits && bits <= max_bits);
}

void sketch::toggle(uint64_t id_hash, uint64_t digest, int sign) {
  const place pl = place_of(id_hash, digest);
  const uint32_t mask = (1u << bits_) - 1;
  for (int t = 0; t < k; ++t) {
    sketch_cell& c = cells_[(size_t{static_cast<uint32_t>(t)} << bits_) + (pl.index[static_cast<size_t>(t)] & mask)];
    c.id ^= id_hash;
    c.digest ^= digest;
    c.check ^= pl.check;
    c.count = static_cast<uint8_t>(c.count + sign);
  }
}

void sketch::subtract(const sketch& other) {
  assert(other.bits_ == bits_);
  for (size_t i = 0; i < cells_.size(); ++i) {
    cells_[i].id ^= other.cells_[i].id;
    cells_[i].digest ^= other.cells_[i].digest;
    cells_[i].check ^= other.cells_[i].check;
    cells_[i].count = static_cast<uint8_t>(cells_[i].count - other.cells_[i].count);
  }
}

sketch_diff sketch::decode(size_t max_entries) const {
  sketch work = *this;
  sketch_diff out;
  auto pure = [&](const sketch_cell& c) {
    return (c.count == 1 || c.count == 255) && c.check == check_of(c.id, c.digest);
  };
  std::vector<size_t> queue;
  for (size_t i = 0; i < work.cells_.size(); ++i)
    if (pure(work.cells_[i])) queue.push_back(i);
  while (!queue.empty()) {
    const size_t i = queue.back();
    queue.pop_back();
    const sketch_cell c = work.cells_[i];
    if (!pure(c)) continue;  // changed since it was queued
    if (out.mine.size() + out.theirs.size() >= max_entries) return out;
    (c.count == 1 ? out.mine : out.theirs).push_back({c.id, c.digest});
    work.toggle(c.id, c.digest, c.count == 1 ? -1 : 1);
    const uint32_t mask = (1u << bits_) - 1;
    const place pl = place_of(c.id, c.digest);
    for (int t = 0; t < k; ++t) {
      const size_t j = (size_t{static_cast<uint32_t>(t)} << bits_) + (pl.index[static_cast<size_t>(t)] & mask);
      if (pure(work.cells_[j])) queue.push_back(j);
    }
  }
  out.complete = true;
  for (const auto& c : work.cells_)
    if (!is_zero(c)) {
      out.complete = false;
      break;
    }
  return out;
}

std::string sketch::to_bytes() const {
  std::string out;
  out.reserve(cells_.size() * wire_cell);
  for (const auto& c : cells_) {
    put_le(out, c.id, 8);
    put_le(out, c.digest, 8);
    put_le(out, c.check, 4);
    out.push_back(static_cast<char>(c.count));
  }
  return out;
}

result<sketch> sketch::from_bytes(int bits, std::string_view bytes) {
  if (bits < min_bits || bits > max_bits) return errc::decode_error;
  sketch s(bits);
  if (bytes.size() != s.cells_.size() * wire_cell) return errc::decode_error;
  const char* p = bytes.data();
  for (auto& c : s.cells_) {
    c.id = get_le(p, 8);
    c.digest = get_le(p + 8, 8);
    c.check = static_cast<uint32_t>(get_le(p + 16, 4));
    c.count = static_cast<uint8_t>(p[20]);
    p += wire_cell;
  }
  return s;
}

live_sketch::live_sketch() : cells_(size_t{sketch::k} << sketch::max_bits) {}

void live_sketch::toggle(uint64_t id_hash, uint64_t digest, uint32_t delta) {
  const sketch::place pl = sketch::place_of(id_hash, digest);
  for (int t = 0; t < sketch::k; ++t) {
    cell& c = cells_[(size_t{static_cast<uint32_t>(t)} << sketch::max_bits) + pl.index[static_cast<size_t>(t)]];
    c.id.fetch_xor(id_hash, std::memory_order_relaxed);
    c.digest.fetch_xor(digest, std::memory_order_relaxed);
    c.check.fetch_xor(pl.check, std::memory_order_relaxed);
    c.count.fetch_add(delta, std::memory_order_relaxed);
  }
}

void live_sketch::update(uint64_t id_hash, uint64_t old_digest, uint64_t new_digest) {
  if (old_digest == new_digest) return;
  if (old_digest) toggle(id_hash, old_digest, ~uint32_t{0});  // -1, wrapping
  if (new_digest) toggle(id_hash, new_digest, 1);
}

void live_sketch::merge(const sketch& s) {
  assert(s.bits() == sketch::max_bits);
  for (size_t i = 0; i < cells_.size(); ++i) {
    const sketch_cell& c = s.cells()[i];
    if (!c.id && !c.digest && !c.check && !c.count) continue;
    cells_[i].id.fetch_xor(c.id, std::memory_order_relaxed);
    cells_[i].digest.fetch_xor(c.digest, std::memory_order_relaxed);
    cells_[i].check.fetch_xor(c.check, std::memory_order_relaxed);
    cells_[i].count.fetch_add(c.count, std::memory_order_relaxed);
  }
}

sketch live_sketch::fold(int bits) const {
  sketch s(bits);
  const uint32_t mask = (1u << bits) - 1;
  for (int t = 0; t < sketch::k; ++t)
    for (uint32_t i = 0; i < (1u << sketch::max_bits); ++i) {
      const cell& c = cells_[(size_t{static_cast<uint32_t>(t)} << sketch::max_bits) + i];
      sketch_cell& d = s.cells()[(size_t{static_cast<uint32_t>(t)} << bits) + (i & mask)];
      d.id ^= c.id.load(std::memory_order_relaxed);
      d.digest ^= c.digest.load(std::memory_order_relaxed);
      d.check ^= c.check.load(std::memory_order_relaxed);
      d.count = static_cast<uint8_t>(d.count + c.count.load(std::memory_order_relaxed));
    }
  return s;
}

}  // namespace sessionmesh::store
