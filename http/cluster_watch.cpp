// cluster_watch (see the header). Over 400 lines (471) on purpose: one
// concern, one watcher following other nodes' feeds; the WebSocket client
// (upstream_ws, plain or TLS) and the merging watcher share the generation
// and lifetime rules that make a restart or a close safe. The cursor and the
// event text live apart (cluster_cursor.cpp).
#include "http/cluster_watch.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <deque>
#include <map>

#include "http/body.hpp"
#include "http/cluster_cursor.hpp"
#include "http/path.hpp"
#include "http/server.hpp"
#include "http/watch.hpp"
#include "store/validate.hpp"

namespace sessionmesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto check_interval = std::chrono::seconds(1);
constexpr size_t upstream_message_max = 16u << 20;  // a put carries a whole session (a 4 MiB body and more)

// One followed node's feed: a WebSocket client on the watcher's executor.
struct upstream {
  virtual ~upstream() = default;
  // Resolve, connect (TLS), handshake; then on_open (ec set on failure).
  virtual void connect(const std::string& target, const std::string& auth, const std::string& self_node) = 0;
  // One message: then on_message, or on_close.
  virtual void read() = 0;
  virtual void stop() = 0;
  std::string node, http_addr;
  std::bitset<256> parts;
  std::string cursor;      // the node's own cursor: where this feed stands there
  std::string start_cursor;  // what the node's handshake answered (X-Sessionmesh-Cursor)
  bool open = false, reading = false, synced = false;
  std::function<void(beast::error_code)> on_open;
  std::function<void(std::string)> on_message;
  std::function<void(std::string why, bool lagging)> on_close;
};

// S: beast::tcp_stream, or beast::ssl_stream<beast::tcp_stream>.
template <class S>
class upstream_ws final : public upstream, public std::enable_shared_from_this<upstream_ws<S>> {
  static constexpr bool is_tls = !std::is_same_v<S, beast::tcp_stream>;

 public:
  template <class... A>
  explicit upstream_ws(const asio::any_io_executor& ex, A&&... a) : resolver_(ex), ws_(ex, std::forward<A>(a)...) {}

  void connect(const std::string& target, const std::string& auth, const std::string& self_node) override {
    auto self = this->shared_from_this();
    const auto colon = http_addr.rfind(':');
    host_ = colon == std::string::npos ? http_addr : http_addr.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : http_addr.substr(colon + 1);
    if (host_.size() >= 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
    ws_.set_option(websocket::stream_base::decorator(
        [auth, self_node, parts = partitions_hex(parts)](websocket::request_type& r) {
          if (!auth.empty()) r.set(beast::http::field::authorization, auth);
          r.set("X-Sessionmesh-Forwarded", self_node);
          r.set("X-Sessionmesh-Partitions", parts);
        }));
    ws_.read_message_max(upstream_message_max);
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
    resolver_.async_resolve(host_, port, [self, target](beast::error_code ec, tcp::resolver::results_type eps) {
      if (self->stopped_) return;
      if (ec) return self->on_open(ec);
      beast::get_lowest_layer(self->ws_).async_connect(eps, [self, target](beast::error_code ec2, const tcp::endpoint&) {
        if (self->stopped_) return;
        if (ec2) return self->on_open(ec2);
        if constexpr (is_tls) {
          auto& t = self->ws_.next_layer();
          boost::system::error_code not_ip;
          (void)asio::ip::make_address(self->host_, not_ip);
          if (not_ip) (void)SSL_set_tlsext_host_name(t.native_handle(), self->host_.c_str());
          t.set_verify_callback(asio::ssl::host_name_verification(self->host_));
          t.async_handshake(asio::ssl::stream_base::client, [self, target](beast::error_code ec3) {
            if (self->stopped_) return;
            if (ec3) return self->on_open(ec3);
            self->handshake(target);
          });
        } else {
          self->handshake(target);
        }
      });
    });
  }

  void read() override {
    reading = true;
    ws_.async_read(buf_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->reading = false;
      if (self->stopped_) return;
      if (ec) {
        const auto code = self->ws_.reason().code;
        std::string why = ec == websocket::error::closed
                              ? "closed with " + std::to_string(code) + " " + std::string(self->ws_.reason().reason.data(), self->ws_.reason().reason.size())
                              : ec.message();
        return self->on_close(std::move(why), code == 4008);
      }
      std::string m = beast::buffers_to_string(self->buf_.data());
      self->buf_.consume(self->buf_.size());
      self->on_message(std::move(m));
    });
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    on_open = nullptr;
    on_message = nullptr;
    on_close = nullptr;
    beast::error_code ignored;
    resolver_.cancel();
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
  }

 private:
  void handshake(const std::string& target) {
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::seconds(5);
    t.idle_timeout = std::chrono::seconds(15);  // a frozen node: pinged, then dropped
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.async_handshake(res_, http_addr, target, [self = this->shared_from_this()](beast::error_code ec) {
      if (self->stopped_) return;
      if (ec) return self->on_open(ec);
      if (auto it = self->res_.find("X-Sessionmesh-Cursor"); it != self->res_.end())
        self->start_cursor.assign(it->value().data(), it->value().size());
      self->open = true;
      self->on_open({});
    });
  }

  tcp::resolver resolver_;
  websocket::stream<S> ws_;
  websocket::response_type res_;
  beast::flat_buffer buf_;
  std::string host_;
  bool stopped_ = false;
};

// Next: tcp::socket, or asio::ssl::stream<tcp::socket> (keep_: its context).
template <class Next>
class cluster_watch : public std::enable_shared_from_this<cluster_watch<Next>> {
  using std::enable_shared_from_this<cluster_watch<Next>>::shared_from_this;

 public:
  cluster_watch(api& a, Next sock, const server_options& opts, watch_registry& reg, std::shared_ptr<void> keep,
                std::shared_ptr<asio::ssl::context> tls, placement_sources src)
      : keep_(std::move(keep)), a_(a), ws_(std::move(sock)), timer_(ws_.get_executor()), reg_(reg),
        tls_(std::move(tls)), src_(std::move(src)), max_queue_(opts.watch_queue_messages),
        max_queue_bytes_(opts.watch_queue_bytes) {}

  ~cluster_watch() {
    stop_upstreams();
    a_.stats_sink().watcher_closed();
    reg_.remove(this);
  }

  void start(beast::http::request<beast::http::string_body> req) {
    a_.stats_sink().watcher_opened();
    std::string_view query;
    auto wq = checked_watch_query(std::string_view(req.target().data(), req.target().size()), &query);
    prefix_ = std::move(wq.prefix);
    if (auto it = req.find(beast::http::field::authorization); it != req.end()) {
      auth_.assign(it->value().data(), it->value().size());
    } else {
      bool bad = false;
      if (auto t = query_param(query, "access_token", &bad); t && !bad) auth_ = "Bearer " + *t;
    }
    req_ = std::move(req);
    hash_ = placement_hash(src_);
    ws_.read_message_max(64 * 1024);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    if (src_.uncovered) {
      return accept_then_close(websocket::close_code::try_again_later,
                               std::to_string(src_.uncovered) + " partitions have no alive replica");
    }
    std::map<std::string, std::string> from;
    bool snapshot = wq.snapshot;
    if (wq.cursor) {
      auto cc = parse_cluster_cursor(*wq.cursor);
      bool ok = cc && cc->hash == hash_;
      for (const auto& n : src_.nodes) ok = ok && cc->at.count(n.node_id);
      if (ok) from = std::move(cc->at);
      else reset_ = snapshot = true;
      synced_due_ = true;
    } else if (snapshot) {
      synced_due_ = true;
    }
    open_all(snapshot, from);
    arm_check();
  }

  void request_close() {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      self->close(websocket::close_code::going_away, "shutdown");
    });
  }

 private:
  // Opens every source's feed (snapshot: each sends its partitions'
  // sessions first; from: the node's cursor to replay from). The watcher's
  // own handshake is answered once all have answered theirs.
  void open_all(bool snapshot, const std::map<std::string, std::string>& from) {
    stop_upstreams();
    ++generation_;
    opened_ = 0;
    for (const auto& n : src_.nodes) {
      std::shared_ptr<upstream> u;
      if (tls_) u = std::make_shared<upstream_ws<beast::ssl_stream<beast::tcp_stream>>>(ws_.get_executor(), *tls_);
      else u = std::make_shared<upstream_ws<beast::tcp_stream>>(ws_.get_executor());
      u->node = n.node_id;
      u->http_addr = n.http_addr;
      u->parts = n.parts;
      std::string t = "/v1/watch?prefix=" + percent_encode(prefix_);
      if (snapshot) t += "&snapshot=true";
      if (auto it = from.find(n.node_id); it != from.end()) {
        u->cursor = it->second;
        t += "&cursor=" + percent_encode(it->second);
      }
      std::weak_ptr<cluster_watch> weak = shared_from_this();
      const size_t i = ups_.size();
      const uint64_t gen = generation_;
      u->on_open = [weak, i, gen](beast::error_code ec) {
        if (auto self = weak.lock(); self && self->generation_ == gen) self->on_open(i, ec);
      };
      u->on_message = [weak, i, gen](std::string m) {
        if (auto self = weak.lock(); self && self->generation_ == gen) self->on_message(i, std::move(m));
      };
      u->on_close = [weak, i, gen](std::string why, bool lagging) {
        if (auto self = weak.lock(); self && self->generation_ == gen) self->on_up_close(i, why, lagging);
      };
      ups_.push_back(u);
      u->connect(t, auth_, a_.store().node_id());
    }
  }

  void on_open(size_t i, beast::error_code ec) {
    auto& u = *ups_[i];
    if (ec) {
      const std::string why = "node " + u.node + " (" + u.http_addr + ") could not be followed: " + ec.message();
      if (!accepted_) return accept_then_close(websocket::close_code::try_again_later, why);
      return close(websocket::close_code::try_again_later, why);
    }
    if (u.cursor.empty()) u.cursor = u.start_cursor;
    if (++opened_ < ups_.size()) return;
    if (accepted_) return started();
    ws_.async_accept(req_, [self = shared_from_this()](beast::error_code e) {
      if (e) return self->fail();
      self->accepted_ = true;
      self->do_read();
      self->started();
    });
  }

  // Every source answered: the reset (when the cursor could not be
  // resumed), then the events as they come.
  void started() {
    if (closed_) return;
    if (reset_) push(std::make_shared<const std::string>("{\"type\":\"reset\"}"));
    reset_ = false;
    pump_reads();
    flush();
  }

  std::string cursor_now() const {
    std::vector<std::pair<std::string_view, std::string_view>> at;
    for (const auto& u : ups_) at.emplace_back(u->node, u->cursor);
    return render_cluster_cursor(hash_, at);
  }

  void on_message(size_t i, std::string m) {
    if (closed_) return;
    auto& u = *ups_[i];
    auto e = read_event(m);
    if (!e) return close(websocket::close_code::internal_error, "node " + u.node + " sent an event that does not parse");
    if (e->type == "reset") {
      // That node could not resume its cursor: start over with a snapshot.
      if (!accepted_) return close(websocket::close_code::internal_error, "reset before the handshake");
      reset_ = synced_due_ = true;
      open_all(true, {});
      return;
    }
    if (e->cursor_at == std::string::npos)
      return close(websocket::close_code::internal_error, "node " + u.node + " sent an event without a cursor");
    u.cursor.assign(m, e->cursor_at, e->cursor_len);
    if (e->type == "synced") {
      u.synced = true;
      if (synced_due_ && std::all_of(ups_.begin(), ups_.end(), [](const auto& x) { return x->synced; })) {
        synced_due_ = false;
        push(std::make_shared<const std::string>("{\"type\":\"synced\",\"cursor\":\"" + cursor_now() + "\"}"));
      }
    } else {
      m.replace(e->cursor_at, e->cursor_len, cursor_now());
      push(std::make_shared<const std::string>(std::move(m)));
    }
    pump_reads();
    flush();
  }

  void on_up_close(size_t i, const std::string& why, bool lagging) {
    if (lagging) {
      a_.stats_sink().watcher_lagging();
      return close(static_cast<websocket::close_code>(4008), "lagging");
    }
    close(websocket::close_code::try_again_later, "node " + ups_[i]->node + ": " + why);
  }

  bool room() const { return queue_.size() < max_queue_ && queue_bytes_ < max_queue_bytes_; }

  void push(std::shared_ptr<const std::string> m) {
    queue_bytes_ += m->size();
    queue_.push_back(std::move(m));
  }

  // Reads from every source while the queue has room; a source that sent
  // its synced waits for the others' (changes follow the one synced).
  void pump_reads() {
    if (closed_ || !accepted_) return;
    for (auto& u : ups_)
      if (u->open && !u->reading && room() && !(synced_due_ && u->synced)) u->read();
  }

  void flush() {
    if (writing_ || queue_.empty() || closed_) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->fail();
      self->queue_bytes_ -= self->queue_.front()->size();
      self->queue_.pop_front();
      if (self->closed_) return self->send_close();
      self->pump_reads();
      self->flush();
    });
  }

  void do_read() {
    ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail();
      self->rbuf_.consume(self->rbuf_.size());  // client messages are ignored
      self->do_read();
    });
  }

  // The placement changed: the followed nodes are no longer the right ones.
  void arm_check() {
    timer_.expires_after(check_interval);
    // The timer's wait also keeps the watcher alive until it is closed
    // (before the handshake nothing else does).
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (placement_hash(self->a_.sources()) != self->hash_)
        return self->close(static_cast<websocket::close_code>(4009), "placement changed");
      self->arm_check();
    });
  }

  void accept_then_close(websocket::close_code code, std::string why) {
    if (closed_) return;
    stop_upstreams();
    closed_ = true;
    close_reason_ = websocket::close_reason(code, why);
    ws_.async_accept(req_, [self = shared_from_this()](beast::error_code e) {
      if (e) return self->fail();
      self->accepted_ = true;
      self->send_close();
    });
  }

  void close(websocket::close_code code, const std::string& why) {
    if (closed_) return;
    closed_ = true;
    stop_upstreams();
    timer_.cancel();
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queue_bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
    close_reason_ = websocket::close_reason(code, why.substr(0, 120));  // a close frame's reason is short
    if (!accepted_) {
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).close(ignored);
      return;
    }
    if (!writing_) send_close();
  }

  void send_close() {
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {});
  }

  void fail() {
    closed_ = true;
    timer_.cancel();
    stop_upstreams();
  }

  void stop_upstreams() {
    for (auto& u : ups_) u->stop();
    ups_.clear();
  }

  std::shared_ptr<void> keep_;  // first: outlives ws_, which uses it
  api& a_;
  websocket::stream<Next> ws_;
  asio::steady_timer timer_;
  watch_registry& reg_;
  std::shared_ptr<asio::ssl::context> tls_;
  placement_sources src_;
  uint64_t hash_ = 0;
  std::string prefix_, auth_;
  beast::http::request<beast::http::string_body> req_;
  std::vector<std::shared_ptr<upstream>> ups_;
  uint64_t generation_ = 0;
  size_t opened_ = 0;
  bool accepted_ = false, reset_ = false, synced_due_ = false;
  size_t max_queue_, max_queue_bytes_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queue_bytes_ = 0;
  bool writing_ = false, closed_ = false;
  websocket::close_reason close_reason_;
  beast::flat_buffer rbuf_;
};

}  // namespace

template <class Next>
cluster_watch_handle make_cluster_watch(api& a, Next sock, beast::http::request<beast::http::string_body> req,
                                        const server_options& opts, watch_registry& reg, std::shared_ptr<void> keep,
                                        std::shared_ptr<asio::ssl::context> tls, placement_sources src) {
  auto w = std::make_shared<cluster_watch<Next>>(a, std::move(sock), opts, reg, std::move(keep), std::move(tls),
                                                 std::move(src));
  std::weak_ptr<cluster_watch<Next>> weak = w;
  cluster_watch_handle h;
  h.id = w.get();
  h.close = [weak] {
    if (auto s = weak.lock()) s->request_close();
  };
  h.start = [w, req = std::make_shared<beast::http::request<beast::http::string_body>>(std::move(req))]() mutable {
    w->start(std::move(*req));
    w.reset();
  };
  return h;
}

template cluster_watch_handle make_cluster_watch<tcp::socket>(api&, tcp::socket,
                                                              beast::http::request<beast::http::string_body>,
                                                              const server_options&, watch_registry&,
                                                              std::shared_ptr<void>,
                                                              std::shared_ptr<asio::ssl::context>, placement_sources);
template cluster_watch_handle make_cluster_watch<asio::ssl::stream<tcp::socket>>(
    api&, asio::ssl::stream<tcp::socket>, beast::http::request<beast::http::string_body>, const server_options&,
    watch_registry&, std::shared_ptr<void>, std::shared_ptr<asio::ssl::context>, placement_sources);

}  // namespace sessionmesh::http
