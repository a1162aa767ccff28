// chunk_supply: the record arena's 2 MiB chunks (aligned to their size, so
// each can be one huge page), backed by huge pages without a writer waiting
// for one.
//
// Why: a huge page's first fault finds and zeroes 2 MiB, and where the
// kernel must compact memory to find them (transparent huge pages' defrag
// "madvise", Debian's default) it took 10–30 ms on this project's VMs. A
// writer that faulted a new chunk in waited that long, holding its shard's
// lock: a create's p99.99 was 20 ms. Now a thread of the supply's own
// ("sm-arena") keeps a chunk ready — asked for huge pages and faulted in
// (MADV_POPULATE_WRITE, or a write to each page) — and a writer takes it
// with a few stores. A writer that finds none maps one on plain pages (no
// compaction: 4 KiB faults of about a microsecond each, as it goes) and
// hands it to that thread, which asks for huge pages and collapses it in
// place (MADV_COLLAPSE, where the kernel has it; else khugepaged does,
// later). The thread makes a ready chunk the same way: faulted in on plain
// pages, then collapsed, because the kernel compacts memory for a collapse
// with the process's mmap lock released, and for a huge page's first fault
// with it held (a writer mapping memory meanwhile would wait). A collapse
// that found no huge page is tried again a second later, eight times at
// most.
// While a load is on (load_begin .. load_end: a store recovering its data
// directory), take() maps plain chunks (the ready one is kept for later)
// and the thread makes no chunk ready and collapses none: the load has the
// cores. The chunks it mapped are made huge once the last load ends.
// Where the thread cannot start, take() maps a chunk and asks for huge pages
// itself (plain pages during a load, asked for at its end), as before.
// Chunks are never unmapped (the arena keeps them for the process's life).
// Thread: any thread.
#pragma once

#include <cstddef>

namespace sessionmesh::store::chunk_supply {

inline constexpr size_t chunk_bytes = size_t{2} << 20;

// A chunk of chunk_bytes aligned to chunk_bytes, or nullptr (no memory).
// Never waits for the supply's thread; takes its mutex for a few stores.
char* take();
// Bytes of the chunks take() handed out.
size_t mapped();
// Bytes of the chunks kept ready (resident memory too, not yet handed out).
size_t ready_bytes();
// For tests: returns once the supply's thread has nothing to do that is
// due (every plain chunk made huge or waiting for a retry, the ready chunk
// made), or at once when it does not run or a load is on. Waits on a
// condition variable, not the clock.
void quiesce();

void load_begin();
void load_end();

}  // namespace sessionmesh::store::chunk_supply
