// watch (see the header). Over 400 lines (417) on purpose: one concern, a
// watcher of this node's own feed (snapshot paging, replay, the ring pull,
// the partition filter for another node's cluster-wide feed) and the
// registry that starts it; the cluster-wide watcher lives apart
// (cluster_watch.cpp).
#include "http/watch.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <charconv>
#include <deque>

#include "http/api.hpp"
#include "http/cluster_watch.hpp"
#include "http/body.hpp"
#include "http/json_render.hpp"
#include "http/path.hpp"
#include "gossip/placement.hpp"
#include "http/server.hpp"
#include "store/validate.hpp"

namespace sessionmesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t pull_batch = 256;
constexpr size_t snapshot_page_max = 64;  // sessions per snapshot page (the queue may pass its bound by one page)

// Next: tcp::socket, or asio::ssl::stream<tcp::socket> (keep_: its context).
template <class Next>
class watch_session : public std::enable_shared_from_this<watch_session<Next>> {
  using std::enable_shared_from_this<watch_session<Next>>::shared_from_this;

 public:
  watch_session(api& a, Next sock, const server_options& opts, watch_registry& reg, std::shared_ptr<void> keep)
      : keep_(std::move(keep)), a_(a), ws_(std::move(sock)), max_queue_(opts.watch_queue_messages), reg_(reg),
        max_queue_bytes_(opts.watch_queue_bytes) {}

  ~watch_session() {
    a_.stats_sink().watcher_closed();
    reg_.remove(this);
  }

  void start(beast::http::request<beast::http::string_body> req) {
    a_.stats_sink().watcher_opened();
    auto wq = checked_watch_query(std::string_view(req.target().data(), req.target().size()));
    prefix_ = std::move(wq.prefix);
    snapshot_ = wq.snapshot;
    resume_ = std::move(wq.cursor);
    // Another node's cluster-wide feed (cluster_watch.cpp) asks for the
    // partitions it follows here.
    const bool forwarded = req.find("X-Sessionmesh-Forwarded") != req.end();
    if (forwarded)
      if (auto p = req.find("X-Sessionmesh-Partitions"); p != req.end()) {
        parts_ = parse_partitions_hex(std::string_view(p->value().data(), p->value().size()));
        bad_parts_ = !parts_;
      }
    ws_.read_message_max(64 * 1024);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    // The feed starts here, before the handshake answer goes out: a client
    // that writes right after its handshake completes must see that write.
    start_cursor_ = a_.store().current_cursor();
    if (forwarded)
      ws_.set_option(websocket::stream_base::decorator(
          [c = start_cursor_](websocket::response_type& r) { r.set("X-Sessionmesh-Cursor", c); }));
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
    std::weak_ptr<watch_session<Next>> weak = shared_from_this();
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
    if (bad_parts_) return close(websocket::close_code::policy_error, "bad X-Sessionmesh-Partitions");
    cursor_ = start_cursor_;
    if (resume_) {
      if (st.read_changes(*resume_, 0)) {
        // Replay from the client's cursor; synced once the replay reaches
        // where the feed stood at the handshake.
        cursor_ = *resume_;
        synced_due_ = true;
        synced_at_seq_ = seq_of(start_cursor_);
      } else {
        push("{\"type\":\"reset\"}");
        snap_active_ = synced_due_ = true;
      }
    } else if (snapshot_) {
      snap_active_ = synced_due_ = true;
    }
    do_read();
    pump();
  }

  bool mine(std::string_view id) const { return !parts_ || parts_->test(gossip::partition_of(id)); }

  static uint64_t seq_of(std::string_view cursor) {
    const auto dash = cursor.find('-');
    uint64_t seq = 0;
    if (dash != std::string_view::npos) std::from_chars(cursor.data() + dash + 1, cursor.data() + cursor.size(), seq);
    return seq;
  }

  bool room() const { return queue_.size() < max_queue_ && queue_bytes_ < max_queue_bytes_; }

  void push(std::string m) { push(std::make_shared<const std::string>(std::move(m))); }
  void push(std::shared_ptr<const std::string> m) {
    queue_bytes_ += m->size();
    queue_.push_back(std::move(m));
  }

  void push_synced(const std::string& cursor) {
    synced_due_ = false;
    push("{\"type\":\"synced\",\"cursor\":\"" + cursor + "\"}");
  }

  // One page of the snapshot, streamed: at most snapshot_page_max sessions
  // of the store's current snapshot part (session_store::snapshot_part: the
  // store is walked once, one part's ids held at a time). Ends the snapshot
  // (and sends synced) after the last part. The cursor of every snapshot
  // event, and of its synced, is where the feed stood at the handshake:
  // changes since then replay after it.
  void snapshot_page() {
    auto& st = a_.store();
    if (snap_pos_ == snap_ids_.size()) {
      snap_ids_.clear();
      snap_pos_ = 0;
      if (snap_part_ >= st.snapshot_parts()) {
        snap_active_ = false;
        snap_ids_.shrink_to_fit();
        push_synced(cursor_);
        return;
      }
      if (auto part = st.snapshot_part(prefix_, snap_part_)) snap_ids_ = std::move(*part);
      ++snap_part_;
      return;
    }
    const size_t end = std::min(snap_ids_.size(), snap_pos_ + snapshot_page_max);
    for (; snap_pos_ < end; ++snap_pos_) {
      const std::string& id = snap_ids_[snap_pos_];
      if (!mine(id)) continue;
      auto s = st.peek(id);
      if (!s) continue;  // deleted since: its delete follows the synced
      std::string m = "{\"type\":\"put\",\"id\":";
      append_json_string(m, id);
      m += ",\"version\":";
      append_json_string(m, s->version());
      m += ",\"origin\":";
      append_json_string(m, st.node_id());
      m += ",\"cursor\":";
      append_json_string(m, cursor_);
      m += ",\"session\":";
      render_session(m, *s, st.owner_of(id));
      m += "}";
      push(std::move(m));
    }
  }

  // Fills the queue while it has room (messages and bytes): the snapshot's
  // pages first, then changes pulled from the ring. A cursor that fell off
  // the ring closes the watcher with 4008.
  void pump() {
    if (closed_) return;
    auto& st = a_.store();
    while (room()) {
      if (snap_active_) {
        snapshot_page();
        continue;
      }
      auto b = st.read_changes(cursor_, pull_batch);
      if (!b) {
        a_.stats_sink().watcher_lagging();
        return close(static_cast<websocket::close_code>(4008), "lagging");
      }
      bool full = false;
      for (const auto& c : b->changes) {
        if (!room()) {  // stop mid-batch: the rest is pulled again as the socket drains
          full = true;
          break;
        }
        cursor_ = c.cursor;
        if (c.type == change_type::moved) {  // filtered by this watcher's prefix: its own
          change f = c;
          std::erase_if(f.moves, [&](const session_move& mv) {
            return mv.id.compare(0, prefix_.size(), prefix_) != 0 || !mine(mv.id);
          });
          std::string m;
          if (!f.moves.empty()) render_change(m, f, {});
          if (!m.empty()) push(std::move(m));
        } else if (c.id.compare(0, prefix_.size(), prefix_) == 0 && mine(c.id)) {
          push(reg_.rendered(c.cursor, [&](std::string& m) { render_change(m, c, st.owner_of(c.id)); }));
        }
        if (synced_due_ && c.seq >= synced_at_seq_) push_synced(c.cursor);
      }
      if (full) break;
      cursor_ = b->next_cursor;
      if (b->changes.empty()) {
        if (synced_due_) push_synced(cursor_);  // nothing (more) to replay
        break;
      }
    }
    flush();
  }

  // While more than one event waits, the socket is corked (TCP_CORK): the
  // frames, one send each, leave in full segments instead of one segment
  // (and one wake-up of the reader) per event. Uncorked as soon as nothing
  // is being written, so a lone event or a control frame is never held.
  void cork(bool on) {
    if (on == corked_) return;
    corked_ = on;
    const int v = on ? 1 : 0;
    ::setsockopt(beast::get_lowest_layer(ws_).native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v);
  }

  void flush() {
    if (writing_ || queue_.empty() || closed_) {
      if (!writing_) cork(false);
      return;
    }
    if (queue_.size() > 1) cork(true);
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->fail();
      if (self->queue_.size() == 1) self->cork(false);  // the last one queued: out it goes
      self->queue_bytes_ -= self->queue_.front()->size();
      self->queue_.pop_front();
      if (self->closed_) return self->send_close();
      if (self->queue_.size() < self->max_queue_ / 2 && self->queue_bytes_ < self->max_queue_bytes_ / 2) self->pump();
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
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queue_bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
    close_reason_ = websocket::close_reason(code, why);
    if (!writing_) send_close();  // else after the write in flight
  }

  void send_close() {
    cork(false);
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {});
  }

  void fail() {
    closed_ = true;
    sub_.reset();
  }

  std::shared_ptr<void> keep_;  // first: outlives ws_, which uses it
  api& a_;
  websocket::stream<Next> ws_;
  size_t max_queue_;
  watch_registry& reg_;
  std::string prefix_;
  bool snapshot_ = false;
  std::optional<std::string> resume_;
  std::optional<std::bitset<256>> parts_;  // only these partitions' sessions (nullopt: all)
  bool bad_parts_ = false;
  std::string cursor_;
  std::string start_cursor_;
  bool accepted_ = false;
  subscription sub_;
  std::atomic<bool> wake_pending_{false};
  std::deque<std::shared_ptr<const std::string>> queue_;  // shared: a change's event is rendered once
  size_t queue_bytes_ = 0;
  size_t max_queue_bytes_;
  bool snap_active_ = false;  // streaming the snapshot: part snap_part_ - 1 in snap_ids_, sent up to snap_pos_
  size_t snap_part_ = 0, snap_pos_ = 0;
  std::vector<std::string> snap_ids_;
  bool synced_due_ = false;   // a synced is owed: after the snapshot, or once the replay passes synced_at_seq_
  uint64_t synced_at_seq_ = 0;
  bool writing_ = false;
  bool corked_ = false;
  bool closed_ = false;
  websocket::close_reason close_reason_;
  beast::flat_buffer rbuf_;
};

}  // namespace

bool watch_registry::try_start(api& a, tcp::socket sock, beast::http::request<beast::http::string_body> req,
                               const server_options& opts, std::shared_ptr<void> keep) {
  return start_any(a, std::move(sock), std::move(req), opts, std::move(keep));
}

bool watch_registry::try_start(api& a, asio::ssl::stream<tcp::socket> sock,
                               beast::http::request<beast::http::string_body> req, const server_options& opts,
                               std::shared_ptr<void> keep) {
  return start_any(a, std::move(sock), std::move(req), opts, std::move(keep));
}

template <class Next>
bool watch_registry::start_any(api& a, Next sock, beast::http::request<beast::http::string_body> req,
                               const server_options& opts, std::shared_ptr<void> keep) {
  // Under placement a watcher of this node's own follows the whole cluster.
  placement_sources src;
  if (req.find("X-Sessionmesh-Forwarded") == req.end()) src = a.sources();
  std::function<void()> start;
  {
    std::lock_guard lk(mu_);
    if (live_.size() >= opts.watchers_max) {
      beast::error_code ignored;
      beast::get_lowest_layer(sock).close(ignored);
      return false;
    }
    if (!src.nodes.empty()) {
      auto h = make_cluster_watch(a, std::move(sock), std::move(req), opts, *this, std::move(keep),
                                  client_tls ? client_tls() : nullptr, std::move(src));
      live_.emplace_back(h.id, std::move(h.close));
      start = std::move(h.start);
    } else {
      auto w = std::make_shared<watch_session<Next>>(a, std::move(sock), opts, *this, std::move(keep));
      std::weak_ptr<watch_session<Next>> weak = w;
      live_.emplace_back(w.get(), [weak] {
        if (auto s = weak.lock()) s->request_close();
      });
      start = [w, r = std::make_shared<beast::http::request<beast::http::string_body>>(std::move(req))] {
        w->start(std::move(*r));
      };
    }
  }
  start();
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

std::shared_ptr<const std::string> watch_registry::rendered(const std::string& cursor,
                                                            const std::function<void(std::string&)>& render) {
  {
    std::lock_guard lk(render_mu_);
    if (auto it = rendered_.find(cursor); it != rendered_.end()) return it->second;
  }
  // Rendered outside the lock; two watchers racing on one change both
  // render it (the same text) and the first kept wins.
  std::string m;
  render(m);
  auto made = std::make_shared<const std::string>(std::move(m));
  std::lock_guard lk(render_mu_);
  auto [it, fresh] = rendered_.try_emplace(cursor, made);
  if (!fresh) return it->second;
  rendered_order_.push_back(cursor);
  rendered_bytes_ += made->size();
  while (rendered_order_.size() > rendered_max || rendered_bytes_ > rendered_bytes_max) {
    auto old = rendered_.find(rendered_order_.front());
    rendered_bytes_ -= old->second->size();
    rendered_.erase(old);
    rendered_order_.pop_front();
  }
  return made;
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
