// api: the REST contract of API.md sections 3 and 5 as a pure function from
// a parsed request to a response: no sockets, no Beast, so it is unit-tested
// and fuzzed directly. The server (server.hpp) does the I/O around it.
// Thread: handle() may be called from any thread concurrently; settings
// swap atomically on reload.
#pragma once

#include <atomic>
#include <chrono>
#include <array>
#include <bitset>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/metrics.hpp"
#include "sessionmesh/session_store.hpp"

namespace sessionmesh::http {

struct api_settings {
  size_t body_bytes = 4u << 20;
  size_t value_bytes = 1u << 20;
  size_t json_depth = 64;
  std::string api_token;    // empty: no auth on /v1/*
  std::string admin_token;  // empty: falls back to api_token
  // Alert thresholds for /health/sessions.
  uint64_t alert_p99_us = 100000;
  double alert_quota_ratio = 0.8;
  uint64_t alert_fsync_us = 100000;
  uint64_t alert_lag_writes = 10000;  // a peer this many writes behind (replicated)
  uint64_t alert_suspect_peers = 1;   // this many peers suspect or dead (replicated)
  double alert_disk_free_ratio = 0.10;  // the data dir's file system this empty or less
  uint64_t max_sessions = 10000;  // for the quota alert
  uint32_t token_wait_ms = 100;   // a token read waits this long for replication before it is relayed
};

struct request_view {
  std::string_view method;
  std::string_view target;
  std::string_view body;
  std::string_view content_type;
  std::string_view authorization;
  std::string_view if_match;
  std::string_view prefer;      // Prefer (RFC 7240): return=minimal shortens a write's answer
  std::string_view request_id;  // the caller's X-Request-Id, may be empty
  // X-Sessionmesh-Limits: "max_sessions=N, max_programs=N, max_global_programs=N"
  // (any subset): limits a named store adds to the node's for this write.
  std::string_view limits;
  // X-Sessionmesh-Forwarded: the node that forwarded this request to its
  // owner; a forwarded request is always decided here (one hop).
  std::string_view forwarded;
  // X-Sessionmesh-Session-Token (read-your-writes, gossip/session_token.hpp):
  // a read is answered once every write it names is applied here; a write
  // answers the token merged with its own entry.
  std::string_view session_token;
  bool token_met = false;  // set by the API once a read's token was found applied
  bool websocket_upgrade = false;
};

// A write's answer that waits for its durability (fsync=always) and for
// acks=N before it is sent: the server asks the store's when_durable and
// sends finish()'s answer when that completes; handle() waits for it.
// Or an answer computed elsewhere (a drain waiting for a peer): the server
// starts `job`, which calls back once, on any thread, with the 200 body.
struct pending_write {
  write_token token;
  unsigned acks = 1;
  uint32_t timeout_ms = 2000;
  std::function<void(std::function<void(std::string body)>)> job;
  // Or a read waiting for the writes its session token names: the server
  // asks wait_token(read_token, timeout_ms) and sends finish()'s answer.
  std::string read_token;
};

struct fan_out;

struct response {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string request_id;
  bool head = false;          // HEAD: send headers (with the body's length) only
  bool watch = false;         // authorized WebSocket upgrade of /v1/watch
  bool close = false;
  // Set instead of an answer: the server relays the request to this HTTP
  // host:port (the session's owner) and answers with what it answers.
  std::string forward_to;
  // Or this: the server asks every node and answers the merge.
  std::shared_ptr<fan_out> fan;
  std::optional<pending_write> pending;
  uint64_t write_seq = 0;  // a write's number in this node's stream (0: none): its token entry
  std::chrono::steady_clock::time_point started{};  // when the request was taken (for the access log)
};

struct placement_source {
  std::string node_id;
  std::string http_addr;
  bool self = false;
  std::bitset<256> parts;
};
struct placement_sources {
  std::vector<placement_source> nodes;
  unsigned uncovered = 0;
};

// A request answered from every node (the cluster-wide list under
// placement): the server sends GET `target` to each of `targets` (one hop,
// marked forwarded) at once and answers merge(answers), answers[i] being
// targets[i]'s (or the reason it could not be had).
struct fan_out {
  std::vector<std::string> targets;
  std::string target;
  std::function<response(std::vector<result<response>>&)> merge;
};

// What the node exposes to the API beyond the store.
struct node_hooks {
  std::function<bool()> ready;                   // recovered and serving
  std::function<bool()> draining;
  // Starts a drain (or joins the one under way); calls back once with the
  // JSON body when it is over. Never waits.
  std::function<void(std::function<void(std::string body)>)> drain;
  std::function<std::pair<bool, std::string>()> reload;  // ok + JSON body or message
  std::function<std::string()> cluster_body;     // GET /v1/cluster (replicated)
  std::function<std::string()> health_cluster;   // "cluster":{..},"replication":{..} (replicated)
  std::function<std::string(std::string_view)> faults;  // test-only fault switch; empty: off
  std::function<std::string()> metrics_extra;    // more Prometheus text (cluster)
  // Members by status (alive, suspect, dead, left), this node included;
  // unset: a node alone (1 alive).
  std::function<std::array<uint64_t, 4>()> member_totals;
  // What the node's own alerts read: the furthest-behind peer (writes),
  // peers suspect or dead, the data dir's free fraction (< 0: unknown).
  struct alert_readings {
    uint64_t max_peer_lag = 0;
    uint64_t suspect_or_dead = 0;
    double disk_free_ratio = -1;
  };
  std::function<alert_readings()> alert_inputs;
  std::function<std::vector<std::string>()> cluster_alerts;  // e.g. clock_skew (replicated)
  // Where a conditional (If-Match) write of a session is decided: nullopt
  // here; else the owner's HTTP host:port ("" when unknown: 503).
  std::function<std::optional<std::string>(std::string_view id)> owner_http;
  // Placement (--replicas R): nullopt when this node replicates the record
  // (a session id, or "~gp:" + a global program's); else the HTTP address of
  // a replica to relay the request to ("" when none is alive: 503).
  // replicas: R (0: every node holds everything).
  std::function<std::optional<std::string>(std::string_view record_id)> replica_http;
  std::function<unsigned()> replicas;
  // Placement: who answers for each partition when a request covers the
  // whole cluster (the list, the change feed): per node, the partitions
  // it serves (its serving replica: node/cluster.hpp); `uncovered` counts partitions with no
  // alive replica. Empty nodes: no placement known yet (answer here).
  std::function<placement_sources()> sources;
  // Online migration (API.md section 6): (status, error code, body or message).
  struct migrate_answer {
    unsigned status;
    std::string code;
    std::string body;
  };
  std::function<migrate_answer(std::string_view body)> migrate_start;
  std::function<migrate_answer()> migrate_status;
  // Read-your-writes (replicated; unset: one node, every token is met here).
  // token_state: whether every write the (well-formed) token names is
  // applied here: 1 yes, 0 not yet, -1 not yet and this node does not count
  // that node's writes (no wait, straight to the relay). token_wait: done(met) once it is, or at timeout_ms; never waits.
  // token_node_http: the HTTP address of the first node the token names whose
  // writes are not all applied here, when that node is alive ("" if not).
  // token_after_write: the token a write answers with: the request's merged
  // with this node's entry for write seq (seq 0: the request's).
  // record_id: the session id, or "~gp:" + the global program's, the read is
  // of ("" for none).
  std::function<int(std::string_view token, std::string_view record_id)> token_state;
  std::function<void(std::string_view token, uint32_t timeout_ms, std::function<void(bool)> done)> token_wait;
  std::function<std::string(std::string_view token, std::string_view record_id)> token_node_http;
  std::function<std::string(std::string_view token, uint64_t seq)> token_after_write;
};

class api {
 public:
  api(session_store& store, metrics& m, node_hooks hooks, api_settings settings);

  // The answer to req, waiting in the calling thread for a pending write
  // (tests, fuzzing). The server uses begin() and finish() instead.
  response handle(const request_view& req);
  // The answer to req, or one with `pending` set: then the caller sends
  // finish(req, r, outcome) once store().when_durable(...) completed.
  response begin(const request_view& req);
  response finish(const request_view& req, response r, result<void> outcome);
  // A pending read's wait for its token (pending_write::read_token): done(met)
  // once, on any thread. Never waits.
  void wait_token(const pending_write& w, std::function<void(bool met)> done);
  void set_settings(api_settings s);
  std::shared_ptr<const api_settings> settings() const;
  session_store& store() { return store_; }
  // Placement: who answers for each partition (node_hooks::sources); empty
  // without placement.
  placement_sources sources() const { return hooks_.sources ? hooks_.sources() : placement_sources{}; }
  metrics& stats_sink() { return metrics_; }
  // The alert monitor: evaluates every alert now, logs (on_alert) each one
  // that was raised or cleared since the last evaluation, and returns those
  // raised. The node ticks it every second; /health/sessions also runs it.
  std::vector<std::string> evaluate_alerts();
  // Prometheus text of the alerts: sessionmesh_alert{alert} per raised one, and a raise counter.
  std::string alerts_metrics() const;

  // A request id: the caller's when it is sane, else a fresh one.
  std::string request_id_for(std::string_view given);
  // The JSON error response for a status/code (also used by the server for
  // transport-level errors such as an oversized body).
  static response error(unsigned status, std::string_view code, std::string_view message,
                        const std::string& request_id);

 private:
  response dispatch(const request_view& req, const std::string& rid);
  response sessions_collection(const request_view& req, std::string_view query, const std::string& rid);
  response one_session(const request_view& req, std::string_view id, const std::string& rid);
  // name: the fourth path segment when there is one (it may be empty).
  response session_sub(const request_view& req, std::string_view id, std::string_view sub,
                       std::optional<std::string_view> name, const std::string& rid);
  response programs_collection(const request_view& req, std::string_view query, const std::string& rid);
  response one_program(const request_view& req, std::string_view id, const std::string& rid);
  // A conditional write of id on a node that does not own it: the forward
  // (or a 503 when the owner is not known). nullopt: decide here.
  std::optional<response> route_conditional(const request_view& req, std::string_view id, const std::string& rid);
  // Placement: a request for a record this node does not replicate goes to
  // a replica (one hop; a relayed request is served where it lands).
  std::optional<response> route_replica(const request_view& req, std::string_view record_id, const std::string& rid);
  // Placement: the list (of sessions, or of global programs) of the whole
  // cluster: one page asked of each partition's serving replica, merged
  // by id. nullopt: answer from this node alone (no placement, or a request
  // relayed here by another node's list).
  std::optional<response> cluster_list(const request_view& req, bool programs, std::string_view prefix,
                                       size_t limit, std::string_view cursor, const std::string& rid);
  // Parses req.limits; nullopt with *bad set to the 400 answer when malformed.
  std::optional<write_limits> limits_of(const request_view& req, const std::string& rid, response* bad);
  response entry(const request_view& req, std::string_view id, section sec, std::string_view name,
                 const std::string& rid);
  response health(const std::string& rid);
  response cluster(const std::string& rid);
  response ui(const request_view& req, std::string_view path, const std::string& rid);
  response admin(const request_view& req, std::string_view what, const std::string& rid);
  // The session as a write or read answers it, with its ETag; a write that
  // asked for `Prefer: return=minimal` gets {"id","version"} instead.
  response session_body(unsigned status, const session_view& s, const request_view& req);
  response store_error(std::error_code ec, const std::string& rid);
  response method_not_allowed_list(const std::string& rid);
  // A token read's answer: nullopt to answer it now; else 400 (malformed)
  // or a pending wait for replication.
  std::optional<response> check_token(const request_view& req, std::string_view path, const std::string& rid);
  // After the wait: the answer here, or the relay to the write's node.
  response after_token_wait(const request_view& req, response r, bool met);
  // ?acks=N&timeout_ms=T of a write (400 answer when malformed).
  std::optional<response> acks_check(std::string_view query, const std::string& rid, pending_write* w);
  // A write's answer: pending on t (with w's acks and timeout) when it
  // must wait for the disk or for acks.
  static response acks_result(response ok, pending_write w, const write_token& t);
  // Metrics and the access log, once an answer is final.
  response done(const request_view& req, response r);

  session_store& store_;
  metrics& metrics_;
  node_hooks hooks_;
  mutable std::mutex settings_mu_;
  std::shared_ptr<const api_settings> settings_;
  std::atomic<uint64_t> rid_counter_{0};
  uint64_t rid_base_;
  mutable std::mutex alerts_mu_;
  std::vector<std::string> raised_;  // alerts currently raised (logged once when raised)
  uint64_t alerts_raised_total_ = 0;  // guarded by alerts_mu_
 public:
  std::function<void(std::string_view alert, bool raised)> on_alert;  // for logging
  std::string http_addr;  // this node's HTTP address, for /v1/cluster
  // Called after every request (access logging): request, response, duration.
  std::function<void(const request_view&, const response&, uint64_t us)> on_request;
};

}  // namespace sessionmesh::http
