// diff_sketch: an invertible Bloom lookup table (IBLT, Goodrich and
// Mitzenmacher) over a store's (id hash, record digest) entries, for
// anti-entropy whose cost follows the size of the difference, not of the
// store. Two stores' sketches of the same shape subtract cell by cell; what
// is left peels into the entries only one side holds: a record one side
// lacks is one entry, a record both hold in different versions is two (one
// per side, same id hash).
//
// Shape: k = 3 sub-tables of 2^bits cells; an entry lands in one cell of
// each, at bits of xxh3(id hash, digest, seed) taken per sub-table. A cell is
// (xor of id hashes, xor of digests, xor of entry hashes, count). Because a
// cell index is the low bits of a wider one, a sketch of 2^b cells per
// sub-table folds into any smaller power of two by xoring halves: the store
// keeps one at max_bits, in step with its Merkle index, and hands out folds.
//
// Decoding succeeds with high probability while the difference stays under
// about 3·2^bits / 1.3 entries; past that it stops with what it peeled and
// says so (complete = false). A peeled entry is checked against the cell's
// entry hash (32 bits on the wire), so a wrong one is as rare as 2^-32 a cell.
// Thread: live_sketch is lock-free (relaxed atomics), like merkle_index;
// sketch is a plain value.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sessionmesh/result.hpp"

namespace sessionmesh::store {

struct sketch_cell {
  uint64_t id = 0;      // xor of id hashes
  uint64_t digest = 0;  // xor of digests
  uint32_t check = 0;   // xor of (low 32 bits of) entry hashes
  uint8_t count = 0;    // entries, modulo 256 (signed after a subtraction)
};

struct sketch_entry {
  uint64_t id_hash = 0;
  uint64_t digest = 0;
};

struct sketch_diff {
  std::vector<sketch_entry> mine;    // in this sketch, not in the other
  std::vector<sketch_entry> theirs;  // in the other, not in this
  bool complete = false;             // every cell peeled to empty
};

class sketch {
 public:
  static constexpr int k = 3;
  static constexpr int min_bits = 4;
  static constexpr int max_bits = 12;
  static constexpr size_t wire_cell = 21;  // id 8, digest 8, check 4, count 1

  explicit sketch(int bits);
  int bits() const { return bits_; }
  size_t cells_per_table() const { return size_t{1} << bits_; }

  void add(uint64_t id_hash, uint64_t digest) { toggle(id_hash, digest, 1); }
  void remove(uint64_t id_hash, uint64_t digest) { toggle(id_hash, digest, -1); }
  // This minus other (same bits, asserted).
  void subtract(const sketch& other);
  // Peels this sketch (usually after subtract): entries with count +1 are
  // `mine`, -1 `theirs`. At most max_entries are returned; past that,
  // complete is false.
  sketch_diff decode(size_t max_entries) const;

  // Fixed little-endian cells, k · 2^bits · wire_cell bytes.
  std::string to_bytes() const;
  // Checks the length against bits before reading.
  static result<sketch> from_bytes(int bits, std::string_view bytes);

  // Which cell of sub-table t an entry lands in (below 2^max_bits), and the
  // entry's check value: the same for every fold.
  static uint32_t index_of(uint64_t id_hash, uint64_t digest, int t);
  static uint32_t check_of(uint64_t id_hash, uint64_t digest);
  // index_of for every sub-table and check_of, from one hash each.
  struct place {
    std::array<uint32_t, k> index;
    uint32_t check;
  };
  static place place_of(uint64_t id_hash, uint64_t digest);

  std::vector<sketch_cell>& cells() { return cells_; }
  const std::vector<sketch_cell>& cells() const { return cells_; }

 private:
  void toggle(uint64_t id_hash, uint64_t digest, int sign);
  int bits_;
  std::vector<sketch_cell> cells_;  // table t at [t << bits_, (t + 1) << bits_)
};

// The store's sketch at max_bits, updated with every write like the Merkle
// index (an entry replaced: old removed, new added).
class live_sketch {
 public:
  live_sketch();
  // old_digest 0 = absent before, new_digest 0 = absent after.
  void update(uint64_t id_hash, uint64_t old_digest, uint64_t new_digest);
  // Adds a sketch of max_bits (entries built elsewhere, without atomics).
  void merge(const sketch& s);
  // A copy folded to 2^bits cells per sub-table (min_bits..max_bits).
  sketch fold(int bits) const;

 private:
  struct cell {
    std::atomic<uint64_t> id{0}, digest{0};
    std::atomic<uint32_t> check{0}, count{0};
  };
  void toggle(uint64_t id_hash, uint64_t digest, uint32_t delta);
  std::vector<cell> cells_;
};

}  // namespace sessionmesh::store
