// server: the HTTP/1.1 server — one concern, a connection's life (read,
// answer or await a completion, hand a relay off, write, keep alive, close)
// and the server's start and stop. Over 400 lines on purpose: the
// connection's states and the completion registry that stop() must drain
// are one piece; the bytes (wire.cpp), the relay (relay.cpp) and the feed
// (watch.cpp) live apart, and so do the TLS contexts (tls.cpp): a
// connection is the same template over a plain or a TLS socket.
#include "http/server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <absl/container/flat_hash_map.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/relay.hpp"
#include "http/tls.hpp"
#include "http/watch.hpp"
#include "http/wire.hpp"
#include "store/thread_name.hpp"

namespace sessionmesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using tls_stream = asio::ssl::stream<tcp::socket>;

// One write whose answer waits: what the answer needs, in one allocation.
// The store's completion fills outcome (and body, for a job) and queues it;
// deliver() runs on the connection's thread.
struct awaiting_write {
  virtual ~awaiting_write() = default;
  virtual void deliver() = 0;
  result<void> outcome;
  std::optional<std::string> body;
};

// Writes whose answer waits for their completion (fsync=always, acks=N),
// each holding its connection. The store completes on its own threads; the
// completion takes the write from here and posts its answer on the
// connection's executor. Shared with the completions, so a late one (after
// stop) finds it closed and does nothing; stop destroys the writes (and
// their connections) still here before their io_contexts go.
// Completions are handed to each I/O context in batches: one post runs
// every answer that became ready meanwhile (a group commit completes many
// writes at once; one wake-up of the I/O thread answers them all).
struct pending_registry {
  std::mutex mu;
  std::condition_variable cv;
  absl::flat_hash_map<uint64_t, std::shared_ptr<awaiting_write>> waiting;  // by key, until completed
  uint64_t next = 0;
  bool closed = false;
  struct ready_queue {
    std::vector<std::shared_ptr<awaiting_write>> q;
    bool posted = false;
  };
  std::vector<ready_queue> ready;  // per I/O context (index as server::impl::ctxs)
};

struct server::impl {
  api& a;
  std::shared_ptr<pending_registry> pending = std::make_shared<pending_registry>();
  server_options opts;
  std::vector<std::unique_ptr<asio::io_context>> ctxs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> connections{0};
  std::atomic<bool> stopping{false};
  uint16_t bound_port = 0;
  std::mutex addr_mu;
  std::unordered_map<std::string, size_t> per_address;  // open connections by client address
  watch_registry watchers;
  // TLS (--tls-cert): the contexts new connections and relays take; a
  // reload swaps them, connections keep theirs.
  std::mutex tls_mu;
  std::shared_ptr<asio::ssl::context> tls_server, tls_client;

  impl(api& api_, server_options o) : a(api_), opts(std::move(o)) {
    watchers.client_tls = [this] { return tls().second; };
  }

  void accept();
  std::pair<std::shared_ptr<asio::ssl::context>, std::shared_ptr<asio::ssl::context>> tls() {
    std::lock_guard lk(tls_mu);
    return {tls_server, tls_client};
  }
};

void srv_metrics_forward_failed(server::impl& s);

namespace {

// Stream: tcp::socket, or tls_stream (--tls-cert; tls_ keeps its context).
template <class Stream>
class connection : public std::enable_shared_from_this<connection<Stream>> {
  static constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;
  using std::enable_shared_from_this<connection<Stream>>::shared_from_this;

 public:
  connection(server::impl& srv, Stream sock, size_t ctx_index, std::string address,
             std::shared_ptr<asio::ssl::context> tls = nullptr)
      : srv_(srv), tls_(std::move(tls)), socket_(std::move(sock)), timer_(socket_.get_executor()),
        ctx_index_(ctx_index), address_(std::move(address)) {}

  // The executor every handler of this connection runs on (one thread).
  auto executor() { return socket_.get_executor(); }

  // overloaded: empty, or why this connection is refused (503, then close).
  // Over TLS the handshake comes first, within the read timeout.
  void start(const char* overloaded) {
    srv_.a.stats_sink().connection_opened();
    if constexpr (is_tls) {
      arm_timer(srv_.opts.read_timeout_ms);
      socket_.async_handshake(asio::ssl::stream_base::server,
                              [self = shared_from_this(), overloaded](beast::error_code ec) {
                                self->disarm();
                                if (ec) {
                                  self->srv_.a.stats_sink().tls_handshake_failed();
                                  return self->close();
                                }
                                self->started(overloaded);
                              });
    } else {
      started(overloaded);
    }
  }

  void started(const char* overloaded) {
    if (overloaded != nullptr) {
      srv_.a.stats_sink().rejected_overload();
      const std::string rid = srv_.a.request_id_for({});
      response r = api::error(503, "overloaded", overloaded, rid);
      r.request_id = rid;
      close_after_write_ = true;
      write(r, false);
      return;
    }
    do_read();
  }

  ~connection() {
    srv_.a.stats_sink().connection_closed();
    srv_.connections--;
    std::lock_guard lk(srv_.addr_mu);
    if (auto it = srv_.per_address.find(address_); it != srv_.per_address.end() && --it->second == 0)
      srv_.per_address.erase(it);
  }

 private:
  // One timer, armed lazily: an I/O start that moves the deadline later
  // only moves deadline_ (the timer re-arms itself when it fires early); one
  // that moves it earlier re-arms the timer (which cancels the wait
  // pending). The socket closes once the deadline has really passed.
  // disarm() makes the deadline infinite.
  void arm_timer(uint32_t ms) {
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    if (timer_waits_ > 0 && deadline_ >= timer_.expiry()) return;
    start_timer();
  }

  void start_timer() {
    timer_.expires_at(deadline_);  // cancels a pending wait (its handler sees operation_aborted)
    ++timer_waits_;
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_timer(ec); });
  }

  void disarm() { deadline_ = std::chrono::steady_clock::time_point::max(); }

  void on_timer(beast::error_code ec) {
    --timer_waits_;
    if (ec || !beast::get_lowest_layer(socket_).is_open()) return;
    if (deadline_ == std::chrono::steady_clock::time_point::max()) return;
    if (std::chrono::steady_clock::now() < deadline_) {
      if (timer_waits_ == 0) start_timer();
      return;
    }
    beast::error_code ignored;
    beast::get_lowest_layer(socket_).shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(socket_).close(ignored);
  }

  // Between requests a kept-alive connection may stay quiet for the idle
  // timeout; once a request starts (or from the accept, for the first one)
  // it must arrive whole within the read timeout, however slowly it trickles.
  // Over TLS the first byte cannot be told from the socket (the TLS layer
  // may hold it already), so a kept-alive connection's next request must
  // arrive whole within the idle timeout.
  void do_read() {
    if (srv_.stopping) return;
    if (buffer_.size() > 0 || !served_) return read_request(srv_.opts.read_timeout_ms);
    if constexpr (is_tls) {
      return read_request(srv_.opts.idle_timeout_ms);
    } else {
      arm_timer(srv_.opts.idle_timeout_ms);
      // Read into buffer_ (not async_wait: that re-arms epoll on every request).
      socket_.async_read_some(buffer_.prepare(16 * 1024), [self = shared_from_this()](beast::error_code ec, size_t n) {
        if (ec) return self->close();
        self->buffer_.commit(n);
        self->read_request(self->srv_.opts.read_timeout_ms);
      });
    }
  }

  void read_request(uint32_t timeout_ms) {
    if (srv_.stopping) return;
    served_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(srv_.opts.header_bytes));
    parser_->body_limit(srv_.a.settings()->body_bytes);
    arm_timer(timeout_ms);
    if (read_now()) return;
    bhttp::async_read(socket_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  // The fast path (plain TCP): parse what the socket holds now, without a
  // trip through the I/O context's queue (each trip waits behind every
  // handler queued before it: under load, about a round of all the other
  // connections' work). True when on_read ran; false leaves the rest to
  // async_read, which goes on from the parser's state. Bounded recursion:
  // requests pipelined in buffer_ alternate with the write fast path at most
  // fast_depth_max deep.
  bool read_now() {
    if constexpr (is_tls) {
      return false;
    } else {
      if (fast_depth_ >= fast_depth_max) return false;
      parser_->eager(true);
      beast::error_code ec;
      for (int reads = 0;; ++reads) {
        if (buffer_.size() > 0) {
          const size_t used = parser_->put(buffer_.data(), ec);
          buffer_.consume(used);
          if (ec == bhttp::error::need_more) ec = {};
          if (ec || parser_->is_done()) {
            ++fast_depth_;
            on_read(ec);
            --fast_depth_;
            return true;
          }
          if (used > 0) continue;
        }
        if (reads == 2 || buffer_.size() >= buffer_.max_size() || !nonblocking()) return false;
        const size_t want = std::min<size_t>(16 * 1024, buffer_.max_size() - buffer_.size());
        const size_t n = socket_.read_some(buffer_.prepare(want), ec);
        if (ec) return false;  // would_block, EOF, an error: async_read sees it
        buffer_.commit(n);
      }
    }
  }

  // Transfer codings we cannot decode (anything but a lone "chunked").
  static bool unsupported_coding(std::string_view te) {
    while (!te.empty() && (te.front() == ' ' || te.front() == '\t')) te.remove_prefix(1);
    while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.remove_suffix(1);
    return !beast::iequals(beast::string_view(te.data(), te.size()), "chunked");
  }

  void refuse(int status, const char* code, const std::string& message) {
    const std::string rid = srv_.a.request_id_for({});
    auto r = api::error(status, code, message, rid);
    r.request_id = rid;
    close_after_write_ = true;
    write(r, false);
  }

  void on_read(beast::error_code ec) {
    disarm();
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::bad_descriptor) {
      return close();
    }
    const std::string rid = srv_.a.request_id_for({});
    if (ec == bhttp::error::body_limit) {
      auto r = api::error(413, "too_large", "the body is larger than the limit", rid);
      r.request_id = rid;
      close_after_write_ = true;
      return write(r, false);
    }
    if (ec == bhttp::error::header_limit) {
      auto r = api::error(413, "too_large", "the request headers are larger than the limit", rid);
      r.request_id = rid;
      close_after_write_ = true;
      return write(r, false);
    }
    if (ec == bhttp::error::bad_transfer_encoding)
      return refuse(501, "not_implemented", "only the chunked transfer coding is supported");
    if (ec) {
      if (ec == bhttp::error::partial_message || ec == asio::error::eof) return close();
      auto r = api::error(400, "invalid_argument", "malformed HTTP request: " + ec.message(), rid);
      r.request_id = rid;
      close_after_write_ = true;
      return write(r, false);
    }
    auto& req = parser_->get();
    if (auto te = req.find(bhttp::field::transfer_encoding); te != req.end() && unsupported_coding({te->value().data(), te->value().size()}))
      return refuse(501, "not_implemented", "only the chunked transfer coding is supported");
    request_view v;
    const auto method = req.method_string();
    v.method = {method.data(), method.size()};
    v.target = {req.target().data(), req.target().size()};
    v.body = req.body();
    auto hdr = [&](bhttp::field f) {
      auto it = req.find(f);
      return it == req.end() ? std::string_view{} : std::string_view(it->value().data(), it->value().size());
    };
    v.content_type = hdr(bhttp::field::content_type);
    v.authorization = hdr(bhttp::field::authorization);
    v.if_match = hdr(bhttp::field::if_match);
    if (auto p_it = req.find("Prefer"); p_it != req.end()) v.prefer = {p_it->value().data(), p_it->value().size()};
    auto rid_it = req.find("X-Request-Id");
    if (rid_it != req.end()) v.request_id = {rid_it->value().data(), rid_it->value().size()};
    if (auto lim_it = req.find("X-Sessionmesh-Limits"); lim_it != req.end())
      v.limits = {lim_it->value().data(), lim_it->value().size()};
    if (auto f_it = req.find("X-Sessionmesh-Forwarded"); f_it != req.end())
      v.forwarded = {f_it->value().data(), f_it->value().size()};
    if (auto t_it = req.find("X-Sessionmesh-Session-Token"); t_it != req.end())
      v.session_token = {t_it->value().data(), t_it->value().size()};
    v.websocket_upgrade = beast::websocket::is_upgrade(req);
    response r = srv_.a.begin(v);
    if (r.watch) {
      timer_.cancel();
      disarm();
      if (nonblocking_) {
        beast::error_code blocking;
        beast::get_lowest_layer(socket_).non_blocking(false, blocking);  // the watcher's own business
      }
      if (!srv_.watchers.try_start(srv_.a, std::move(socket_), parser_->release(), srv_.opts, tls_)) {
        // Registry full: nothing more to do on this socket (it was moved).
      }
      return;
    }
    const bool keep = req.keep_alive() && !r.close;
    close_after_write_ = !keep;
    if (!r.forward_to.empty()) return forward(std::move(r), keep);
    if (r.fan) return ask_all(std::move(r), keep);
    if (r.pending) return await_completion(v, std::move(r), keep);
    write(r, keep);
  }

  // The answer waits for the store (the WAL's group commit, acks=N): no
  // thread waits; the completion posts the answer here. v's views point
  // into parser_, which lives until the next read.
  struct awaiting final : awaiting_write {
    std::shared_ptr<connection> self;
    asio::any_io_executor ex;  // the connection's, taken on its own thread
    response r;
    request_view v;
    bool keep = true;
    void deliver() override {
      if (body) r.body = std::move(*body);
      response out = self->srv_.a.finish(v, std::move(r), outcome);
      // A token read not applied here in time goes to the write's node.
      if (!out.forward_to.empty()) return self->forward(std::move(out), keep);
      self->write(out, keep);
    }
  };

  void await_completion(const request_view& v, response r, bool keep) {
    auto reg = srv_.pending;
    const pending_write w = *r.pending;
    auto aw = std::make_shared<awaiting>();
    aw->self = shared_from_this();
    aw->ex = socket_.get_executor();
    aw->r = std::move(r);
    aw->v = v;
    aw->keep = keep;
    uint64_t key;
    {
      std::lock_guard lk(reg->mu);
      key = ++reg->next;
      reg->waiting.emplace(key, std::move(aw));
    }
    // Runs once, on any thread: queues the answer for this connection's
    // I/O context (one post per batch).
    auto complete = [reg, key, idx = ctx_index_](result<void> outcome, std::optional<std::string> body) {
      std::lock_guard lk(reg->mu);
      auto it = reg->waiting.find(key);
      if (reg->closed || it == reg->waiting.end()) return;
      std::shared_ptr<awaiting_write> a = std::move(it->second);
      reg->waiting.erase(it);
      if (reg->waiting.empty()) reg->cv.notify_all();
      a->outcome = outcome;
      a->body = std::move(body);
      auto& rq = reg->ready[idx];
      auto ex = static_cast<awaiting&>(*a).ex;
      rq.q.push_back(std::move(a));
      if (rq.posted) return;
      rq.posted = true;
      // Posted while holding mu: stop() cannot destroy the executor meanwhile.
      asio::post(ex, [reg, idx] {
        std::vector<std::shared_ptr<awaiting_write>> batch;
        {
          std::lock_guard lk2(reg->mu);
          if (reg->closed) return;  // stop() took the queues
          batch.swap(reg->ready[idx].q);
          reg->ready[idx].posted = false;
        }
        for (auto& a : batch) a->deliver();
      });
    };
    if (w.job) return w.job([complete](std::string body) { complete(result<void>{}, std::move(body)); });
    if (!w.read_token.empty())
      return srv_.a.wait_token(w, [complete](bool met) {
        complete(met ? result<void>{} : result<void>{errc::acks_timeout}, std::nullopt);
      });
    srv_.a.store().when_durable(w.token, w.acks, w.timeout_ms,
                                [complete](result<void> outcome) { complete(outcome, std::nullopt); });
  }

  // Relays the request in parser_ to its session's owner (one hop, marked
  // X-Sessionmesh-Forwarded so the owner decides it) and answers with the
  // owner's answer; 503 owner_unavailable if it cannot be had in time.
  // Asynchronous on this connection's executor: no thread waits.
  void forward(response local, bool keep) {
    srv_.a.stats_sink().forwarded();
    auto& in = parser_->get();
    bhttp::request<bhttp::string_body> req;
    req.method(in.method());
    req.target(in.target());
    req.version(11);
    for (auto f : {bhttp::field::content_type, bhttp::field::authorization, bhttp::field::if_match})
      if (auto it = in.find(f); it != in.end()) req.set(f, it->value());
    if (auto it = in.find("X-Sessionmesh-Limits"); it != in.end()) req.set("X-Sessionmesh-Limits", it->value());
    if (auto it = in.find("Prefer"); it != in.end()) req.set("Prefer", it->value());
    if (auto it = in.find("X-Sessionmesh-Session-Token"); it != in.end())
      req.set("X-Sessionmesh-Session-Token", it->value());
    req.set("X-Request-Id", local.request_id);
    req.set("X-Sessionmesh-Forwarded", srv_.a.store().node_id());
    req.body() = in.body();
    auto self = shared_from_this();
    relay(socket_.get_executor(), local.forward_to, std::move(req), srv_.a.settings()->body_bytes * 2 + (1u << 20),
          srv_.opts.forward_timeout_ms, srv_.tls().second,
          [self, keep, target = local.forward_to, rid = local.request_id](result<response> r) {
            if (!r) {
              srv_metrics_forward_failed(self->srv_);
              auto e = api::error(503, "owner_unavailable",
                                  "the request was relayed to the node that decides it (" + target +
                                      "), which did not answer: " + r.describe(),
                                  rid);
              e.request_id = rid;
              return self->write(e, keep);
            }
            r->request_id = rid;
            self->write(*r, keep);
          });
  }

  // Sends GET fan->target to every node of r.fan at once (one hop each,
  // marked forwarded, this request's Authorization) and answers the merge
  // of their answers. The relays complete on this connection's executor.
  void ask_all(response local, bool keep) {
    auto fan = std::move(local.fan);
    struct tally {
      std::vector<result<response>> answers;
      size_t left = 0;
    };
    auto t = std::make_shared<tally>();
    t->answers.assign(fan->targets.size(), result<response>(errc::unavailable, "not asked"));
    t->left = fan->targets.size();
    auto self = shared_from_this();
    auto finish = [self, t, fan, keep, rid = local.request_id, head = local.head] {
      response out = fan->merge(t->answers);
      out.request_id = rid;
      out.head = head;
      self->write(out, keep);
    };
    if (t->left == 0) return finish();
    auto& in = parser_->get();
    for (size_t i = 0; i < fan->targets.size(); ++i) {
      bhttp::request<bhttp::string_body> req;
      req.method(bhttp::verb::get);
      req.target(fan->target);
      req.version(11);
      if (auto it = in.find(bhttp::field::authorization); it != in.end()) req.set(bhttp::field::authorization, it->value());
      req.set("X-Request-Id", local.request_id);
      req.set("X-Sessionmesh-Forwarded", srv_.a.store().node_id());
      srv_.a.stats_sink().forwarded();
      relay(socket_.get_executor(), fan->targets[i], std::move(req), 16u << 20, srv_.opts.forward_timeout_ms,
            srv_.tls().second, [self, t, i, finish](result<response> r) {
              if (!r) srv_metrics_forward_failed(self->srv_);
              t->answers[i] = std::move(r);
              if (--t->left == 0) finish();
            });
    }
  }

  void write(const response& r, bool keep) {
    serialize_response(out_, r, keep);
    arm_timer(srv_.opts.read_timeout_ms);
    size_t sent = 0;
    if constexpr (!is_tls) {
      // The fast path: most answers fit the socket buffer at once; then what
      // follows runs here instead of after a trip through the queue.
      beast::error_code ec;
      if (nonblocking()) sent = socket_.write_some(asio::buffer(out_), ec);
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return written(ec);
      if (sent == out_.size() && fast_depth_ < fast_depth_max) {
        ++fast_depth_;
        written({});
        --fast_depth_;
        return;
      }
    }
    asio::async_write(socket_, asio::buffer(out_.data() + sent, out_.size() - sent),
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->written(ec); });
  }

  // The socket's synchronous calls return would_block instead of waiting
  // (set once; asio's own operations are not affected).
  bool nonblocking() {
    if (!nonblocking_) {
      beast::error_code ec;
      beast::get_lowest_layer(socket_).non_blocking(true, ec);
      nonblocking_ = !ec;
    }
    return nonblocking_;
  }

  void written(beast::error_code ec) {
    disarm();
    if (ec) return close();
    if (close_after_write_) return linger();
    do_read();
  }

  // Lingering close: stop sending, then read and drop what the client still
  // sends (bounded in time and bytes) so our answer is not lost to a reset.
  // Over TLS: close_notify, then the same bounded wait for the client's.
  void linger() {
    arm_timer(1000);
    if constexpr (is_tls) {
      socket_.async_shutdown([self = shared_from_this()](beast::error_code) {
        self->disarm();
        self->close();
      });
    } else {
      beast::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      drain_more(16u << 20);
    }
  }

  void drain_more(size_t budget) {
    beast::get_lowest_layer(socket_).async_read_some(asio::buffer(discard_), [self = shared_from_this(), budget](beast::error_code ec, size_t n) {
      if (ec || n >= budget) {
        self->disarm();
        return self->close();
      }
      self->drain_more(budget - n);
    });
  }

  void close() {
    timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(socket_).shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(socket_).close(ignored);
  }

  server::impl& srv_;
  std::shared_ptr<asio::ssl::context> tls_;  // the context socket_ uses (TLS only): outlives it
  Stream socket_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  int timer_waits_ = 0;  // async_waits on timer_ not yet completed (at most one live)
  beast::flat_buffer buffer_{16 * 1024};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string out_;
  std::array<char, 16384> discard_;
  bool close_after_write_ = false;
  bool served_ = false;  // a request was read: later waits between requests are idle
  static constexpr int fast_depth_max = 8;
  int fast_depth_ = 0;        // nested fast-path calls (read_now, write) on this stack
  bool nonblocking_ = false;  // the socket's synchronous calls no longer wait (nonblocking())
  size_t ctx_index_;     // which of the server's I/O contexts runs this connection
  std::string address_;  // the client's address (per-address cap)
};

}  // namespace

void srv_metrics_forward_failed(server::impl& s) { s.a.stats_sink().forward_failed(); }

void server::impl::accept() {
  const size_t idx = next++ % ctxs.size();
  auto& ctx = *ctxs[idx];
  acceptor->async_accept(ctx, [this, idx](beast::error_code ec, tcp::socket sock) {
    if (stopping) return;
    if (!ec) {
      beast::error_code ignored;
      sock.set_option(tcp::no_delay(true), ignored);
      const char* overloaded = nullptr;
      if (static_cast<size_t>(++connections) > opts.max_connections) overloaded = "too many connections";
      std::string addr = sock.remote_endpoint(ignored).address().to_string();
      {
        std::lock_guard lk(addr_mu);
        if (++per_address[addr] > opts.max_connections_per_address && overloaded == nullptr)
          overloaded = "too many connections from this address";
      }
      // A connection lives on its own context's thread from its first step:
      // its fast paths run synchronously, so nothing of it may run on the
      // acceptor's thread while a completion of it runs on its own.
      auto begin = [overloaded](auto c) {
        auto ex = c->executor();
        asio::dispatch(ex, [c = std::move(c), overloaded] { c->start(overloaded); });
      };
      if (auto ctx = tls().first)
        begin(std::make_shared<connection<tls_stream>>(*this, tls_stream(std::move(sock), *ctx), idx, std::move(addr), ctx));
      else
        begin(std::make_shared<connection<tcp::socket>>(*this, std::move(sock), idx, std::move(addr)));
    }
    accept();
  });
}

server::server(api& a, server_options opts) : impl_(std::make_unique<impl>(a, std::move(opts))) {}

server::~server() { stop(); }

result<void> server::check_tls_files(const tls_files& f) {
  if (!f.enabled()) return {};
  auto c = make_tls_contexts(f);
  return c ? result<void>{} : failed<void>(c);
}

result<void> server::set_tls_files(tls_files f) {
  auto& s = *impl_;
  if (f.enabled() != s.opts.tls.enabled())
    return {errc::invalid_argument, "turning TLS on or off needs a restart"};
  if (!f.enabled()) return {};
  auto c = make_tls_contexts(f);
  if (!c) return failed<void>(c);
  std::lock_guard lk(s.tls_mu);
  std::tie(s.tls_server, s.tls_client) = std::move(*c);
  return {};
}

result<void> server::start() {
  auto& s = *impl_;
  if (s.opts.tls.enabled()) {
    auto c = make_tls_contexts(s.opts.tls);
    if (!c) return failed<void>(c);
    std::tie(s.tls_server, s.tls_client) = std::move(*c);
  }
  // Default: one thread per core but one, left to the kernel's network
  // stack, the WAL and the maintenance thread (measured: on 2 cores, 1 I/O
  // thread serves 80k GET/s where 2 serve 60k; see BENCHMARKS.md).
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  unsigned n = s.opts.threads ? s.opts.threads : std::max(1u, cores - 1);
  s.pending->ready.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    s.ctxs.push_back(std::make_unique<asio::io_context>(1));
    s.guards.emplace_back(s.ctxs.back()->get_executor());
  }
  beast::error_code ec;
  auto addr = asio::ip::make_address(s.opts.host == "localhost" ? "127.0.0.1" : s.opts.host, ec);
  if (ec) {
    // A host name: resolve it.
    asio::ip::tcp::resolver res(*s.ctxs[0]);
    auto eps = res.resolve(s.opts.host, std::to_string(s.opts.port), ec);
    if (ec || eps.empty()) {
      return {errc::invalid_argument, "cannot resolve HTTP address " + s.opts.host};
    }
    addr = eps.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, s.opts.port);
  s.acceptor = std::make_unique<tcp::acceptor>(*s.ctxs[0]);
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return {errc::io_error, "cannot listen on " + s.opts.host + ":" + std::to_string(s.opts.port) + ": " + ec.message()};
  }
  s.bound_port = s.acceptor->local_endpoint().port();
  s.accept();
  for (size_t i = 0; i < s.ctxs.size(); ++i)
    s.threads.emplace_back([ctx = s.ctxs[i].get(), i] {
      store::name_this_thread("sm-http-" + std::to_string(i));
      ctx->run();
    });
  return {};
}

uint16_t server::port() const { return impl_->bound_port; }

void server::stop() {
  auto& s = *impl_;
  if (s.stopping.exchange(true)) return;
  s.watchers.close_all();
  {
    // Answers still waiting on the store get a moment to go out (the I/O
    // threads still run); what is left then is dropped with its connection.
    std::unique_lock lk(s.pending->mu);
    s.pending->cv.wait_for(lk, std::chrono::milliseconds(s.opts.stop_pending_ms),
                           [&] { return s.pending->waiting.empty(); });
  }
  absl::flat_hash_map<uint64_t, std::shared_ptr<awaiting_write>> left;
  std::vector<pending_registry::ready_queue> unsent;
  {
    std::lock_guard lk(s.pending->mu);
    s.pending->closed = true;
    left.swap(s.pending->waiting);
    unsent.swap(s.pending->ready);
  }
  s.guards.clear();
  for (auto& c : s.ctxs) c->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  left.clear();
  unsent.clear();
  // Destroy pending handlers (and with them connections and watchers) while
  // the rest of impl is still alive.
  s.acceptor.reset();
  s.ctxs.clear();
}

}  // namespace sessionmesh::http
