#include "http/relay.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>

namespace sessionmesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t idle_per_target_max = 64;  // above the relays one thread has in flight under load
// Less than the server's keep-alive quiet limit (120 s): a kept connection
// is not closed by the other node as it is taken up again.
constexpr auto idle_max = std::chrono::seconds(30);

// One connection to another node, kept open between relays.
struct link {
  explicit link(const asio::any_io_executor& ex) : stream(ex) {}
  beast::tcp_stream stream;
  std::optional<beast::ssl_stream<beast::tcp_stream&>> tls;  // over stream, when over TLS
  beast::flat_buffer buf;
  std::chrono::steady_clock::time_point idle_since;
};

// The kept connections of one I/O context (one thread: no lock), per
// target address and TLS context: at most idle_per_target_max each, none
// older than idle_max.
class link_pool : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  explicit link_pool(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  std::shared_ptr<link> take(const std::string& target, const asio::ssl::context* tls) {
    auto it = idle_.find({target, tls});
    if (it == idle_.end()) return nullptr;
    const auto now = std::chrono::steady_clock::now();
    while (!it->second.empty()) {
      auto l = std::move(it->second.back());
      it->second.pop_back();
      if (now - l->idle_since < idle_max) return l;
    }
    idle_.erase(it);
    return nullptr;
  }

  void give(const std::string& target, const asio::ssl::context* tls, std::shared_ptr<link> l) {
    if (shut_) return;
    auto& q = idle_[{target, tls}];
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(q, [&](const std::shared_ptr<link>& x) { return now - x->idle_since >= idle_max; });
    if (q.size() >= idle_per_target_max) return;
    l->idle_since = now;
    l->stream.expires_never();
    q.push_back(std::move(l));
  }

 private:
  void shutdown() override {
    shut_ = true;
    idle_.clear();
  }
  bool shut_ = false;
  std::map<std::pair<std::string, const asio::ssl::context*>, std::deque<std::shared_ptr<link>>> idle_;
};

struct relay_state {
  explicit relay_state(const asio::any_io_executor& ex) : ex(ex), resolver(ex) {}
  asio::any_io_executor ex;
  tcp::resolver resolver;
  std::shared_ptr<link> conn;
  bool reused = false;
  std::shared_ptr<asio::ssl::context> tls_ctx;
  bhttp::request<bhttp::string_body> req;
  std::optional<bhttp::response_parser<bhttp::string_body>> res;
  size_t body_limit = 0;
  uint32_t timeout_ms = 0;
  std::string target, host, port;
  std::function<void(result<response>)> done;

  link_pool& pool() { return asio::use_service<link_pool>(asio::query(ex, asio::execution::context)); }

  void fail(const beast::error_code& ec) {
    // A kept connection the other node closed meanwhile: once more on a new one.
    if (reused && (!res || !res->got_some())) {
      beast::error_code ignored;
      conn->stream.socket().close(ignored);
      reused = false;
      return connect(shared());
    }
    done(result<response>(errc::unavailable, ec.message()));
  }
  std::shared_ptr<relay_state> shared();  // set by start()
  std::weak_ptr<relay_state> self;

  void answer() {
    auto& up = res->get();
    response r;
    r.status = up.result_int();
    r.body = std::move(up.body());
    if (auto it = up.find(bhttp::field::content_type); it != up.end()) r.content_type = std::string(it->value());
    for (std::string_view h : {"ETag", "Retry-After", "Allow", "X-Expires-At-Ms", "X-Sessionmesh-Session-Token", "X-Sessionmesh-Token-Unmet"})
      if (auto it = up.find(beast::string_view(h.data(), h.size())); it != up.end())
        r.headers.emplace_back(std::string(h), std::string(it->value()));
    r.headers.emplace_back("X-Served-By", target);
    if (up.keep_alive() && conn->buf.size() == 0) {
      pool().give(target, tls_ctx.get(), std::move(conn));
    } else {
      beast::error_code ignored;
      conn->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
    done(std::move(r));
  }

  // Write the request and read the answer on s (the stream, or TLS over it).
  template <class S>
  static void exchange(const std::shared_ptr<relay_state>& st, S& s) {
    st->res.emplace();
    st->res->body_limit(st->body_limit);
    st->conn->stream.expires_after(std::chrono::milliseconds(st->timeout_ms));
    bhttp::async_write(s, st->req, [st, &s](beast::error_code ec, size_t) {
      if (ec) return st->fail(ec);
      bhttp::async_read(s, st->conn->buf, *st->res, [st](beast::error_code ec2, size_t) {
        if (ec2) return st->fail(ec2);
        st->answer();
      });
    });
  }

  static void send(const std::shared_ptr<relay_state>& st) {
    if (st->conn->tls) return exchange(st, *st->conn->tls);
    exchange(st, st->conn->stream);
  }

  static void connect(const std::shared_ptr<relay_state>& st) {
    st->conn = std::make_shared<link>(st->ex);
    st->conn->stream.expires_after(std::chrono::milliseconds(st->timeout_ms));
    st->resolver.async_resolve(st->host, st->port, [st](beast::error_code ec, tcp::resolver::results_type eps) {
      if (ec) return st->fail(ec);
      st->conn->stream.async_connect(eps, [st](beast::error_code ec2, const tcp::endpoint&) {
        if (ec2) return st->fail(ec2);
        beast::error_code ignored;
        st->conn->stream.socket().set_option(tcp::no_delay(true), ignored);
        if (!st->tls_ctx) return send(st);
        auto& t = st->conn->tls.emplace(st->conn->stream, *st->tls_ctx);
        boost::system::error_code not_ip;
        (void)asio::ip::make_address(st->host, not_ip);
        if (not_ip) (void)SSL_set_tlsext_host_name(t.native_handle(), st->host.c_str());  // SNI names hosts, not addresses
        t.set_verify_callback(asio::ssl::host_name_verification(st->host));
        t.async_handshake(asio::ssl::stream_base::client, [st](beast::error_code ec3) {
          if (ec3) return st->fail(ec3);
          send(st);
        });
      });
    });
  }
};

std::shared_ptr<relay_state> relay_state::shared() { return self.lock(); }

}  // namespace

void relay(const asio::any_io_executor& ex, std::string target_addr, bhttp::request<bhttp::string_body> req,
           size_t body_limit, uint32_t timeout_ms, std::shared_ptr<asio::ssl::context> tls,
           std::function<void(result<response>)> done) {
  auto st = std::make_shared<relay_state>(ex);
  st->self = st;
  st->tls_ctx = std::move(tls);
  st->target = std::move(target_addr);
  st->done = std::move(done);
  st->req = std::move(req);
  st->req.set(bhttp::field::host, st->target);
  st->req.keep_alive(true);
  st->req.prepare_payload();
  st->body_limit = body_limit;
  st->timeout_ms = timeout_ms;
  const auto colon = st->target.rfind(':');
  st->host = colon == std::string::npos ? st->target : st->target.substr(0, colon);
  st->port = colon == std::string::npos ? "80" : st->target.substr(colon + 1);
  if (st->host.size() >= 2 && st->host.front() == '[' && st->host.back() == ']')
    st->host = st->host.substr(1, st->host.size() - 2);
  if ((st->conn = st->pool().take(st->target, st->tls_ctx.get()))) {
    st->reused = true;
    return relay_state::send(st);
  }
  relay_state::connect(st);
}

}  // namespace sessionmesh::http
