#include "http/tls.hpp"

#include <boost/asio/ssl.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sessionmesh::http {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's reason for ec when it has one ("no start line", "key values
// mismatch"), else the error's message.
std::string reason(const boost::system::error_code& ec) {
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) return r;
  }
  return ec.message();
}

// A file that cannot be opened is named with the OS's reason.
result<void> readable(const char* flag, const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0)
    return {errc::invalid_argument, std::string(flag) + " " + path + ": " + std::strerror(errno)};
  return {};
}

result<void> load(ssl::context& ctx, const tls_files& f) {
  if (auto r = readable("tls-cert", f.cert); !r) return r;
  if (auto r = readable("tls-key", f.key); !r) return r;
  if (!f.client_ca.empty())
    if (auto r = readable("tls-client-ca", f.client_ca); !r) return r;
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(f.cert, ec);
  if (ec) return {errc::invalid_argument, "tls-cert " + f.cert + ": " + reason(ec)};
  ctx.use_private_key_file(f.key, ssl::context::pem, ec);
  if (ec) return {errc::invalid_argument, "tls-key " + f.key + ": " + reason(ec)};
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    return {errc::invalid_argument, "tls-key " + f.key + " does not match tls-cert " + f.cert};
  return {};
}

}  // namespace

result<std::shared_ptr<ssl::context>> make_server_tls(const tls_files& f) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  if (auto r = load(*ctx, f); !r) return failed<std::shared_ptr<ssl::context>>(r);
  if (!f.client_ca.empty()) {
    boost::system::error_code ec;
    ctx->load_verify_file(f.client_ca, ec);
    if (ec) return {errc::invalid_argument, "tls-client-ca " + f.client_ca + ": " + reason(ec)};
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

result<std::shared_ptr<ssl::context>> make_client_tls(const tls_files& f) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (auto r = load(*ctx, f); !r) return failed<std::shared_ptr<ssl::context>>(r);
  boost::system::error_code ec;
  if (!f.client_ca.empty()) ctx->load_verify_file(f.client_ca, ec);
  else ctx->set_default_verify_paths(ec);
  if (ec) return {errc::invalid_argument, "tls-client-ca " + f.client_ca + ": " + reason(ec)};
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

result<tls_contexts> make_tls_contexts(const tls_files& f) {
  auto srv = make_server_tls(f);
  if (!srv) return failed<tls_contexts>(srv);
  auto cli = make_client_tls(f);
  if (!cli) return failed<tls_contexts>(cli);
  return tls_contexts{std::move(*srv), std::move(*cli)};
}

}  // namespace sessionmesh::http
