// tls: the OpenSSL contexts of the HTTP front end (Boost.Asio ssl), made
// from PEM files. A server context serves --tls-cert/--tls-key (TLS 1.2 or
// later) and, with --tls-client-ca, asks every client for a certificate
// signed by that CA (mutual TLS). A client context (the relay of
// conditional writes to a session's owner) verifies the owner against
// --tls-client-ca when set, else the system's roots, and presents this
// node's certificate. A context is never changed once made: a reload
// makes new ones; connections keep the one they started with.
// Included only by http/ translation units that already use Asio.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <utility>
#include <string>

#include "http/tls_files.hpp"
#include "sessionmesh/result.hpp"

namespace sessionmesh::http {

// Errors: invalid_argument with the file and OpenSSL's reason.
result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls(const tls_files& f);
result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(const tls_files& f);
// Both, or the first error: what the server swaps in at start and reload.
using tls_contexts = std::pair<std::shared_ptr<boost::asio::ssl::context>, std::shared_ptr<boost::asio::ssl::context>>;
result<tls_contexts> make_tls_contexts(const tls_files& f);

}  // namespace sessionmesh::http
