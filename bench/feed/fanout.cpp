// bench/feed/fanout: change-feed fan-out. W watchers on one node each
// should get every event of a paced writer; prints, as one JSON line, the
// events expected and received, the watchers cut (4008 lagging) or failed,
// and the delay from a PUT's send to each watcher's receipt of its event
// (p50, p99, max over every (watcher, event)).
//
//   fanout HOST PORT WATCHERS RATE SECONDS [THREADS] [WRITE_PORT]
//
// WRITE_PORT: write to another node (on HOST) than the watchers watch, for
// replication delay: write on a, watch b.
// The writer sets variable t of one of 100 sessions (fan000..fan099) to the
// send time in microseconds on this process's steady clock, pipelined on one
// keep-alive connection and paced to RATE a second; the watchers (prefix
// "fan", snapshot=true, counted in once each has its `synced`) run on
// THREADS io threads (default 1). Delays go to a histogram of 50 µs buckets.
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ws = beast::websocket;
using tcp = asio::ip::tcp;
using clk = std::chrono::steady_clock;

namespace {

const clk::time_point t0 = clk::now();
uint64_t now_us() { return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(clk::now() - t0).count()); }

constexpr uint64_t bucket_us = 50;
constexpr size_t buckets = 200000;  // 10 s

struct histogram {
  std::vector<uint64_t> n = std::vector<uint64_t>(buckets + 1, 0);
  uint64_t count = 0, max_us = 0;
  void add(uint64_t us) {
    ++n[std::min<uint64_t>(us / bucket_us, buckets)];
    ++count;
    max_us = std::max(max_us, us);
  }
  void merge(const histogram& o) {
    for (size_t i = 0; i < n.size(); ++i) n[i] += o.n[i];
    count += o.count;
    max_us = std::max(max_us, o.max_us);
  }
  double quantile_ms(double q) const {
    const uint64_t want = static_cast<uint64_t>(q * static_cast<double>(count));
    uint64_t seen = 0;
    for (size_t i = 0; i < n.size(); ++i) {
      seen += n[i];
      if (seen > want) return static_cast<double>((i + 1) * bucket_us) / 1000.0;
    }
    return static_cast<double>(max_us) / 1000.0;
  }
};

struct thread_state {
  asio::io_context io;
  histogram h;
  uint64_t events = 0, synced = 0, cut = 0, failed = 0;
  std::string first_error;
};

class watcher : public std::enable_shared_from_this<watcher> {
 public:
  explicit watcher(thread_state& ts) : ts_(ts), ws_(ts.io) {}

  void start(const tcp::endpoint& ep, const std::string& host) {
    ws_.read_message_max(16u << 20);
    beast::get_lowest_layer(ws_).async_connect(ep, [self = shared_from_this(), host](beast::error_code ec) {
      if (ec) return self->fail("connect: " + ec.message());
      self->ws_.async_handshake(host, "/v1/watch?snapshot=true&prefix=fan", [self](beast::error_code ec2) {
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

 private:
  void fail(std::string why) {
    if (stopping_) return;
    if (ws_.reason().code == 4008) {
      ++ts_.cut;
    } else {
      ++ts_.failed;
      if (ts_.first_error.empty()) ts_.first_error = std::move(why);
    }
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
    if (!synced_) {
      if (m.find("\"type\":\"synced\"") != std::string::npos) synced_ = true, ++ts_.synced;
      return;
    }
    const size_t at = m.find("\"t\":");
    if (at == std::string::npos) return;
    const uint64_t sent = std::strtoull(m.c_str() + at + 4, nullptr, 10);
    const uint64_t now = now_us();
    ++ts_.events;
    ts_.h.add(now > sent ? now - sent : 0);
  }

  thread_state& ts_;
  ws::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  bool synced_ = false, stopping_ = false;
};

// Blocking HTTP/1.1 on one connection: requests written by one thread,
// answers counted by another (status line only; bodies skipped by length).
class writer {
 public:
  explicit writer(const tcp::endpoint& ep) : sock_(io_) { sock_.connect(ep); }

  void send(const std::string& req) { asio::write(sock_, asio::buffer(req)); }

  // Reads n answers; returns how many were not 2xx.
  uint64_t read_answers(uint64_t n) {
    uint64_t bad = 0;
    std::string buf;
    char chunk[65536];
    for (uint64_t got = 0; got < n;) {
      size_t head = buf.find("\r\n\r\n");
      if (head != std::string::npos) {
        const size_t cl = buf.find("Content-Length: ");
        const size_t len = cl != std::string::npos && cl < head ? std::strtoul(buf.c_str() + cl + 16, nullptr, 10) : 0;
        if (buf.size() >= head + 4 + len) {
          if (buf.compare(9, 1, "2") != 0) ++bad;
          buf.erase(0, head + 4 + len);
          ++got;
          continue;
        }
      }
      beast::error_code ec;
      const size_t k = sock_.read_some(asio::buffer(chunk), ec);
      if (ec) return bad + (n - got);
      buf.append(chunk, k);
    }
    return bad;
  }

 private:
  asio::io_context io_;
  tcp::socket sock_;
};

std::string request(const char* method, const std::string& path, const std::string& body) {
  return std::string(method) + " " + path + " HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: fanout HOST PORT WATCHERS RATE SECONDS [THREADS]\n");
    return 2;
  }
  const std::string host = argv[1];
  const auto port = static_cast<unsigned short>(std::atoi(argv[2]));
  const size_t watchers = std::strtoul(argv[3], nullptr, 10);
  const uint64_t rate = std::strtoull(argv[4], nullptr, 10), seconds = std::strtoull(argv[5], nullptr, 10);
  const size_t threads = argc > 6 ? std::max<size_t>(1, std::strtoul(argv[6], nullptr, 10)) : 1;
  const tcp::endpoint ep(asio::ip::make_address(host), port);
  const tcp::endpoint write_ep(ep.address(), argc > 7 ? static_cast<unsigned short>(std::atoi(argv[7])) : port);

  // 100 sessions to write to, created before anyone watches.
  {
    writer w(write_ep);
    for (int i = 0; i < 100; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "fan%03d", i);
      w.send(request("POST", "/v1/sessions", std::string("{\"id\":\"") + id + "\",\"variables\":{\"t\":0}}"));
    }
    if (const auto bad = w.read_answers(100)) {
      std::fprintf(stderr, "fanout: %llu of 100 session creates failed\n", static_cast<unsigned long long>(bad));
      return 1;
    }
  }

  std::vector<std::unique_ptr<thread_state>> ts;
  for (size_t i = 0; i < threads; ++i) ts.push_back(std::make_unique<thread_state>());
  std::vector<std::shared_ptr<watcher>> ws;
  for (size_t i = 0; i < watchers; ++i) {
    ws.push_back(std::make_shared<watcher>(*ts[i % threads]));
    ws.back()->start(ep, host);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> io_threads;
  for (auto& t : ts)
    io_threads.emplace_back([&stop, st = t.get()] {
      auto guard = asio::make_work_guard(st->io);
      while (!stop) st->io.run_for(std::chrono::milliseconds(50));
    });
  // Every watcher synced (its snapshot read: with WRITE_PORT, the sessions
  // may still be on their way; events for them still count), at most 60 s.
  const auto ready_by = clk::now() + std::chrono::seconds(60);
  auto synced = [&] {
    uint64_t n = 0;
    for (auto& t : ts) n += asio::post(t->io, asio::use_future([st = t.get()] { return st->synced; })).get();
    return n;
  };
  while (synced() < watchers && clk::now() < ready_by) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const uint64_t ready = synced();

  writer w(write_ep);
  const uint64_t total = rate * seconds;
  std::atomic<uint64_t> bad{0};
  std::thread answers([&] { bad = w.read_answers(total); });
  const auto start = clk::now();
  for (uint64_t i = 0; i < total; ++i) {
    const auto due = start + std::chrono::microseconds(i * 1000000 / rate);
    std::this_thread::sleep_until(due);
    char path[48];
    std::snprintf(path, sizeof path, "/v1/sessions/fan%03llu/variables/t", static_cast<unsigned long long>(i % 100));
    w.send(request("PUT", path, std::to_string(now_us())));
  }
  const double sent_for = std::chrono::duration<double>(clk::now() - start).count();
  answers.join();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the last events on their way
  stop = true;
  for (auto& t : io_threads) t.join();
  histogram all;
  uint64_t events = 0, cut = 0, failed = 0;
  std::string first_error;
  for (auto& t : ts) {
    all.merge(t->h);
    events += t->events;
    cut += t->cut;
    failed += t->failed;
    if (first_error.empty()) first_error = t->first_error;
  }
  const uint64_t expected = total * ready;
  std::printf(
      "{\"watchers\":%zu,\"ready\":%llu,\"rate\":%.0f,\"writes\":%llu,\"write_errors\":%llu,\"events_expected\":%llu,"
      "\"events_received\":%llu,\"received_share\":%.4f,\"cut_lagging\":%llu,\"failed\":%llu,\"p50_ms\":%.2f,"
      "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"first_error\":\"%s\"}\n",
      watchers, static_cast<unsigned long long>(ready), static_cast<double>(total) / sent_for,
      static_cast<unsigned long long>(total), static_cast<unsigned long long>(bad.load()),
      static_cast<unsigned long long>(expected), static_cast<unsigned long long>(events),
      expected ? static_cast<double>(events) / static_cast<double>(expected) : 0.0,
      static_cast<unsigned long long>(cut), static_cast<unsigned long long>(failed), all.quantile_ms(0.5),
      all.quantile_ms(0.99), static_cast<double>(all.max_us) / 1000.0, first_error.c_str());
  for (auto& x : ws) x->stop();
  return 0;
}
