#include "broker/api/listener.hpp"

#include <netdb.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/logging.hpp"

namespace sekisho::broker {

namespace {

// Plaintext one connection may have buffered: a whole head, a body at the limit and a little of
// a pipelined next request.
std::size_t buffer_limit(const ApiListenerLimits& limits) {
  return limits.max_body_bytes +
         2 * (CPPHTTPLIB_REQUEST_URI_MAX_LENGTH + CPPHTTPLIB_HEADER_MAX_LENGTH);
}

// How long an answered connection's further bytes are read and dropped before it is closed.
constexpr std::chrono::seconds kDrainTime{2};

}  // namespace

ApiListener::ApiListener(SSL_CTX* ctx, ApiRequestProcessor& processor, ApiListenerLimits limits)
    : ctx_(ctx), processor_(processor), limits_(limits) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

ApiListener::~ApiListener() {
  conns_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Result<int> ApiListener::bind(const ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return fail(ErrorCode::kIo, "cannot listen on " + address.text() + " (unknown address)");
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  const bool bound = fd >= 0 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                     ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, 128) == 0;
  ::freeaddrinfo(found);
  if (!bound) {
    if (fd >= 0) ::close(fd);
    return fail(ErrorCode::kIo, "cannot listen on " + address.text() +
                                    " (address in use, or not an address of this machine)");
  }
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  std::string ip;
  int bound_port = 0;
  address_text(local, ip, bound_port);
  listen_fd_ = fd;
  return bound_port;
}

void ApiListener::stop() {
  stop_requested_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

bool ApiListener::run() {
  if (listen_fd_ < 0 || epoll_fd_ < 0 || wake_fd_ < 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  for (std::size_t i = 0; i < limits_.threads; ++i)
    threads_.emplace_back([this] { serve_forever(); });

  bool clean = true;
  epoll_event events[64];
  while (!stop_requested_) {
    // A short wait so that deadlines are checked at least four times a second.
    const int n = ::epoll_wait(epoll_fd_, events, 64, 250);
    if (n < 0 && errno != EINTR) {
      module_logger("api")->error("epoll_wait: {}", std::strerror(errno));
      clean = false;
      break;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        accept_all();
      } else if (fd == wake_fd_) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
      } else if (auto it = conns_.find(fd); it != conns_.end()) {
        progress(*it->second);
      }
    }
    take_back_served();
    close_expired();
  }
  {
    std::lock_guard lock(mu_);
    pool_stopping_ = true;
  }
  ready_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  conns_.clear();
  per_source_.clear();
  return clean;
}

void ApiListener::log_refusal(const std::string& message) {
  // At most one line a second: a flood of refused connections must not flood the log.
  const auto now = Clock::now();
  if (now - last_refusal_log_ < std::chrono::seconds(1)) {
    ++refusals_not_logged_;
    return;
  }
  auto log = module_logger("api");
  if (refusals_not_logged_ > 0) {
    log->warn("{} (and {} more refused connections in the last second)", message,
              refusals_not_logged_);
  } else {
    log->warn("{}", message);
  }
  last_refusal_log_ = now;
  refusals_not_logged_ = 0;
}

void ApiListener::accept_all() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of descriptors: the next readiness tries again
    std::string ip;
    int port = 0;
    address_text(peer, ip, port);
    std::size_t& from_source = per_source_[ip];
    if (from_source >= limits_.max_connections_per_source) {
      ::close(fd);
      log_refusal(ip + " has " + std::to_string(from_source) +
                  " connections (max_connections_per_source): closing a new one");
      continue;
    }
    if (conns_.size() >= limits_.max_connections) {
      ::close(fd);
      if (from_source == 0) per_source_.erase(ip);
      log_refusal(std::to_string(conns_.size()) + " API connections are open: closing one from " +
                  ip);
      continue;
    }
    SSL* ssl = SSL_new(ctx_);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      if (ssl != nullptr) SSL_free(ssl);
      ::close(fd);
      if (from_source == 0) per_source_.erase(ip);
      continue;
    }
    ++from_source;
    auto conn = std::make_unique<ApiConnection>(fd, ssl, ip, port);
    conn->deadline = Clock::now() + limits_.handshake_timeout;
    ApiConnection& ref = *conn;
    conns_.emplace(fd, std::move(conn));
    watch(ref, true);
  }
}

void ApiListener::close_connection(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  auto source = per_source_.find(it->second->peer_ip);
  if (source != per_source_.end() && --source->second == 0) per_source_.erase(source);
  conns_.erase(it);
}

void ApiListener::watch(ApiConnection& conn, bool add) {
  epoll_event ev{};
  ev.events = conn.want_write ? EPOLLOUT : EPOLLIN;
  ev.data.fd = conn.fd;
  ::epoll_ctl(epoll_fd_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, conn.fd, &ev);
}

bool ApiListener::handshake(ApiConnection& conn) {
  ERR_clear_error();
  const int rc = SSL_accept(conn.ssl);
  if (rc == 1) {
    conn.handshake_done = true;
    conn.want_write = false;
    // The first request byte is due within the same short time as the handshake was.
    conn.deadline = Clock::now() + limits_.handshake_timeout;
    return true;
  }
  const int err = SSL_get_error(conn.ssl, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    conn.want_write = err == SSL_ERROR_WANT_WRITE;
    watch(conn, false);
    return false;
  }
  module_logger("api")->debug("TLS handshake with {} failed", conn.peer_ip);
  close_connection(conn.fd);
  return false;
}

bool ApiListener::read_available(ApiConnection& conn) {
  char buf[16384];
  const std::size_t limit = buffer_limit(limits_);
  while (conn.in.size() < limit) {
    ERR_clear_error();
    const int n = SSL_read(conn.ssl, buf, sizeof buf);
    if (n > 0) {
      // A new request began: it has request_timeout to arrive whole.
      if (conn.in.empty()) conn.deadline = Clock::now() + limits_.request_timeout;
      conn.in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    const int err = SSL_get_error(conn.ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      conn.want_write = err == SSL_ERROR_WANT_WRITE;
      return true;
    }
    close_connection(conn.fd);  // closed by the peer, or a TLS error
    return false;
  }
  conn.want_write = false;
  return true;
}

void ApiListener::progress(ApiConnection& conn) {
  if (conn.in_pool) return;
  if (conn.draining) {
    if (!conn.drain()) close_connection(conn.fd);
    return;
  }
  if (!conn.handshake_done && !handshake(conn)) return;
  if (!read_available(conn)) return;
  dispatch_or_wait(conn);
}

void ApiListener::dispatch_or_wait(ApiConnection& conn) {
  switch (classify_buffered_request(conn.in, limits_.max_body_bytes)) {
    case BufferedRequest::kIncomplete:
      if (conn.in.size() >= buffer_limit(limits_)) {
        close_connection(conn.fd);  // cannot happen with httplib's limits; never wait forever
        return;
      }
      watch(conn, false);
      return;
    case BufferedRequest::kLast:
      conn.last_request = true;
      break;
    case BufferedRequest::kComplete:
      break;
  }
  // The loop does not watch it while a serving thread has it.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
  conn.in_pool = true;
  {
    std::lock_guard lock(mu_);
    ready_.push_back(&conn);
  }
  ready_cv_.notify_one();
}

void ApiListener::take_back_served() {
  std::vector<ApiConnection*> back;
  {
    std::lock_guard lock(mu_);
    back.swap(served_);
  }
  for (ApiConnection* conn : back) {
    conn->in_pool = false;
    if (conn->close_after) {
      conn->start_draining();
      conn->want_write = false;
      conn->deadline = Clock::now() + kDrainTime;
      watch(*conn, true);
      continue;
    }
    conn->deadline =
        Clock::now() + (conn->in.empty() ? limits_.keep_alive_timeout : limits_.request_timeout);
    watch(*conn, true);
    // A pipelined request may already be whole in the buffer.
    if (!conn->in.empty()) dispatch_or_wait(*conn);
  }
}

void ApiListener::close_expired() {
  const auto now = Clock::now();
  std::vector<int> expired;
  for (const auto& [fd, conn] : conns_) {
    // A connection a serving thread has is not the loop's to close.
    if (!conn->in_pool && conn->deadline <= now) expired.push_back(fd);
  }
  for (int fd : expired) close_connection(fd);
}

void ApiListener::serve_forever() {
  for (;;) {
    ApiConnection* conn = nullptr;
    {
      std::unique_lock lock(mu_);
      ready_cv_.wait(lock, [this] { return pool_stopping_ || !ready_.empty(); });
      if (pool_stopping_) return;
      conn = ready_.front();
      ready_.pop_front();
    }
    BufferedTlsStream stream(*conn, limits_.write_timeout);
    conn->close_after = !processor_.serve_one(stream, *conn);
    conn->in.erase(0, stream.consumed());
    {
      std::lock_guard lock(mu_);
      served_.push_back(conn);
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
}

}  // namespace sekisho::broker
