// The gossip tests' network: production drivers over real local stores in
// one thread, virtual time, zero-latency in-order delivery through the wire
// encoding, links cut by (from, to). Internal to tests/gossip.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "gossip/local_port.hpp"
#include "gossip/replication_driver.hpp"

namespace sessionmesh::gossip::testnet {

struct sim_node {
  std::shared_ptr<std::atomic<uint64_t>> now;
  std::unique_ptr<store::local_store> st;
  std::unique_ptr<local_port> port;
  std::unique_ptr<replication_driver> d;  // the production driver
  bool up = true;
  const gossiper& g() const { return d->gossip(); }
  bool gate = false;  // the driver's clock gate (the replicated adapter refuses writes while closed)
};

struct cluster {
  uint64_t now = 1'764'225'600'000ull;
  std::map<std::string, sim_node> nodes;
  std::set<std::pair<std::string, std::string>> cut;  // (from, to) dropped
  std::map<std::string, int64_t> offset;               // node clock = now + offset
  std::mt19937_64 rng;
  uint64_t bytes = 0;

  explicit cluster(int n, uint64_t seed, uint64_t dead_reap_ms = 3600000) : rng(seed) {
    for (int i = 0; i < n; ++i) {
      const std::string id = "n" + std::to_string(i);
      sim_node sn;
      sn.now = std::make_shared<std::atomic<uint64_t>>(now);
      store_options o;
      o.node_id = id;
      o.reaper_interval_ms = 0;
      auto clk = sn.now;
      o.clock = [clk] { return clk->load(); };
      sn.st = std::move(store::local_store::open(o, store::posix_fs()).value());
      sn.port = std::make_unique<local_port>(*sn.st);
      config c;
      c.node_id = id;
      c.gossip_addr = id + ":7946";
      c.seeds = {"n0:7946"};
      c.seed = seed + static_cast<uint64_t>(i);
      c.dead_reap_ms = dead_reap_ms;
      sn.d = std::make_unique<replication_driver>(c, *sn.port);
      auto* d = sn.d.get();
      sn.st->set_replication_sink([d](std::string_view, std::string_view delta) { return d->local_delta(std::string(delta)); });
      nodes.emplace(id, std::move(sn));
    }
    for (auto& [_, n] : nodes) n.d->start(now);
  }

  uint64_t clock_of(const std::string& id) {
    auto it = offset.find(id);
    return it == offset.end() ? now : static_cast<uint64_t>(static_cast<int64_t>(now) + it->second);
  }

  std::string node_at(const std::string& addr) { return addr.substr(0, addr.find(':')); }

  void step(uint64_t ms) {
    for (uint64_t t = 0; t < ms; t += 5) {
      now += 5;
      for (auto& [id, n] : nodes) {
        *n.now = clock_of(id);
        if (n.up) n.d->on_tick(clock_of(id));
      }
      // Deliver (zero latency, in order) everything sent this step.
      bool more = true;
      while (more) {
        more = false;
        for (auto& [id, n] : nodes) {
          auto out = n.d->take_output();
          if (!n.up) continue;
          if (out.sync) {  // the disk: durable at once here
            REQUIRE(n.st->sync_lsn(*out.sync).has_value());
            n.d->on_durable(*out.sync, clock_of(id));
            auto more = n.d->take_output();
            for (auto& e : more.outbox) out.outbox.push_back(std::move(e));
          }
          if (out.clock_ahead) n.gate = *out.clock_ahead;
          for (auto& e : out.outbox) {
            const std::string to = e.to_node.empty() ? node_at(e.to_addr) : e.to_node;
            auto it = nodes.find(to);
            if (it == nodes.end() || !it->second.up || cut.count({id, to})) continue;
            std::string wire;
            encode(e.msg, wire);
            bytes += wire.size();
            auto m = decode(wire);
            REQUIRE(m.has_value());
            it->second.d->on_message(id, *m, clock_of(to));
            more = true;
          }
        }
      }
    }
  }

  bool converged() {
    uint64_t root = 0;
    bool first = true;
    for (auto& [_, n] : nodes) {
      if (!n.up) continue;
      if (first) root = n.st->merkle().root(), first = false;
      else if (n.st->merkle().root() != root) return false;
    }
    return true;
  }
};


}  // namespace sessionmesh::gossip::testnet
