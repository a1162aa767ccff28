// feed_readers: opens W watchers with snapshot=true on one node and reads
// them all at once (one thread, asynchronous), checking that each gets
// every session of the snapshot exactly once and then exactly one `synced`.
// Python reads about 100k messages a second; 200 snapshots of 100k
// sessions need a reader in C++.
//
//   feed_readers HOST PORT PREFIX WATCHERS SESSIONS
//
// Session ids must be PREFIX followed by a decimal index below SESSIONS
// (bench/http/load.py writes sess-000000 ...). After every watcher's
// `synced` it keeps reading for 300 ms (a second `synced` would show), then
// prints one JSON line and exits 0 only if every watcher was complete.
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ws = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

struct tally {
  size_t puts = 0, dups = 0, unknown = 0, other = 0, synced = 0, after_synced = 0;
  bool synced_early = false;  // synced before the last session
  bool failed = false;
  std::string error;
};

std::string_view field(std::string_view msg, std::string_view key) {
  const std::string pat = "\"" + std::string(key) + "\":\"";
  const size_t at = msg.find(pat);
  if (at == std::string_view::npos) return {};
  const size_t start = at + pat.size();
  const size_t end = msg.find('"', start);
  return end == std::string_view::npos ? std::string_view{} : msg.substr(start, end - start);
}

class watcher : public std::enable_shared_from_this<watcher> {
 public:
  watcher(asio::io_context& io, std::string prefix, size_t sessions, size_t& open)
      : ws_(io), prefix_(std::move(prefix)), seen_(sessions, 0), open_(open) {}

  void start(const tcp::endpoint& ep, const std::string& host) {
    ws_.read_message_max(16u << 20);
    beast::get_lowest_layer(ws_).async_connect(ep, [self = shared_from_this(), host](beast::error_code ec) {
      if (ec) return self->fail("connect: " + ec.message());
      self->ws_.async_handshake(host, "/v1/watch?snapshot=true&prefix=" + self->prefix_,
                                [self](beast::error_code ec2) {
                                  if (ec2) return self->fail("handshake: " + ec2.message());
                                  self->read();
                                });
    });
  }

  void stop() {
    stopping_ = true;
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  const tally& result() const { return t_; }

 private:
  void fail(std::string why) {
    if (!stopping_) {
      t_.failed = true;
      t_.error = std::move(why);
    }
    finish();
  }

  void finish() {  // counted once, whether by synced or by an error
    if (!done_) --open_;
    done_ = true;
  }

  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail("read: " + ec.message());
      self->on_message(beast::buffers_to_string(self->buf_.data()));
      self->buf_.consume(self->buf_.size());
      self->read();
    });
  }

  void on_message(const std::string& m) {
    const auto type = field(m, "type");
    if (t_.synced > 0) ++t_.after_synced;
    if (type == "synced") {
      if (t_.puts != seen_.size()) t_.synced_early = true;
      ++t_.synced;
      finish();
      return;
    }
    if (type != "put") {
      ++t_.other;
      return;
    }
    const auto id = field(m, "id");
    size_t idx = seen_.size();
    if (id.substr(0, prefix_.size()) == prefix_) {
      const auto digits = id.substr(prefix_.size());
      char* end = nullptr;
      const std::string d(digits);
      const unsigned long v = std::strtoul(d.c_str(), &end, 10);
      if (!d.empty() && end == d.c_str() + d.size()) idx = v;
    }
    if (idx >= seen_.size()) {
      ++t_.unknown;
      return;
    }
    if (seen_[idx]) {
      ++t_.dups;
      return;
    }
    seen_[idx] = 1;
    ++t_.puts;
  }

  ws::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  std::string prefix_;
  std::vector<unsigned char> seen_;
  size_t& open_;
  tally t_;
  bool stopping_ = false, done_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: feed_readers HOST PORT PREFIX WATCHERS SESSIONS\n");
    return 2;
  }
  const std::string host = argv[1], prefix = argv[3];
  const auto port = static_cast<unsigned short>(std::atoi(argv[2]));
  const size_t watchers = std::strtoul(argv[4], nullptr, 10), sessions = std::strtoul(argv[5], nullptr, 10);
  asio::io_context io;
  const tcp::endpoint ep(asio::ip::make_address(host), port);
  size_t open = watchers;
  std::vector<std::shared_ptr<watcher>> ws;
  for (size_t i = 0; i < watchers; ++i) {
    ws.push_back(std::make_shared<watcher>(io, prefix, sessions, open));
    ws.back()->start(ep, host);
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Until every watcher is synced (or failed), at most 420 s (the test measured about 155 s).
  while (open > 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(420))
    io.run_for(std::chrono::milliseconds(100));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  io.run_for(std::chrono::milliseconds(300));  // a second synced, if any, shows here
  for (auto& w : ws) w->stop();
  io.run_for(std::chrono::milliseconds(100));

  size_t complete = 0, dups = 0, missing = 0, unknown = 0, extra = 0, early = 0, failed = 0;
  std::string first_error;
  for (const auto& w : ws) {
    const auto& t = w->result();
    const bool ok = !t.failed && t.synced == 1 && !t.synced_early && t.puts == sessions && t.dups == 0 &&
                    t.unknown == 0 && t.after_synced == 0;
    complete += ok;
    dups += t.dups;
    missing += sessions - t.puts;
    unknown += t.unknown;
    extra += t.after_synced;
    early += t.synced_early;
    failed += t.failed;
    if (t.failed && first_error.empty()) first_error = t.error;
  }
  std::printf(
      "{\"watchers\":%zu,\"complete\":%zu,\"seconds\":%.1f,\"duplicates\":%zu,\"missing\":%zu,\"unknown\":%zu,"
      "\"after_synced\":%zu,\"synced_early\":%zu,\"failed\":%zu,\"first_error\":\"%s\"}\n",
      watchers, complete, secs, dups, missing, unknown, extra, early, failed, first_error.c_str());
  return complete == watchers ? 0 : 1;
}
