// tls_files: where the HTTP front end's TLS material is (PEM files). No
// OpenSSL here: node/ names the files, http/tls.hpp reads them.
#pragma once

#include <string>

namespace sessionmesh::http {

struct tls_files {
  std::string cert;       // the certificate chain, leaf first (empty: no TLS)
  std::string key;        // its private key
  std::string client_ca;  // CAs a client certificate must chain to (empty: none asked)
  bool enabled() const { return !cert.empty(); }
  bool operator==(const tls_files&) const = default;
};

}  // namespace sessionmesh::http
