// A small blocking HTTP/1.1 client over a real TCP socket, for tests: it
// sends exactly the bytes it is given (so malformed requests are possible)
// and parses one response (Content-Length bodies).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

namespace sessionmesh::testing {

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool ok = false;  // a whole response was read
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? std::string() : it->second;
  }
};

class http_client {
 public:
  explicit http_client(uint16_t port) : port_(port) {}
  ~http_client() { disconnect(); }

  bool connect() {
    disconnect();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  bool send_raw(const std::string& bytes) {
    if (fd_ < 0 && !connect()) return false;
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  http_reply read_reply(bool head = false) {
    http_reply r;
    size_t hdr_end;
    while ((hdr_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return r;
    std::string head_txt = buf_.substr(0, hdr_end);
    buf_.erase(0, hdr_end + 4);
    r.status = std::atoi(head_txt.substr(9, 3).c_str());
    size_t pos = head_txt.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head_txt.find("\r\n", pos + 2);
      std::string line = head_txt.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string k = line.substr(0, colon);
        for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        r.headers[k] = v;
      }
      pos = next;
    }
    size_t len = head || r.status == 204 ? 0 : std::strtoull(r.header("content-length").c_str(), nullptr, 10);
    while (buf_.size() < len)
      if (!fill()) return r;
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    r.ok = true;
    return r;
  }
  http_reply request(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {{"Content-Type", "application/json"}}) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: test\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    if (fd_ < 0) connect();
    (void)send_raw(req);  // a server may answer (413) before reading all of it
    return read_reply(method == "HEAD");
  }

 private:
  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  uint16_t port_;
  int fd_ = -1;
  std::string buf_;
};

}  // namespace sessionmesh::testing
