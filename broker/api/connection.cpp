#include "broker/api/connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

namespace sekisho::broker {

namespace {

// A request head longer than httplib's own limits (request line + headers) is not waited for.
constexpr std::size_t kMaxHead = CPPHTTPLIB_REQUEST_URI_MAX_LENGTH + CPPHTTPLIB_HEADER_MAX_LENGTH;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Waits at most `timeout` for `events` on `fd`; true when they came.
bool wait_for(int fd, short events, std::chrono::seconds timeout) {
  pollfd p{fd, events, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count() * 1000));
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

}  // namespace

void address_text(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

void ApiConnection::start_draining() {
  if (handshake_done) SSL_shutdown(ssl);  // non-blocking: one try at close_notify
  handshake_done = false;                 // no second close_notify from the destructor
  ::shutdown(fd, SHUT_WR);
  draining = true;
}

bool ApiConnection::drain() {
  char scratch[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, scratch, sizeof scratch, 0);
    if (n > 0) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }
}

ApiConnection::~ApiConnection() {
  if (ssl != nullptr) {
    if (handshake_done) SSL_shutdown(ssl);  // non-blocking: one try at close_notify
    SSL_free(ssl);
  }
  if (fd >= 0) ::close(fd);
}

BufferedRequest classify_buffered_request(const std::string& in, std::size_t max_body) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) {
    return in.size() > kMaxHead ? BufferedRequest::kLast : BufferedRequest::kIncomplete;
  }
  if (end > kMaxHead) return BufferedRequest::kLast;
  const std::string method = in.substr(0, in.find(' '));
  std::optional<std::size_t> length;
  std::size_t line = in.find("\r\n") + 2;
  while (line < end + 2) {
    const auto next = in.find("\r\n", line);
    const std::string header = in.substr(line, next - line);
    line = next + 2;
    const auto colon = header.find(':');
    if (colon == std::string::npos) continue;  // httplib refuses it with 400
    const std::string name = lower(trim(header.substr(0, colon)));
    const std::string value = trim(header.substr(colon + 1));
    // Only Content-Length bodies are read ahead; httplib answers the rest from the buffer.
    if (name == "transfer-encoding") return BufferedRequest::kLast;
    if (name != "content-length") continue;
    if (length || value.empty() || value.size() > 18 ||
        value.find_first_not_of("0123456789") != std::string::npos) {
      return BufferedRequest::kLast;
    }
    length = std::stoull(value);
  }
  if (!length) {
    // Without a length httplib reads a POST/PUT/PATCH/DELETE body up to the end of the stream:
    // give it this request's bytes only, then close.
    const bool has_body_method =
        method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
    return has_body_method ? BufferedRequest::kLast : BufferedRequest::kComplete;
  }
  if (*length > max_body) return BufferedRequest::kLast;  // httplib answers 413
  return in.size() - (end + 4) >= *length ? BufferedRequest::kComplete
                                          : BufferedRequest::kIncomplete;
}

bool BufferedTlsStream::is_writable() const { return wait_for(conn_.fd, POLLOUT, write_timeout_); }

ssize_t BufferedTlsStream::read(char* ptr, size_t size) {
  const std::size_t n = std::min(size, conn_.in.size() - pos_);
  std::memcpy(ptr, conn_.in.data() + pos_, n);
  pos_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t BufferedTlsStream::write(const char* ptr, size_t size) {
  if (size == 0) return 0;
  for (;;) {
    ERR_clear_error();
    const int n = SSL_write(conn_.ssl, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    if (n > 0) return n;
    const int err = SSL_get_error(conn_.ssl, n);
    short events = 0;
    if (err == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    if (err == SSL_ERROR_WANT_READ) events = POLLIN;
    if (events == 0 || !wait_for(conn_.fd, events, write_timeout_)) return -1;
  }
}

void BufferedTlsStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = conn_.peer_ip;
  port = conn_.peer_port;
}

void BufferedTlsStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  port = 0;
  ip.clear();
  if (::getsockname(conn_.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    address_text(addr, ip, port);
  }
}

bool ApiRequestProcessor::serve_one(BufferedTlsStream& stream, ApiConnection& conn) {
  const bool last = conn.last_request || conn.served + 1 >= keep_alive_max_count_;
  bool closed = false;
  const bool ok =
      process_request(stream, last, closed, [&conn](httplib::Request& req) { req.ssl = conn.ssl; });
  ++conn.served;
  return ok && !closed && !last;
}

}  // namespace sekisho::broker
