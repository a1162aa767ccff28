#include "http/watch.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>

#include "http/api.hpp"
#include "http/json_render.hpp"
#include "http/path.hpp"
#include "http/server.hpp"

namespace sessionmesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t pull_batch = 256;

class watch_session : public std::enable_shared_from_this<watch_session> {
 public:
  watch_session(api& a, tcp::socket sock, const server_options& opts, watch_registry& reg)
      : a_(a), ws_(std::move(sock)), max_queue_(opts.watch_queue_messages), reg_(reg) {}

  ~watch_session() {
    a_.stats_sink().watcher_closed();
    reg_.remove(this);
  }

  void start(beast::http::request<beast::http::string_body> req) {
    a_.stats_sink().watcher_opened();
    const std::string_view target(req.target().data(), req.target().size());
    const auto q = target.find('?');
    const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    bool bad = false;
    prefix_ = query_param(query, "prefix", &bad).value_or("");
    const auto snap = query_param(query, "snapshot", &bad).value_or("false");
    const auto cursor = query_param(query, "cursor", &bad);
    snapshot_ = snap == "true" || snap == "1";
    resume_ = cursor;
    ws_.read_message_max(64 * 1024);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    // The feed starts here, before the handshake answer goes out: a client
    // that writes right after its handshake completes must see that write.
    start_cursor_ = a_.store().current_cursor();
    subscribe();
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->on_accept();
    });
  }

  // Posted from any thread.
  void request_close() {
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->close(websocket::close_code::going_away, "shutdown"); });
  }

 private:
  void subscribe() {
    std::weak_ptr<watch_session> weak = shared_from_this();
    auto ex = ws_.get_executor();
    // Wake-ups only: the data comes from the ring, pulled here.
    sub_ = a_.store().subscribe([weak, ex, this](const change&) {
      if (wake_pending_.exchange(true)) return;
      asio::post(ex, [weak] {
        if (auto self = weak.lock()) {
          self->wake_pending_ = false;
          if (self->accepted_) self->pump();
        }
      });
    });
  }

  void on_accept() {
    auto& st = a_.store();
    accepted_ = true;
    if (resume_) {
      auto b = st.read_changes(*resume_, 0);
      if (b) {
        cursor_ = *resume_;
        pump();
        enqueue("{\"type\":\"synced\",\"cursor\":\"" + cursor_ + "\"}");
        do_read();
        return;
      }
      enqueue("{\"type\":\"reset\"}");
      send_snapshot();
    } else if (snapshot_) {
      send_snapshot();
    } else {
      cursor_ = start_cursor_;
    }
    do_read();
    pump();
  }

  void send_snapshot() {
    auto& st = a_.store();
    cursor_ = start_cursor_;  // changes since the handshake replay after the snapshot
    std::string after;
    for (;;) {
      auto page = st.list(prefix_, 1000, after);
      if (!page) break;
      for (const auto& sum : page->sessions) {
        auto s = st.peek(sum.id);
        if (!s) continue;
        std::string m = "{\"type\":\"put\",\"id\":";
        append_json_string(m, sum.id);
        m += ",\"version\":";
        append_json_string(m, s->version());
        m += ",\"origin\":";
        append_json_string(m, st.node_id());
        m += ",\"cursor\":";
        append_json_string(m, cursor_);
        m += ",\"session\":";
        render_session(m, *s, st.owner_of(sum.id));
        m += "}";
        queue_.push_back(std::move(m));  // the snapshot itself is not bounded by max_queue_
      }
      if (!page->next_cursor) break;
      after = *page->next_cursor;
    }
    enqueue("{\"type\":\"synced\",\"cursor\":\"" + cursor_ + "\"}");
  }

  void pump() {
    if (closed_) return;
    auto& st = a_.store();
    while (queue_.size() < max_queue_) {
      auto b = st.read_changes(cursor_, pull_batch);
      if (!b) {
        a_.stats_sink().watcher_lagging();
        return close(static_cast<websocket::close_code>(4008), "lagging");
      }
      if (b->changes.empty()) break;
      for (const auto& c : b->changes) {
        std::string m;
        if (c.type == change_type::moved) {
          change f = c;
          std::erase_if(f.moves, [&](const session_move& mv) { return mv.id.compare(0, prefix_.size(), prefix_) != 0; });
          if (f.moves.empty()) continue;
          render_change(m, f, {});
        } else {
          if (c.id.compare(0, prefix_.size(), prefix_) != 0) continue;
          render_change(m, c, st.owner_of(c.id));
        }
        queue_.push_back(std::move(m));
      }
      cursor_ = b->next_cursor;
    }
    flush();
  }

  void enqueue(std::string m) {
    queue_.push_back(std::move(m));
    flush();
  }

  void flush() {
    if (writing_ || queue_.empty() || closed_) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->fail();
      self->queue_.pop_front();
      if (self->closed_) return self->send_close();
      if (self->queue_.size() < self->max_queue_ / 2) self->pump();
      else self->flush();
    });
  }

  void do_read() {
    ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail();
      self->rbuf_.consume(self->rbuf_.size());  // client messages are ignored
      self->do_read();
    });
  }

  void close(websocket::close_code code, const char* why) {
    if (closed_) return;
    closed_ = true;
    sub_.reset();
    // The front message may be in an async_write: keep it alive.
    while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
    close_reason_ = websocket::close_reason(code, why);
    if (!writing_) send_close();  // else after the write in flight
  }

  void send_close() {
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {});
  }

  void fail() {
    closed_ = true;
    sub_.reset();
  }

  api& a_;
  websocket::stream<tcp::socket> ws_;
  size_t max_queue_;
  watch_registry& reg_;
  std::string prefix_;
  bool snapshot_ = false;
  std::optional<std::string> resume_;
  std::string cursor_;
  std::string start_cursor_;
  bool accepted_ = false;
  subscription sub_;
  std::atomic<bool> wake_pending_{false};
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool closed_ = false;
  websocket::close_reason close_reason_;
  beast::flat_buffer rbuf_;
};

}  // namespace

bool watch_registry::try_start(api& a, tcp::socket sock, beast::http::request<beast::http::string_body> req,
                               const server_options& opts) {
  std::shared_ptr<watch_session> w;
  {
    std::lock_guard lk(mu_);
    if (live_.size() >= opts.watchers_max) {
      beast::error_code ignored;
      sock.close(ignored);
      return false;
    }
    w = std::make_shared<watch_session>(a, std::move(sock), opts, *this);
    std::weak_ptr<watch_session> weak = w;
    live_.emplace_back(w.get(), [weak] {
      if (auto s = weak.lock()) s->request_close();
    });
  }
  w->start(std::move(req));
  return true;
}

void watch_registry::close_all() {
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lk(mu_);
    for (auto& [_, fn] : live_) closers.push_back(fn);
  }
  for (auto& fn : closers) fn();
}

size_t watch_registry::size() const {
  std::lock_guard lk(mu_);
  return live_.size();
}

void watch_registry::remove(const void* w) {
  std::lock_guard lk(mu_);
  std::erase_if(live_, [w](const auto& p) { return p.first == w; });
}

}  // namespace sessionmesh::http
