// tcp_transport (see the header). Over 400 lines on purpose: inbound and
// outbound connections share the handshake, the frame MAC sequence, the
// drop accounting and the flush bookkeeping; the frame codec itself is
// frame.cpp.
#include "transport/tcp_transport.hpp"

#include <boost/asio.hpp>

#include <deque>
#include <map>
#include <random>

#include "transport/frame.hpp"

namespace sessionmesh::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

std::string random_nonce(std::mt19937_64& rng) {
  std::string n(16, '\0');
  for (auto& c : n) c = static_cast<char>(rng() & 0xff);
  return n;
}

bool split_addr(const std::string& addr, std::string& host, std::string& port) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = addr.substr(0, colon);
  port = addr.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return true;
}

}  // namespace

struct tcp_transport::impl : std::enable_shared_from_this<tcp_transport::impl> {
  asio::io_context& ioc;
  transport_options opts;
  frame_fn on_frame;
  log_fn log;
  transport_counters counters;
  tcp::acceptor acceptor;
  std::mt19937_64 rng{std::random_device{}()};
  std::set<std::string> logged;  // addresses already logged once (bounded: cleared past 1,024)
  struct rate {
    std::chrono::steady_clock::time_point last{};
    uint64_t suppressed = 0;
  };
  std::map<std::string, rate> drop_log;  // per reason (a fixed, small set)
  std::map<std::string, size_t> per_ip;  // open inbound connections per IP address
  std::set<std::string> blocked;
  bool closed = false;
  std::vector<std::function<void()>> flushed_waiters;
  size_t unsent() const;
  void check_flushed() {
    if (flushed_waiters.empty() || unsent() > 0) return;
    auto ws = std::exchange(flushed_waiters, {});
    for (auto& w : ws) w();
  }

  impl(asio::io_context& c, transport_options o, frame_fn f, log_fn l)
      : ioc(c), opts(std::move(o)), on_frame(std::move(f)), log(std::move(l)), acceptor(c) {}

  void log_once(const std::string& addr, const std::string& what) {
    if (logged.size() > 1024) logged.clear();
    if (logged.insert(addr + what).second && log) log(what + " (peer " + addr + ")");
  }

  // A dropped inbound connection: counted always, logged at most once per
  // reason every 10 s (a flood cannot fill the log).
  void log_drop(const std::string& addr, const std::string& why) {
    ++counters.dropped;
    auto& r = drop_log[why];
    const auto now = std::chrono::steady_clock::now();
    if (r.last != std::chrono::steady_clock::time_point{} && now - r.last < std::chrono::seconds(10)) {
      ++r.suppressed;
      return;
    }
    if (log)
      log("cluster transport: dropped connection: " + why + " (peer " + addr + ")" +
          (r.suppressed ? ", and " + std::to_string(r.suppressed) + " more for this reason in the last 10 s" : ""));
    r.last = now;
    r.suppressed = 0;
  }

  // ---------------- inbound
  struct inbound : std::enable_shared_from_this<inbound> {
    std::shared_ptr<impl> t;
    tcp::socket sock;
    std::string addr, ip;
    frame_reader reader{0, hello_frame_max};
    std::array<char, 16384> buf{};
    bool greeted = false;
    std::string peer_node, peer_advertise, conn_id;
    uint64_t seq = 0;
    std::string out;
    asio::steady_timer timer;

    inbound(std::shared_ptr<impl> tt, tcp::socket s) : t(std::move(tt)), sock(std::move(s)), timer(t->ioc) {
      error_code ec;
      auto ep = sock.remote_endpoint(ec);
      ip = ec ? "?" : ep.address().to_string();
      addr = ec ? "?" : ip + ":" + std::to_string(ep.port());
      ++t->per_ip[ip];
      ++t->counters.inbound_open;
    }
    ~inbound() {
      if (auto it = t->per_ip.find(ip); it != t->per_ip.end() && --it->second == 0) t->per_ip.erase(it);
      --t->counters.inbound_open;
    }
    void start() {
      timer.expires_after(std::chrono::milliseconds(t->opts.handshake_timeout_ms));
      timer.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec && !self->greeted) self->drop("handshake timed out");
      });
      read();
    }
    void drop(const std::string& why) {
      t->log_drop(addr, why);
      error_code ignored;
      timer.cancel();
      sock.close(ignored);
    }
    // A hello of another cluster: answer ours (no proof, nothing but the
    // cluster name it needs to say why) so the other node can log the
    // reason too, then close.
    void refuse() {
      timer.cancel();
      hello mine{t->opts.cluster, t->opts.node_id, t->opts.advertise, random_nonce(t->rng), {}};
      out.clear();
      append_frame(out, encode_hello(mine), {}, {}, 0);
      asio::async_write(sock, asio::buffer(out), [self = shared_from_this()](error_code, size_t) {
        error_code ignored;
        self->sock.close(ignored);
      });
    }
    void read() {
      sock.async_read_some(asio::buffer(buf), [self = shared_from_this()](error_code ec, size_t n) {
        if (ec) return;
        self->t->counters.bytes_in += n;
        self->reader.feed(self->buf.data(), n);
        if (self->consume()) self->read();
      });
    }
    bool consume() {
      for (;;) {
        auto f = reader.next();
        if (!f) {
          ++t->counters.garbage;
          drop("oversized or malformed frame");
          return false;
        }
        if (!*f) return true;
        auto& [payload, mac] = **f;
        if (!greeted) {
          auto h = decode_hello(payload);
          if (!h) {
            ++t->counters.garbage;
            drop("malformed handshake");
            return false;
          }
          if (h->cluster != t->opts.cluster || h->version != wire_version) {
            ++t->counters.refused_cluster;
            // Names ours only: the rate-limited log is keyed by the reason.
            t->log_drop(addr, "wrong cluster name (or --replicas) or protocol version; this node's cluster is \"" +
                                  t->opts.cluster + "\"");
            refuse();
            return false;
          }
          if (!t->opts.key.empty() && !constant_time_equal(h->proof, hello_proof(t->opts.key, *h))) {
            ++t->counters.refused_auth;
            drop("peer does not hold the cluster key");
            return false;
          }
          greeted = true;
          timer.cancel();
          peer_node = h->node_id;
          peer_advertise = h->advertise;
          hello mine{t->opts.cluster, t->opts.node_id, t->opts.advertise, random_nonce(t->rng), {}};
          mine.proof = hello_proof(t->opts.key, mine);
          conn_id = h->nonce + mine.nonce;
          reader.set_mac_len(t->opts.key.empty() ? 0 : mac_bytes);
          reader.set_max(frame_max);
          out.clear();
          append_frame(out, encode_hello(mine), {}, {}, 0);
          asio::async_write(sock, asio::buffer(out), [self = shared_from_this()](error_code, size_t) {});
          continue;
        }
        if (!t->opts.key.empty() && !constant_time_equal(mac, frame_mac(t->opts.key, conn_id, seq, payload))) {
          ++t->counters.refused_auth;
          drop("frame failed authentication");
          return false;
        }
        ++seq;
        ++t->counters.frames_in;
        if (t->blocked.count(peer_node)) continue;
        t->on_frame(peer_node, peer_advertise, payload);
      }
    }
  };

  void accept() {
    acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket s) {
      if (self->closed) return;
      if (!ec) self->admit(std::move(s));
      self->accept();
    });
  }

  // Past the caps a connection is closed before anything is read from it.
  void admit(tcp::socket s) {
    error_code ec;
    const auto ep = s.remote_endpoint(ec);
    const std::string ip = ec ? "?" : ep.address().to_string();
    const auto it = per_ip.find(ip);
    const size_t from_ip = it == per_ip.end() ? 0 : it->second;
    if (counters.inbound_open >= opts.inbound_max || from_ip >= opts.inbound_per_address_max) {
      ++counters.inbound_refused;
      log_drop(ip, counters.inbound_open >= opts.inbound_max ? "too many inbound connections"
                                                             : "too many inbound connections from one address");
      s.close(ec);
      return;
    }
    std::make_shared<inbound>(shared_from_this(), std::move(s))->start();
  }

  // ---------------- outbound
  struct outbound : std::enable_shared_from_this<outbound> {
    std::shared_ptr<impl> t;
    std::string addr;
    tcp::socket sock;
    tcp::resolver resolver;
    asio::steady_timer timer;
    enum class state { idle, connecting, greeting, ready } st = state::idle;
    std::deque<std::string> q;
    size_t q_bytes = 0;
    bool writing = false;
    unsigned attempts = 0;
    std::string conn_id, nonce, out, in_buf;
    frame_reader reader{0, hello_frame_max};
    std::array<char, 4096> buf{};
    uint64_t seq = 0;

    outbound(std::shared_ptr<impl> tt, std::string a)
        : t(std::move(tt)), addr(std::move(a)), sock(t->ioc), resolver(t->ioc), timer(t->ioc) {}

    void enqueue(std::string payload) {
      while (q.size() >= t->opts.queue_frames_max || q_bytes + payload.size() > t->opts.queue_bytes_max) {
        if (q.empty()) break;
        q_bytes -= q.front().size();
        q.pop_front();
        ++t->counters.queue_dropped;
      }
      q_bytes += payload.size();
      q.push_back(std::move(payload));
      if (st == state::idle) connect();
      else if (st == state::ready) flush();
    }
    void connect() {
      st = state::connecting;
      std::string host, port;
      if (!split_addr(addr, host, port)) return fail("bad address");
      resolver.async_resolve(host, port, [self = shared_from_this()](error_code ec, tcp::resolver::results_type r) {
        if (ec) return self->fail("cannot resolve");
        asio::async_connect(self->sock, r, [self](error_code ec2, const tcp::endpoint&) {
          if (ec2) return self->fail("cannot connect");
          error_code ignored;
          self->sock.set_option(tcp::no_delay(true), ignored);
          self->greet();
        });
      });
    }
    void greet() {
      st = state::greeting;
      hello h{t->opts.cluster, t->opts.node_id, t->opts.advertise, random_nonce(t->rng), {}};
      h.proof = hello_proof(t->opts.key, h);
      nonce = h.nonce;
      out.clear();
      append_frame(out, encode_hello(h), {}, {}, 0);
      asio::async_write(sock, asio::buffer(out), [self = shared_from_this()](error_code ec, size_t) {
        if (ec) return self->fail("handshake write failed");
        self->read_hello();
      });
      timer.expires_after(std::chrono::milliseconds(t->opts.handshake_timeout_ms));
      timer.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec && self->st == state::greeting) self->fail("handshake timed out");
      });
    }
    void read_hello() {
      sock.async_read_some(asio::buffer(buf), [self = shared_from_this()](error_code ec, size_t n) {
        if (ec) return self->fail("closed during handshake");
        self->reader.feed(self->buf.data(), n);
        auto f = self->reader.next();
        if (!f) return self->fail("malformed handshake reply");
        if (!*f) return self->read_hello();
        auto h = decode_hello((**f).first);
        if (!h) return self->fail("handshake refused");
        if (h->cluster != self->t->opts.cluster)
          return self->fail("refused: the peer's cluster is \"" + h->cluster.substr(0, 200) + "\", this node's is \"" +
                            self->t->opts.cluster + "\" (another cluster name, or another --replicas)");
        if (!self->t->opts.key.empty() && !constant_time_equal(h->proof, hello_proof(self->t->opts.key, *h))) {
          ++self->t->counters.refused_auth;
          return self->fail("peer does not hold the cluster key");
        }
        self->timer.cancel();
        self->conn_id = self->nonce + h->nonce;
        self->st = state::ready;
        self->attempts = 0;
        self->seq = 0;
        ++self->t->counters.connects;
        self->watch_close();
        self->flush();
      });
    }
    void watch_close() {
      sock.async_read_some(asio::buffer(buf), [self = shared_from_this()](error_code ec, size_t) {
        if (ec) return self->fail("connection closed");
        self->watch_close();  // the acceptor never sends after its hello
      });
    }
    void flush() {
      if (writing || q.empty() || st != state::ready) return;
      writing = true;
      out.clear();
      size_t n = 0;
      while (!q.empty() && out.size() < (4u << 20)) {
        append_frame(out, q.front(), t->opts.key, conn_id, seq++);
        q_bytes -= q.front().size();
        q.pop_front();
        ++n;
      }
      t->counters.frames_out += n;
      t->counters.bytes_out += out.size();
      asio::async_write(sock, asio::buffer(out), [self = shared_from_this()](error_code ec, size_t) {
        self->writing = false;
        if (ec) {
          self->fail("write failed");
          return self->t->check_flushed();
        }
        self->flush();
        self->t->check_flushed();
      });
    }
    void fail(const std::string& why) {
      if (st == state::idle) return;
      if (attempts == 0) t->log_once(addr, "cluster transport: " + why);
      ++t->counters.connect_failures;
      error_code ignored;
      sock.close(ignored);
      sock = tcp::socket(t->ioc);
      reader = frame_reader(0, hello_frame_max);
      writing = false;
      st = state::idle;
      if (t->closed) return;
      const uint32_t backoff =
          std::min<uint32_t>(t->opts.backoff_max_ms, t->opts.backoff_base_ms << std::min(attempts, 10u));
      ++attempts;
      const uint32_t jitter = static_cast<uint32_t>(t->rng() % (backoff / 2 + 1));
      timer.expires_after(std::chrono::milliseconds(backoff / 2 + jitter));
      timer.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec && self->st == state::idle && !self->t->closed && !self->q.empty()) self->connect();
      });
    }
  };

  std::map<std::string, std::shared_ptr<outbound>> peers;
};

tcp_transport::tcp_transport(asio::io_context& ioc, transport_options opts, frame_fn on_frame, log_fn log)
    : impl_(std::make_shared<impl>(ioc, std::move(opts), std::move(on_frame), std::move(log))) {}

tcp_transport::~tcp_transport() { close(); }

result<void> tcp_transport::listen() {
  error_code ec;
  auto addr = asio::ip::make_address(impl_->opts.listen_host == "localhost" ? "127.0.0.1" : impl_->opts.listen_host, ec);
  if (ec) {
    return {errc::invalid_argument, "bad gossip listen address " + impl_->opts.listen_host};
  }
  tcp::endpoint ep(addr, impl_->opts.listen_port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return {errc::io_error, "cannot listen for gossip on " + impl_->opts.listen_host + ":" + std::to_string(impl_->opts.listen_port) + ": " + ec.message()};
  }
  impl_->accept();
  return {};
}

uint16_t tcp_transport::port() const {
  error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void tcp_transport::send(const std::string& addr, std::string payload) {
  if (impl_->closed || addr.empty() || impl_->blocked.count(addr)) return;
  auto& p = impl_->peers[addr];
  if (!p) p = std::make_shared<impl::outbound>(impl_, addr);
  p->enqueue(std::move(payload));
}

void tcp_transport::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& [_, p] : impl_->peers) {
    p->timer.cancel();
    p->sock.close(ignored);
  }
  impl_->peers.clear();
}

size_t tcp_transport::impl::unsent() const {
  size_t n = 0;
  for (const auto& [_, p] : peers)
    if (p->st == outbound::state::ready) n += p->q.size() + (p->writing ? 1 : 0);
  return n;
}

size_t tcp_transport::unsent_to_ready_peers() const { return impl_->unsent(); }

void tcp_transport::when_flushed(std::function<void()> done) {
  impl_->flushed_waiters.push_back(std::move(done));
  impl_->check_flushed();
}

const transport_counters& tcp_transport::counters() const { return impl_->counters; }

void tcp_transport::set_blocked(std::set<std::string> peers) { impl_->blocked = std::move(peers); }

}  // namespace sessionmesh::transport
