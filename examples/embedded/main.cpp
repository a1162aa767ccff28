// A program embedding sessionmesh: only the public headers and the static
// library. Opens a durable store in a directory, writes and reads a
// session, watches changes with a callback, prints stats.
//
//   build/examples/embedded_example [DATA_DIR]
//   build/examples/embedded_example DATA_DIR GOSSIP_PORT [SEED_HOST:PORT]
//       the replicated adapter instead: joins through the seed (none: it
//       starts a cluster of its own) on 127.0.0.1:GOSSIP_PORT
#include <sessionmesh/replicated.hpp>
#include <sessionmesh/sessionmesh.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  sessionmesh::store_options opts;
  opts.node_id = "embedded";
  opts.data_dir = argc > 1 ? argv[1] : "./example-data";
  opts.fsync = sessionmesh::fsync_mode::always;

  auto opened = [&] {
    if (argc <= 2) return sessionmesh::open_store(opts);
    sessionmesh::replication_options repl;
    repl.gossip_port = static_cast<uint16_t>(std::atoi(argv[2]));
    repl.seeds = {argc > 3 ? argv[3] : "127.0.0.1:" + std::string(argv[2])};
    opts.node_id = "embedded-" + std::string(argv[2]);
    return sessionmesh::open_replicated_store(opts, repl);
  }();
  if (!opened) {
    std::fprintf(stderr, "open failed: %s\n", opened.describe().c_str());
    return 1;
  }
  sessionmesh::session_store& store = **opened;

  auto sub = store.subscribe([](const sessionmesh::change& c) {
    const char* kind = c.type == sessionmesh::change_type::put   ? "put"
                       : c.type == sessionmesh::change_type::del   ? "delete"
                       : c.type == sessionmesh::change_type::moved ? "moved"
                                                                   : "expire";
    std::printf("change %s %s (cursor %s)\n", kind, c.id.c_str(), c.cursor.c_str());
  });

  sessionmesh::create_request req;
  req.id = "sess-42";
  req.ttl_s = 3600;
  req.variables = {{"temperature", "0.7"}};
  req.metadata = {{"user", "\"ann\""}};
  auto created = store.create(req);
  if (!created) {
    std::fprintf(stderr, "create failed: %s\n", created.error().message().c_str());
    return 1;
  }
  std::printf("%s %s, version %s\n", created->created ? "created" : "found", std::string(created->value.id()).c_str(),
              created->value.version().c_str());

  sessionmesh::patch_request patch;
  patch.variables = {{"temperature", "0.9"}, {"top_p", "0.95"}};
  patch.if_match = created->value.version();
  auto patched = store.patch("sess-42", patch);
  if (!patched) {
    std::fprintf(stderr, "patch failed: %s\n", patched.error().message().c_str());
  }

  if (auto s = store.get("sess-42")) {
    s->for_each(sessionmesh::section::variables, [](std::string_view name, std::string_view json) {
      std::printf("  variables.%.*s = %.*s\n", static_cast<int>(name.size()), name.data(),
                  static_cast<int>(json.size()), json.data());
    });
    std::printf("  expires_at_ms %llu\n", static_cast<unsigned long long>(s->expires_at_ms()));
  }

  (void)store.set_worker("sess-42", "worker-7");
  auto stats = store.stats();
  std::printf("sessions %llu, created %llu, memory %llu bytes\n",
              static_cast<unsigned long long>(stats.current_sessions),
              static_cast<unsigned long long>(stats.sessions_created),
              static_cast<unsigned long long>(stats.memory_usage_bytes));
  return 0;
}
