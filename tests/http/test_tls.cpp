// TLS in the server (the code tests/tls drives from outside), in-process so
// the sanitizer builds run it: a request and a watcher over TLS, a client
// that does not trust the CA refused, a bad file refused by set_tls_files
// with the running certificate kept, and a rotation. Certificates come from
// the openssl CLI.
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange

#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/http/fixture.hpp"

using namespace sessionmesh;
using namespace sessionmesh::testing;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A CA and a certificate for 127.0.0.1 it signed, in dir/NAME.pem and .key.
std::string make_pki(const std::string& ca_name) {
  char tmpl[] = "/tmp/sm-tls-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string cmd =
      "cd " + dir +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2"
      " -subj /CN=" + ca_name +
      " 2>/dev/null && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout node.key -out node.csr"
      " -subj /CN=node 2>/dev/null && printf 'subjectAltName=IP:127.0.0.1\\n' > ext"
      " && openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2"
      " -extfile ext 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return dir;
}

ssl::context client_ctx(const std::string& ca) {
  ssl::context c(ssl::context::tls_client);
  c.load_verify_file(ca);
  c.set_verify_mode(ssl::verify_peer);
  return c;
}

// One GET over TLS; the status, or -1 when the handshake failed.
int https_get(uint16_t port, const std::string& ca, const std::string& target, std::string* body = nullptr) {
  asio::io_context io;
  auto ctx = client_ctx(ca);
  beast::ssl_stream<beast::tcp_stream> s(io, ctx);
  beast::get_lowest_layer(s).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  beast::error_code ec;
  s.handshake(ssl::stream_base::client, ec);
  if (ec) return -1;
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, target, 11);
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(s, req);
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(s, buf, res);
  if (body) *body = res.body();
  return static_cast<int>(res.result_int());
}

}  // namespace

TEST_CASE("TLS: requests and the feed over TLS; bad files refused; rotation") {
  const std::string one = make_pki("ca-one"), two = make_pki("ca-two");
  node_fixture n({}, {}, [&](http::server_options& so) {
    so.tls = {one + "/node.pem", one + "/node.key", ""};
  });
  CHECK(https_get(n.port(), one + "/ca.pem", "/healthz") == 200);
  CHECK(https_get(n.port(), two + "/ca.pem", "/healthz") == -1);  // does not trust this CA

  // A watcher over TLS sees a write.
  {
    asio::io_context io;
    auto ctx = client_ctx(one + "/ca.pem");
    beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(io, ctx);
    beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), n.port()));
    ws.next_layer().handshake(ssl::stream_base::client);
    ws.handshake("127.0.0.1", "/v1/watch?prefix=tls-");
    REQUIRE(n.store->create(create_request{"tls-1"}).has_value());
    beast::flat_buffer b;
    ws.read(b);
    CHECK(beast::buffers_to_string(b.data()).find("\"id\":\"tls-1\"") != std::string::npos);
    ws.close(beast::websocket::close_code::normal);
  }

  // A file that does not load: refused, the running certificate stays.
  {
    std::ofstream(two + "/bad.pem") << "not a certificate\n";
    auto r = n.srv->set_tls_files({two + "/bad.pem", two + "/node.key", ""});
    CHECK_FALSE(r.has_value());
    CHECK(r.describe().find("tls-cert") != std::string::npos);
    CHECK(https_get(n.port(), one + "/ca.pem", "/healthz") == 200);
    CHECK_FALSE(n.srv->set_tls_files({}).has_value());  // TLS off needs a restart
  }

  // Rotation: new connections take the new certificate.
  REQUIRE(n.srv->set_tls_files({two + "/node.pem", two + "/node.key", ""}).has_value());
  CHECK(https_get(n.port(), two + "/ca.pem", "/healthz") == 200);
  CHECK(https_get(n.port(), one + "/ca.pem", "/healthz") == -1);
  std::string body;
  CHECK(https_get(n.port(), two + "/ca.pem", "/v1/sessions/tls-1", &body) == 200);
  CHECK(body.find("\"id\":\"tls-1\"") != std::string::npos);
  std::system(("rm -rf " + one + " " + two).c_str());
}
