#include "store/record_map.hpp"

#include <algorithm>
#include <memory>
#include <mutex>

namespace sessionmesh::store {

namespace {
void release_record(void* p, void* pool) {
  detail::release_to(static_cast<detail::packed_record*>(p), static_cast<record_pool*>(pool));
}

// The map's reference of a record it dropped: released once no reader can
// still hold the record.
void retire(shard& sh, detail::packed_record* old) {
  sh.retired.retire(old, release_record, &sh.pool, detail::packed_footprint(old));
  if (sh.retired.due()) (void)sh.retired.reclaim();
}
}  // namespace

void record_map::prefetch_record(const shard& sh, const hashed_id& k) {
  reclaim::read_guard g;
  const detail::packed_record* p = sh.set.find(k.hash, k.id);
  if (p == nullptr) return;
  const char* b = reinterpret_cast<const char*>(p);
  const size_t n = std::min<size_t>(sizeof(detail::packed_record) + p->size, 512);
  for (size_t off = 64; off < n; off += 64) __builtin_prefetch(b + off);
  // The allocator's size word just before the record: the write reads it
  // (packed_footprint) when it replaces the record, and it is often on the
  // line before.
  __builtin_prefetch(b - sizeof(size_t));
}

namespace {
// The thread's scratch: a plain pointer (one load from the thread's block,
// no initialization check), owned by `scratch_owner`, which frees it when
// the thread exits.
thread_local writer_scratch* thread_scratch [[gnu::tls_model("initial-exec")]] = nullptr;
struct scratch_owner {
  std::unique_ptr<writer_scratch> s;
  ~scratch_owner() { thread_scratch = nullptr; }
};
thread_local scratch_owner owner;
}  // namespace

writer_scratch& writer_scratch::mine() {
  if (thread_scratch != nullptr) [[likely]]
    return *thread_scratch;
  owner.s = std::make_unique<writer_scratch>();
  thread_scratch = owner.s.get();
  return *thread_scratch;
}

writer_delta::writer_delta(std::string_view id) : s_(writer_scratch::mine()) {
  SM_ASSERT(!s_.in_use);  // one write at a time on a thread
  s_.in_use = true;
  s_.delta.id.assign(id);
}

writer_delta::~writer_delta() {
  auto& d = s_.delta;
  d.id.clear();
  d.tombstone = d.created = d.touched = d.ttl_ts = d.worker_ts = {};
  d.ttl_s = 0;
  d.worker.clear();
  for (auto& m : d.sections) {
    while (!m.empty()) {
      auto n = m.extract(m.begin());
      if (s_.spare_nodes.size() >= spare_max) continue;  // n frees its node
      n.mapped().value.reset();
      s_.spare_nodes.push_back(std::move(n));
    }
  }
  s_.in_use = false;
}

void writer_delta::put(section s, std::string& name, std::optional<std::string>& value, const crdt::stamp& ts) {
  auto& m = s_.delta.map(s);
  auto& spare = s_.spare_nodes;
  if (spare.empty()) {
    m.insert_or_assign(std::move(name), crdt::entry{ts, std::move(value)});
    return;
  }
  auto n = std::move(spare.back());
  spare.pop_back();
  n.key() = std::move(name);
  n.mapped().ts = ts;
  n.mapped().value = std::move(value);
  auto r = m.insert(std::move(n));
  if (r.inserted) return;
  r.position->second = std::move(r.node.mapped());  // a name given twice: the later wins
  r.node.mapped().value.reset();
  spare.push_back(std::move(r.node));
}

record_map::~record_map() {
  for (auto& sh : shards_)
    for (auto* p : sh.set) detail::release(p);
}

void record_map::put(shard& sh, const hashed_id& k, detail::packed_record* p) {
  if (auto* old = sh.set.put(k.hash, k.id, p)) retire(sh, old);
}

void record_map::erase(shard& sh, std::string_view id) {
  if (auto* old = sh.set.erase(id_hash64(id), id)) retire(sh, old);
}

void record_map::reclaim_all() {
  for (auto& sh : shards_) {
    std::unique_lock lk(sh.mu);
    if (sh.retired.size() != 0) (void)sh.retired.reclaim();
  }
}

size_t record_map::table_bytes() const {
  size_t b = 0;
  for (const auto& sh : shards_) {
    std::shared_lock lk(sh.mu);
    b += sh.set.heap_bytes() + sh.pool.bytes();
  }
  return b;
}

}  // namespace sessionmesh::store
