// sessionmesh: the node binary. `serve` runs a node, `version` prints it,
// `migrate` copies a stopped node's sessions into a running node.
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <cstdio>
#include <map>

#include "node/config.hpp"
#include "node/migrate_offline.hpp"
#include "node/serve.hpp"
#include "sessionmesh/sessionmesh.hpp"

int main(int argc, char** argv) {
  using namespace sessionmesh;
  // Blocks of 512 KiB and more (large sessions, their rendered JSON, feed
  // messages) are mmapped and go back to the OS when freed. A fixed
  // threshold also stops glibc from raising it after the first large free,
  // which let such blocks fragment the heap: RSS then stayed hundreds of MiB
  // above what was live (tests/feed measures it).
  mallopt(M_MMAP_THRESHOLD, 512 * 1024);
  CLI::App app{"sessionmesh: a replicated session registry"};
  app.require_subcommand(1);
  auto* serve = app.add_subcommand("serve", "run a node (the main job)");
  auto* version = app.add_subcommand("version", "print the version");
  auto* migrate = app.add_subcommand("migrate", "copy/validate sessions between adapters or nodes");
  auto* sample = app.add_subcommand("config-sample", "print a commented TOML config with every setting");
  std::map<std::string, std::string> raw;
  std::map<std::string, bool> flags;
  std::map<std::string, CLI::Option*> opts;
  for (const auto& s : node::settings()) {
    const std::string name = std::string("--") + s.name;
    const std::string help = std::string(s.help) + (s.reloads ? " [reloads]" : "");
    if (s.boolean) opts[s.name] = serve->add_flag(name, flags[s.name], help);
    else opts[s.name] = serve->add_option(name, raw[s.name], help);
  }
  std::string m_from, m_to, m_report, m_token;
  migrate->add_option("--from", m_from, "data dir of a stopped node");
  migrate->add_option("--to", m_to, "URL of a running node");
  migrate->add_option("--report", m_report, "where to write the JSON report");
  migrate->add_option("--api-token-file", m_token, "the target's API token, if it needs one");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    bool sub_help = false;
    for (auto* sub : {serve, version, migrate, sample})
      if (sub->parsed()) sub_help = true, std::fputs(sub->help().c_str(), stdout);
    if (!sub_help) std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "sessionmesh: %s\n", e.what());
    return 2;
  }
  if (version->parsed()) {
    std::printf("sessionmesh %.*s\n", static_cast<int>(version_string().size()), version_string().data());
    return 0;
  }
  if (sample->parsed()) {
    std::fputs(node::sample_toml().c_str(), stdout);
    return 0;
  }
  if (migrate->parsed()) return node::migrate_offline({m_from, m_to, m_report, m_token});
  std::map<std::string, std::string> given;
  for (const auto& s : node::settings()) {
    if (opts[s.name]->count() == 0) continue;
    given[s.name] = s.boolean ? (flags[s.name] ? "true" : "false") : raw[s.name];
  }
  auto cfg = node::resolve_config(given);
  if (!cfg) {
    std::fprintf(stderr, "sessionmesh: %s\n", cfg.describe().c_str());
    return 2;
  }
  return node::serve(*cfg, given);
}
